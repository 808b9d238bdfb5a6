"""Paired statistics against hand computations, scipy and a simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from prunebench.report.paired import compare, detectable_difference, holm, paired_ranks


def test_paired_t_interval_probability_of_improvement_and_p_value_by_hand():
    """Differences 1, 2, 1: mean 4/3, s = sqrt(1/3), t(0.975, 2) = 4.3027, so the interval is
    4/3 -+ 4.3027 / 3 = [-0.1009, 2.7676]; t = 4 on 2 degrees of freedom gives p = 0.0572."""
    result = compare({0: 90.0, 1: 92.0, 2: 94.0}, {0: 89.0, 1: 90.0, 2: 93.0, 7: 50.0})
    assert result.n == 3 and result.mean == pytest.approx(4 / 3)
    assert result.std == pytest.approx(math.sqrt(1 / 3))
    assert (result.low, result.high) == pytest.approx((-0.10088, 2.76755), abs=1e-5)
    assert result.p_value == pytest.approx(0.05719, abs=1e-5)
    assert result.p_improve == 1.0 and result.boot_low is None  # 3 seeds: no bootstrap
    assert result.text() == "+1.33 [-0.10, +2.77]"
    tie = compare({0: 1.0, 1: 1.0}, {0: 1.0, 1: 0.0})
    assert tie.p_improve == 0.75  # one win, one tie counting half
    assert compare({0: 1.0}, {1: 1.0}) is None


def test_bootstrap_interval_from_five_seeds_is_the_percentile_interval_of_resampled_means():
    """Differences 1, 1, 1, 2, 2 (mean 1.4): every resampled mean lies on the grid k/5 between 1
    and 2, so the 95% percentile bounds do too, and the same resampling seed repeats them."""
    a = {s: 10.0 + d for s, d in enumerate([1, 1, 1, 2, 2])}
    b = {s: 10.0 for s in range(5)}
    first, again = compare(a, b), compare(a, b)
    assert (first.boot_low, first.boot_high) == (again.boot_low, again.boot_high)
    assert 1.0 <= first.boot_low < 1.4 < first.boot_high <= 2.0
    for bound in (first.boot_low, first.boot_high):
        assert bound * 5 == pytest.approx(round(bound * 5))
    assert first.text().startswith("+1.40 [") and ", boot [+1" in first.text()


def test_holm_multiplies_the_kth_smallest_by_m_minus_k_plus_1_and_keeps_order():
    """p = 0.01, 0.03, 0.04 of 3 tests: 0.03, 0.06, then max(0.06, 0.04) = 0.06."""
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx(
        {"a": 0.03, "c": 0.06, "b": 0.06})
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0}


def test_paired_ranks_count_the_rows_that_beat_a_row_significantly():
    """strong beats both others by about 1 on every seed (paired t ~ 28); weak and also differ
    by +-0.1 around 0: they tie. Across seeds the rows swing by 5, so unpaired intervals would
    overlap everywhere."""
    base = [90.0, 85.0, 95.0, 88.0, 92.0]
    weak = dict(enumerate(base))
    also = {s: v + d for s, (v, d) in enumerate(zip(base, [0.1, -0.1, 0.05, -0.05, 0.0]))}
    strong = {s: v + d for s, (v, d) in enumerate(zip(base, [1.0, 1.1, 0.9, 1.05, 0.95]))}
    assert paired_ranks({"weak": weak, "also": also, "strong": strong}) == {
        "strong": 1, "weak": 2, "also": 2}
    three = {name: {s: v for s, v in scores.items() if s < 3}
             for name, scores in {"weak": weak, "strong": strong}.items()}
    # 3 seeds: t = 19 on 2 degrees of freedom, p = 0.003 < 0.05 for the one pair
    assert paired_ranks(three) == {"strong": 1, "weak": 2}


def test_detectable_difference_has_80_percent_power_at_the_5_percent_level():
    """Against a simulation of 40,000 paired t-tests at that difference, and the normal
    approximation (1.96 + 0.8416) s / sqrt(n) for many seeds."""
    rng = np.random.default_rng(0)
    for n in (3, 5):
        delta = detectable_difference(1.0, n)
        draws = rng.normal(delta, 1.0, (40_000, n))
        power = (stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05).mean()
        assert power == pytest.approx(0.8, abs=0.01)
    assert detectable_difference(2.0, 1000) == pytest.approx(2 * 2.8016 / math.sqrt(1000),
                                                            rel=2e-3)
    assert detectable_difference(1.0, 1) == math.inf and detectable_difference(0.0, 4) == 0.0
