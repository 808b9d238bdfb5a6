"""Paired comparisons: every criterion of a table starts from the same baseline and sees the same
data order for each seed (common random numbers), so two rows are compared by their per-seed
differences, which vary far less than the rows themselves.

- `compare(a, b)`: the mean of the per-seed differences a - b over the seeds both have, Student's
  t interval of that mean (scipy), a percentile bootstrap interval from 5 seeds on (scipy, fixed
  resampling seed), the probability of improvement P(a > b) over seeds (ties count half) and
  the paired t-test's two-sided p-value.
- `paired_ranks`: a row's rank is 1 + the rows that beat it significantly in a paired t-test,
  with Holm's step-down correction over every pair of the table (5% family-wise level).
- `detectable_difference`: the smallest true mean difference a paired t-test over n seeds
  detects with 80% power at the 5% level, given the paired standard deviation (noncentral t).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import optimize, stats

from prunebench.report.stats import t_half_width

LEVEL = 0.05
POWER = 0.8
BOOTSTRAP_FROM = 5  # seeds; fewer give a bootstrap distribution of a handful of values
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Paired:
    """a - b over their common seeds."""

    n: int
    mean: float
    std: float  # of the differences; 0 for one seed
    low: float  # Student's t 95% interval of the mean; -inf/inf below 2 seeds
    high: float
    boot_low: float | None  # percentile bootstrap 95% interval, from BOOTSTRAP_FROM seeds on
    boot_high: float | None
    p_improve: float  # fraction of seeds where a > b, ties counting half
    p_value: float  # paired t-test, two-sided; 1 when it cannot be computed

    def text(self, digits: int = 2) -> str:
        """`+1.23 [+0.40, +2.06]`, the mean difference and its t interval, and from 5 seeds on
        its bootstrap interval: `+1.23 [+0.40, +2.06], boot [+0.55, +1.90]`."""
        if self.n < 2:
            return f"{self.mean:+.{digits}f}"
        text = f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"
        if self.boot_low is not None and self.boot_high is not None:
            text += f", boot [{self.boot_low:+.{digits}f}, {self.boot_high:+.{digits}f}]"
        return text


def compare(a: Mapping[int, float], b: Mapping[int, float]) -> Paired | None:
    """`a` against `b`, both by seed; None when they share no seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    n, mean = len(diffs), statistics.fmean(diffs)
    p_improve = (sum(d > 0 for d in diffs) + 0.5 * sum(d == 0 for d in diffs)) / n
    if n < 2:
        return Paired(n, mean, 0.0, -math.inf, math.inf, None, None, p_improve, 1.0)
    std = statistics.stdev(diffs)
    half = t_half_width(std, n, LEVEL)
    # equal non-zero differences: the t-test's limit as the spread shrinks, p = 0. An exact
    # sign test here would rank (10, 10) below (10, 10.01), and over 5 seeds it never goes
    # under 2 x 0.5^5 = 0.0625, so it could not separate any rows of a 5-seed board
    p_value = 1.0 if std == 0 and mean == 0 else \
        0.0 if std == 0 else float(stats.ttest_1samp(diffs, 0.0).pvalue)
    boot_low = boot_high = None
    if n >= BOOTSTRAP_FROM and std > 0:
        boot = stats.bootstrap((np.array(diffs),), np.mean, confidence_level=1 - LEVEL,
                               method="percentile", n_resamples=9999,
                               rng=np.random.default_rng(BOOTSTRAP_SEED))
        boot_low, boot_high = (float(boot.confidence_interval.low),
                               float(boot.confidence_interval.high))
    return Paired(n, mean, std, mean - half, mean + half, boot_low, boot_high, p_improve,
                  p_value)


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: the k-th smallest of m is multiplied by m - k + 1,
    made non-decreasing in that order and capped at 1."""
    order = sorted(p_values, key=lambda k: (p_values[k], k))
    m, running, adjusted = len(order), 0.0, {}
    for k, key in enumerate(order):
        running = max(running, min(1.0, (m - k) * p_values[key]))
        adjusted[key] = running
    return adjusted


def paired_ranks(scores: Mapping[str, Mapping[int, float]]) -> dict[str, int]:
    """Each row's rank: 1 + the rows that beat it in a paired t-test over their common seeds,
    Holm-corrected over all pairs of the table at the 5% level."""
    tests: dict[str, tuple[str, str, Paired]] = {}
    for x, y in combinations(sorted(scores), 2):
        result = compare(scores[x], scores[y])
        if result is not None and result.n >= 2:
            tests[f"{x}\t{y}"] = (x, y, result)
    adjusted = holm({key: t[2].p_value for key, t in tests.items()})
    beaten = {name: 0 for name in scores}
    for key, (x, y, result) in tests.items():
        if adjusted[key] < LEVEL and result.mean != 0:
            beaten[y if result.mean > 0 else x] += 1
    return {name: 1 + count for name, count in beaten.items()}


def detectable_difference(std: float, n: int) -> float:
    """The smallest mean difference a two-sided paired t-test over `n` seeds detects with 80%
    power at the 5% level, for differences of standard deviation `std`; inf below 2 seeds."""
    if n < 2:
        return math.inf
    if std == 0:
        return 0.0
    df = n - 1
    critical = float(stats.t.ppf(1 - LEVEL / 2, df))

    def power_gap(delta: float) -> float:
        shift = delta * math.sqrt(n) / std
        wrong_side = float(stats.nct.cdf(-critical, df, shift))  # NaN where it underflows
        power = float(stats.nct.sf(critical, df, shift)) + (wrong_side if wrong_side > 0 else 0)
        return power - POWER

    scale = std / math.sqrt(n)  # the root lies below 4 x (critical + 2) standard errors
    return float(optimize.brentq(power_gap, 1e-9 * scale, 4 * (critical + 2) * scale))


