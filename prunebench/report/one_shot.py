"""The one-shot track (issue 36): one removal from the unpruned baseline and no training at all,
at a sweep of fractions, so accuracy answers only "which filters does this criterion rank
highest". Each row's curve is summarised by its area: the trapezoid of top-1 over the fraction
removed, divided by the sweep's span, i.e. the mean top-1 across the sweep (one number per row
and seed, compared with the same paired statistics as the accuracy tracks).

A uniform sweep's x is the fraction of every layer's filters removed (from the recorded widths);
a global sweep's is the fraction of MACs its target removes, 1 - 1/F.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from prunebench.results.record import Record

UNIFORM_SWEEP, GLOBAL_SWEEP = "uniform", "global"


@dataclass
class Sweep:
    """One budget's one-shot cells of one kind: per row and seed, top-1 at each x."""

    budget: str
    kind: str  # UNIFORM_SWEEP or GLOBAL_SWEEP
    points: dict[str, dict[int, dict[float, float]]] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)

    @property
    def xs(self) -> list[float]:
        return sorted({x for seeds in self.points.values() for pts in seeds.values()
                       for x in pts})

    def areas(self) -> dict[str, dict[int, float]]:
        """Per row and seed: the area under its curve over the whole sweep (seeds that lack a
        point of the sweep are left out: their area would cover another span)."""
        xs = self.xs
        out: dict[str, dict[int, float]] = {}
        for row, seeds in self.points.items():
            whole = {seed: area(pts) for seed, pts in seeds.items() if sorted(pts) == xs}
            if whole:
                out[row] = whole
        return out

    def mean_curve(self, row: str) -> tuple[list[float], list[float], list[float]]:
        """x, mean and standard deviation over seeds of the row's top-1 at each x."""
        by_x: dict[float, list[float]] = defaultdict(list)
        for pts in self.points[row].values():
            for x, value in pts.items():
                by_x[x].append(value)
        xs = sorted(by_x)
        return (xs, [statistics.fmean(by_x[x]) for x in xs],
                [statistics.stdev(by_x[x]) if len(by_x[x]) > 1 else 0.0 for x in xs])


def area(points: dict[float, float]) -> float:
    """The trapezoid of the points over their span, divided by the span: a mean top-1 over the
    sweep (one point: its value)."""
    xs = sorted(points)
    if len(xs) < 2:
        return points[xs[0]]
    ys = [points[x] for x in xs]
    return float(np.trapezoid(ys, xs) / (xs[-1] - xs[0]))


def removed(record: Record) -> float | None:
    """The sweep's x of a finished cell: the fraction of filters removed (uniform) or of MACs
    its target removes (global)."""
    m = record.measured
    if m is None:
        return None
    if record.macs_reduction is not None:
        return round(1 - 1 / record.macs_reduction, 4)
    return round(1 - sum(m.pruned_widths) / sum(m.original_widths), 4)


def sweeps(records: Sequence[Record], budget_of) -> list[Sweep]:
    """The one-shot records' sweeps, per budget (`budget_of` names it as the board does) and
    kind, in order."""
    found: dict[tuple[str, str], Sweep] = {}
    for r in records:
        kind = GLOBAL_SWEEP if r.macs_reduction is not None else UNIFORM_SWEEP
        sweep = found.setdefault((budget_of(r), kind), Sweep(budget_of(r), kind))
        sweep.records.append(r)
        x = removed(r)
        if x is not None and r.measured is not None:
            value = r.measured.pruned.metrics[r.headline]
            sweep.points.setdefault(r.label, {}).setdefault(r.seed, {})[x] = value
    return [found[key] for key in sorted(found)]


def curve_lines(sweep: Sweep) -> list[str]:
    """A markdown table: each row's mean top-1 at every x of the sweep."""
    xs = sweep.xs
    what = "filters removed per layer" if sweep.kind == UNIFORM_SWEEP else "MACs removed"
    header = ["row", *(f"{100 * x:.0f}%" for x in xs)]
    lines = [f"Mean top-1 over seeds at each fraction of {what}, no training:", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(sweep.points):
        curve = dict(zip(*sweep.mean_curve(row)[:2]))
        lines.append(f"| {row} | " + " | ".join(
            f"{curve[x]:.2f}" if x in curve else "–" for x in xs) + " |")
    return lines + [""]
