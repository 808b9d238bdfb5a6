"""One verdict across compression levels: how often each criterion beats the others on the same
(target, seed) problems, and how close to the best it stays (a performance profile).

- A *problem* is one target at one seed: every criterion that ran it started from the same
  baseline and saw the same data order, so they can be compared head to head.
- A criterion's *win rate* on a problem is its share of wins against the other criteria of that
  problem (a tie counts half); its overall win rate is the mean over the problems it played,
  with Student's t 95% interval over those problems (problems of one seed share a baseline, so
  the interval is indicative, not exact).
- Its *performance profile* (Dolan and More, 2002, on differences rather than ratios) is the
  fraction of its problems where it stays within tau points of that problem's best criterion,
  as tau grows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prunebench.report.stats import t_half_width

Problem = tuple[str, int]  # (target, seed)


@dataclass(frozen=True)
class WinRate:
    problems: int
    mean: float
    low: float  # Student's t 95% interval over problems; nan below 2 problems
    high: float

    def text(self) -> str:
        if self.problems < 2:
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} [{max(0.0, self.low):.2f}, {min(1.0, self.high):.2f}]"


def win_rates(scores: Mapping[Problem, Mapping[str, float]]) -> dict[str, WinRate]:
    """Each criterion's win rate over the problems it played against at least one other."""
    per_problem: dict[str, list[float]] = {}
    for results in scores.values():
        if len(results) < 2:
            continue
        for name, value in results.items():
            others = [v for other, v in results.items() if other != name]
            share = sum(1.0 if value > v else 0.5 if value == v else 0.0 for v in others)
            per_problem.setdefault(name, []).append(share / len(others))
    rates = {}
    for name, shares in per_problem.items():
        n, mean = len(shares), statistics.fmean(shares)
        if n < 2:
            rates[name] = WinRate(n, mean, math.nan, math.nan)
            continue
        half = t_half_width(statistics.stdev(shares), n)
        rates[name] = WinRate(n, mean, mean - half, mean + half)
    return rates


def performance_profile(scores: Mapping[Problem, Mapping[str, float]],
                        taus: Sequence[float]) -> dict[str, list[float]]:
    """For each criterion and each tau, the fraction of its problems where its score is within
    tau of the problem's best."""
    gaps: dict[str, list[float]] = {}
    for results in scores.values():
        best = max(results.values())
        for name, value in results.items():
            gaps.setdefault(name, []).append(best - value)
    return {name: [sum(g <= tau + 1e-12 for g in found) / len(found) for tau in taus]
            for name, found in gaps.items()}
