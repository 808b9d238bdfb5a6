"""A global target's widths at one pruning step: the criterion's scores, checked, allocated
across layers for the step's share of the MACs reduction (`prunebench.allocation`). Step s of S
aims at MACs / F^(s/S), so the iterative schedule reaches the target at its last step."""

from __future__ import annotations

from collections.abc import Sequence

from prunebench import allocation, distributed
from prunebench.cells.checks import guard
from prunebench.criterion import (
    Criterion,
    NotApplicable,
    PruneContext,
    ScoreCriterion,
    check_scores,
)
from prunebench.errors import CriterionError, PrunebenchError


def _scores(name: str, criterion: ScoreCriterion, ctx: PruneContext) -> list:
    scores = []
    for g in ctx.groups:
        answer = guard(name, f"score() on {g.name}", criterion.score, g)
        try:
            scores.append(check_scores(answer, g))
        except ValueError as exc:
            raise CriterionError(name, str(exc)) from None
    return scores


def step_allocation(name: str, criterion: Criterion, ctx: PruneContext,
                    macs_of: allocation.MacsOf, full_macs: int, reduction: float,
                    floor: Sequence[int], step: int, steps: int) -> allocation.Allocation:
    """The widths this step prunes to; a criterion that only selects (no scores to compare
    across layers) is not applicable. Under torchrun rank 0 allocates for every rank."""
    if not isinstance(criterion, ScoreCriterion):
        raise NotApplicable("it chooses filters without scores, so it cannot be compared across "
                            "layers: not applicable to global allocation")
    target = round(full_macs / reduction ** (step / steps))
    try:
        return distributed.from_main(lambda: allocation.allocate(
            _scores(name, criterion, ctx), macs_of, target, floor))
    except PrunebenchError as exc:  # this cell's, not the run's
        raise CriterionError(name, f"global allocation: {exc}") from None
