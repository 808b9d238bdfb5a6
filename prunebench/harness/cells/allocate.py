"""A global target's widths at one pruning step: the criterion's scores, checked, allocated
across layers for the step's share of the MACs reduction (`prunebench.harness.allocation`).
Step s of S aims at MACs / F^(s/S), so the iterative schedule reaches the target at its last
step."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import replace

from prunebench.criterion import (
    Criterion,
    NotApplicable,
    PruneContext,
    ScoreCriterion,
    check_scores,
)
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.harness import allocation
from prunebench.harness.cells.checks import guard
from prunebench.runtime import distributed


def _scores(name: str, criterion: ScoreCriterion, ctx: PruneContext) -> list:
    scores = []
    for g in ctx.groups:
        answer = guard(name, f"score() on {g.name}", criterion.score, g)
        try:
            scores.append(check_scores(answer, g))
        except ValueError as exc:
            raise CriterionError(name, str(exc)) from None
    return scores


def _own(name: str, criterion: Criterion, ctx: PruneContext, macs_of: allocation.MacsOf,
         target: int, floor: Sequence[int]) -> allocation.Allocation | None:
    """The criterion's own widths (`Criterion.allocate`), checked: one integer per group,
    between its floor and its width now, the MACs at most 1% over the target; then settled
    within 1% of it, as the harness's are."""
    answer = guard(name, "allocate()", criterion.allocate, ctx, macs_of, target, tuple(floor))
    if answer is None:
        return None
    try:
        widths = tuple(operator.index(w) for w in answer)
    except TypeError:
        widths = ()
    if len(widths) != len(ctx.groups):
        raise CriterionError(name, f"allocate() must return one integer width per layer "
                                   f"({len(ctx.groups)}), got {answer!r}")
    outside = [g.name for g, w, f in zip(ctx.groups, widths, floor) if not f <= w <= g.n_filters]
    if outside:
        raise CriterionError(name, f"allocate() gave {', '.join(outside[:3])} widths outside "
                                   "their floor and their width now")
    macs = macs_of(widths)
    if macs > target * (1 + allocation.OVER_BUDGET):
        raise CriterionError(name, f"allocate() chose {macs:,} MACs, more than "
                                   f"{allocation.OVER_BUDGET:.0%} over the target {target:,}")
    return allocation.settle(widths, macs_of, target, floor,
                             [g.n_filters for g in ctx.groups], own=True)


WITHOUT_SCORES = ("it chooses filters without scores, so it cannot be compared across layers, "
                  "and has no allocation of its own: not applicable to global allocation")


def check_allocatable(criterion: Criterion) -> None:
    """Before any work on a global target: NotApplicable for a criterion with neither scores nor
    an allocation of its own (its `prepare` would be spent for nothing)."""
    if not isinstance(criterion, ScoreCriterion) and \
            type(criterion).allocate is Criterion.allocate:
        raise NotApplicable(WITHOUT_SCORES)


def step_allocation(name: str, criterion: Criterion, ctx: PruneContext,
                    macs_of: allocation.MacsOf, full_macs: int, reduction: float,
                    floor: Sequence[int], step: int, steps: int) -> allocation.Allocation:
    """The widths this step prunes to: the criterion's own (`allocate`, or one threshold on
    scores comparable across layers), else its scores through the shared normalisation; a
    criterion with neither is not applicable. Under torchrun rank 0 allocates for every rank."""
    target = round(full_macs / reduction ** (step / steps))

    def decide() -> allocation.Allocation:
        own = _own(name, criterion, ctx, macs_of, target, floor)
        if own is not None:
            return own
        if not isinstance(criterion, ScoreCriterion):
            raise NotApplicable(WITHOUT_SCORES)
        raw = criterion.scores_comparable_across_layers
        chosen = allocation.allocate(_scores(name, criterion, ctx), macs_of, target, floor,
                                     by_mean=not raw)
        return replace(chosen, own=raw)

    try:
        return distributed.from_main(decide)
    except CriterionError:
        raise
    except PrunebenchError as exc:  # this cell's, not the run's
        raise CriterionError(name, f"global allocation: {exc}") from None
