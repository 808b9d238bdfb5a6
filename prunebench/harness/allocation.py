"""Global allocation, the second track's core (issue 17): a criterion's per-filter scores decide
how many filters each layer keeps, for a MACs budget.

Scores are made comparable across layers by one normalisation shared by every criterion, the
layer's mean score (Torch-Pruning's default normaliser). Filters are removed in one global order,
lowest normalised score first (ties: earlier layer, then lower index), skipping a layer once it is
down to its floor; a bisection over how many are removed finds the fewest removals whose pruned
architecture's MACs, counted by `torch.utils.flop_counter` on the real surgery's result, meet the
target (or one fewer, when closer and at most 1% over). On VGG-16 and ResNet-50 that lands
within 1%. On a net as small as LeNet-5 one filter is several % of the MACs, so the threshold's
widths are then *settled*: the fewest filters moved from them (added back or removed, in any
layers, each layer kept by its own scores) that land within 1% of the target, at most
`SETTLE_MOST` of the filters, so the criterion's allocation stays its own; the number moved is
recorded, and where no such move is found the gap is.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor, nn

from prunebench.errors import PrunebenchError
from prunebench.measure.flops import count_macs
from prunebench.models import surgery
from prunebench.scenarios.base import Scenario

#: Fraction of its filters every layer keeps at least (part of a global cell's configuration).
FLOOR = 0.1
#: How far over the MACs target any allocation may lie (a criterion's own too).
OVER_BUDGET = 0.01
#: Settling moves at most this fraction of the filters (and tries at most SETTLE_TRIES widths).
SETTLE_MOST = 0.2
SETTLE_TRIES = 1_000  # each a real count: bounded for the nets where one count is slow

MacsOf = Callable[[tuple[int, ...]], int]


@dataclass(frozen=True)
class Allocation:
    """The widths chosen for a MACs budget, what they cost, and the layers held at their floor."""

    widths: tuple[int, ...]
    macs: int
    target_macs: int
    at_floor: tuple[int, ...]  # indices of the layers kept at their floor
    own: bool = False  # chosen by the criterion's own rule (`Criterion.allocate`)
    moved: int = 0  # filters moved from the threshold's (or own) widths to land within 1%

    @property
    def gap(self) -> float:
        """How far the MACs lie from the target, as a fraction of it (+: above)."""
        return (self.macs - self.target_macs) / self.target_macs


def floors(full: Sequence[int], fraction: float = FLOOR) -> tuple[int, ...]:
    """At least `fraction` of each layer's filters, and at least one."""
    return tuple(max(1, math.ceil(fraction * n)) for n in full)


def at_floor(widths: Sequence[int], floor: Sequence[int]) -> tuple[int, ...]:
    """The indices of the layers held at their floor."""
    return tuple(i for i, (w, f) in enumerate(zip(widths, floor)) if w == f)


def normalise(scores: Sequence[Tensor]) -> list[Tensor]:
    """Each layer's scores over the magnitude of the layer's mean score, which keeps their order
    (a layer whose mean is 0 keeps them as they are)."""
    out = []
    for s in scores:
        s = s.detach().double().flatten()
        mean = s.mean().abs()
        out.append(s / mean if mean != 0 else s)
    return out


def removal_order(scores: Sequence[Tensor]) -> list[tuple[int, int]]:
    """(layer, filter) pairs, lowest score first; ties to the earlier layer, then lower index."""
    entries = [(float(v), layer, j) for layer, s in enumerate(scores)
               for j, v in enumerate(s.tolist())]
    return [(layer, j) for _, layer, j in sorted(entries)]


def widths_after(order: Sequence[tuple[int, int]], full: Sequence[int], floor: Sequence[int],
                 removals: int) -> tuple[int, ...]:
    """The widths after the first `removals` entries of `order` a layer's floor allows."""
    widths = list(full)
    done = 0
    for layer, _ in order:
        if done == removals:
            break
        if widths[layer] > floor[layer]:
            widths[layer] -= 1
            done += 1
    return tuple(widths)


def allocate(scores: Sequence[Tensor], macs_of: MacsOf, target_macs: int,
             floor: Sequence[int] | None = None, by_mean: bool = True) -> Allocation:
    """The widths, along the global order (of the scores over their layer's mean; of the raw
    scores without `by_mean`, for scores already comparable across layers), whose MACs come
    closest to `target_macs`: the bisection finds the fewest removals that reach it, and the
    one removal fewer is taken when that lies closer and at most 1% over. A PrunebenchError
    when the floors stop short."""
    full = tuple(len(s) for s in scores)
    floor = tuple(floor) if floor is not None else floors(full)
    order = removal_order(normalise(scores) if by_mean else
                          [s.detach().double().flatten() for s in scores])
    most = sum(n - f for n, f in zip(full, floor))
    lowest = macs_of(widths_after(order, full, floor, most))
    if lowest > target_macs:
        raise PrunebenchError(f"the floors leave {lowest:,} MACs, more than the target "
                              f"{target_macs:,}; ask for a smaller reduction")
    low, high = 0, most  # macs(high) <= target; macs(low) > target unless nothing need go
    if macs_of(full) <= target_macs:
        high = 0
    while high - low > 1:
        middle = (low + high) // 2
        if macs_of(widths_after(order, full, floor, middle)) <= target_macs:
            high = middle
        else:
            low = middle
    candidates = [widths_after(order, full, floor, k) for k in {high, max(high - 1, 0)}]
    within = [w for w in candidates if macs_of(w) <= target_macs * (1 + OVER_BUDGET)]
    widths = min(within, key=lambda w: (abs(macs_of(w) - target_macs), w))
    return settle(widths, macs_of, target_macs, floor, full)


def _moves(layers: int, k: int) -> Iterator[tuple[int, ...]]:
    """Every change of the widths that moves exactly k filters in all (integer vectors of L1 norm
    k), in a fixed order."""
    if layers == 1:
        yield from ((-k,), (k,)) if k else ((0,),)
        return
    for first in range(-k, k + 1):
        for rest in _moves(layers - 1, k - abs(first)):
            yield (first, *rest)


def settle(widths: Sequence[int], macs_of: MacsOf, target_macs: int, floor: Sequence[int],
           ceiling: Sequence[int], own: bool = False) -> Allocation:
    """`widths` as they are when their MACs lie within 1% of the target; else the widths, between
    each layer's floor and `ceiling`, that move the fewest filters from them and land within 1%
    (then the closest to the target, then the smallest widths first), moving at most
    `SETTLE_MOST` of the filters; if none is found, `widths` as they are, with their gap."""
    widths = tuple(widths)

    def gap(w: tuple[int, ...]) -> float:
        return abs(macs_of(w) - target_macs) / target_macs

    most = max(1, int(SETTLE_MOST * sum(ceiling)))
    best, moved, tries = widths, 0, 0
    for k in range(1, most + 1):
        if gap(best) <= OVER_BUDGET or tries >= SETTLE_TRIES:
            break
        found = []
        for change in _moves(len(widths), k):
            w = tuple(a + d for a, d in zip(widths, change))
            if not all(f <= x <= c for x, f, c in zip(w, floor, ceiling)):
                continue
            tries += 1
            if gap(w) <= OVER_BUDGET:
                found.append(w)
            if tries >= SETTLE_TRIES:
                break
        if found:
            best, moved = min(found, key=lambda w: (gap(w), w)), k
    return Allocation(best, macs_of(best), target_macs, at_floor(best, floor), own, moved)


def uniform_scores(full: Sequence[int]) -> list[Tensor]:
    """Scores under which the global order removes the same fraction of every layer: filter j of
    n scores (j + 1) / n, so every layer's normalised scores spread alike."""
    return [torch.arange(1, n + 1, dtype=torch.float64) / n for n in full]


def macs_counter(build: Callable[[], nn.Module], groups: Sequence[str],
                 input_shape: Sequence[int], prune_root: str = "",
                 measure_root: str = "", from_shapes: bool = False) -> MacsOf:
    """MACs of the architecture at given widths: a fresh model narrowed by the real surgery and
    counted by `count_macs` (remembered per widths, as the bisection asks again).

    Where the shapes alone decide the MACs (`from_shapes`: a classifier), the model is built,
    cut and counted on the meta device, with no weights and no arithmetic: the same count, the
    ResNet-50 bisection ~2.5x faster. A detector's MACs depend on the values (its proposals),
    so it is cut and counted for real, on copies of one fresh model (building costs more)."""
    device = torch.device("meta" if from_shapes else "cpu")
    if from_shapes:
        def unpruned() -> nn.Module:
            with device:
                return build().eval()
    else:
        fresh = cache(lambda: build().eval())

        def unpruned() -> nn.Module:
            return copy.deepcopy(fresh())

    @cache
    def macs_of(widths: tuple[int, ...]) -> int:
        model = unpruned()
        surgery.keep_first(model, groups, widths, torch.zeros(1, *input_shape, device=device),
                           prune_root)
        return count_macs(model.get_submodule(measure_root), input_shape)[0]
    return macs_of


def scenario_macs(scenario: Scenario) -> MacsOf:
    return macs_counter(scenario.model, scenario.groups, scenario.input_shape,
                        scenario.prune_root, scenario.measure_root,
                        getattr(scenario.task, "macs_from_shapes", False))


def check_reachable(scenario: Scenario, reduction: float, fraction: float = FLOOR) -> None:
    """Refuse, before any work, a reduction the floors cannot reach on this row."""
    macs_of = scenario_macs(scenario)
    model = scenario.model()
    full = surgery.widths(model, scenario.groups)
    most = macs_of(tuple(full)) / macs_of(floors(full, fraction))
    if reduction > most:
        raise PrunebenchError(f"macs-{reduction:g}x: with every layer at its floor ({fraction:.0%} "
                              f"of its filters) {scenario.name}'s MACs fall only {most:.1f}x; "
                              f"ask for at most macs-{int(most * 10) / 10:g}x")
