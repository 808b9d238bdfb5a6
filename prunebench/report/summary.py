"""One verdict across compression levels: how often each criterion beats the others on the same
(target, seed) problems, and how close to the best it stays (a performance profile).

- A *problem* is one target at one seed: every criterion that ran it started from the same
  baseline and saw the same data order, so they can be compared head to head.
- Only criteria compete (the boards leave control rows out) and only on the problems every one
  of them played, so every win rate is over the same problems.
- A criterion's *win rate* on a problem is its share of wins against the other criteria of that
  problem (a tie counts half); its overall win rate is the mean over the problems, with a 95%
  percentile interval from a bootstrap over the seeds (problems of one seed share a baseline,
  so the seed, not the problem, is the unit resampled).
- Its *performance profile* (Dolan and More, 2002, on differences rather than ratios) is the
  fraction of its problems where it stays within tau points of that problem's best criterion,
  as tau grows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from prunebench.report.blocked import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

Problem = tuple[str, int]  # (target, seed)


@dataclass(frozen=True)
class WinRate:
    problems: int
    mean: float
    low: float  # 95% bootstrap interval over seeds; nan below 2 seeds
    high: float

    def text(self) -> str:
        if math.isnan(self.low):
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} [{max(0.0, self.low):.2f}, {min(1.0, self.high):.2f}]"


def common(scores: Mapping[Problem, Mapping[str, float]]) -> dict[Problem, dict[str, float]]:
    """The problems of at least two rows, restricted to the rows that played every one of them
    (a row that did not play them all, e.g. not applicable on a global target, is left out)."""
    contested = {p: results for p, results in scores.items() if len(results) > 1}
    if not contested:
        return {}
    rows = set.intersection(*(set(results) for results in contested.values()))
    return {p: {r: v for r, v in results.items() if r in rows}
            for p, results in contested.items()}


def win_rates(scores: Mapping[Problem, Mapping[str, float]]) -> dict[str, WinRate]:
    """Each criterion's win rate over the problems every criterion played (`common`), with a
    bootstrap interval over the seeds (a problem's seed is its second element)."""
    shares: dict[str, dict[Problem, float]] = {}
    for problem, results in common(scores).items():
        if len(results) < 2:
            continue
        for name, value in results.items():
            others = [v for other, v in results.items() if other != name]
            won = sum(1.0 if value > v else 0.5 if value == v else 0.0 for v in others)
            shares.setdefault(name, {})[problem] = won / len(others)
    rates = {}
    for name, by_problem in shares.items():
        values = list(by_problem.values())
        low, high = _seed_bootstrap(by_problem)
        rates[name] = WinRate(len(values), statistics.fmean(values), low, high)
    return rates


def _seed_bootstrap(by_problem: Mapping[Problem, float]) -> tuple[float, float]:
    """The 95% percentile interval of the mean share when the seeds are resampled (all of a
    seed's problems together); nan below two seeds."""
    seeds: dict[object, list[float]] = {}
    for problem, share in by_problem.items():
        seeds.setdefault(problem[1], []).append(share)
    if len(seeds) < 2:
        return math.nan, math.nan
    groups = [np.array(v) for _, v in sorted(seeds.items(), key=lambda kv: str(kv[0]))]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(groups), size=(BOOTSTRAP_RESAMPLES, len(groups)))
    sums = np.array([g.sum() for g in groups])
    counts = np.array([len(g) for g in groups])
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


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
