"""Per-row seed statistics and how far rankings agree between compression levels (the
comparisons between rows are each table's blocked model, blocked.py).

- A row's 95% confidence interval is Student's t interval of the mean over its seeds,
  mean ± t(0.975, n-1) · s / √n. One seed gives no interval.
- Two levels' rankings are compared with Kendall's tau (scipy) over the rows both have, against
  the chance band of unrelated orders (`tau_chance`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from scipy import stats


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation; 0 for one seed
    low: float  # 95% interval; -inf/inf for one seed
    high: float

    def interval_text(self, digits: int = 2, bounds: tuple[float, float] = (-math.inf, math.inf)
                      ) -> str:
        """`[low, high]`, clipped to the values the metric can take (`bounds`)."""
        if self.n < 2:
            return "–"
        low, high = max(self.low, bounds[0]), min(self.high, bounds[1])
        return f"[{low:.{digits}f}, {high:.{digits}f}]"


def t_half_width(std: float, n: int, level: float = 0.05) -> float:
    """Half the width of Student's t interval of a mean of `n` values of standard deviation
    `std`: t(1 - level/2, n - 1) * std / sqrt(n)."""
    return float(stats.t.ppf(1 - level / 2, n - 1)) * std / math.sqrt(n)


def summarise(values: Sequence[float]) -> Summary:
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return Summary(n, mean, 0.0, -math.inf, math.inf)
    std = statistics.stdev(values)
    half = t_half_width(std, n)
    return Summary(n, mean, std, mean - half, mean + half)


def kendall_tau(first: Mapping[str, float], second: Mapping[str, float]) -> tuple[float, int]:
    """Kendall's tau between two levels' mean scores over the rows both have, and how many."""
    common = sorted(set(first) & set(second))
    if len(common) < 2:
        return math.nan, len(common)
    tau = stats.kendalltau([first[c] for c in common], [second[c] for c in common]).statistic
    return float(tau), len(common)


Level = TypeVar("Level")


def pairwise_taus(levels: Mapping[Level, Mapping[str, float]]
                  ) -> list[tuple[Level, Level, float, int]]:
    """`kendall_tau` between every pair of levels, in the levels' order: the one loop behind
    the board's rank stability section and the findings that quote it."""
    keys = list(levels)
    return [(a, b, *kendall_tau(levels[a], levels[b]))
            for i, a in enumerate(keys) for b in keys[i + 1:]]


def tau_chance(n: int, level: float = 0.05) -> float:
    """The |tau| that two unrelated orders of `n` rows exceed with probability `level`: under
    independence Kendall's tau is near normal with mean 0 and variance 2(2n + 5) / (9n(n - 1))
    (Kendall, *Rank Correlation Methods*, 1948, ch. 4; scipy's asymptotic test uses the same), so
    a tau within +-this is what chance alone gives (at most 1, reached at 3 rows; the normal
    band is rough below about 8 rows). It depends on the rows, not on the seeds;
    what the seeds bound is `blocked.split_half_tau`."""
    if n < 2:
        return math.nan
    half_width = float(stats.norm.ppf(1 - level / 2)) * math.sqrt(2 * (2 * n + 5) /
                                                                  (9 * n * (n - 1)))
    return min(half_width, 1.0)
