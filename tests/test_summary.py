"""Win rates and performance profiles across compression levels, by hand."""

import pytest

from prunebench.report.summary import common, performance_profile, win_rates

SCORES = {
    ("prun1", 0): {"a": 90.0, "b": 80.0, "c": 80.0},
    ("prun1", 1): {"a": 91.0, "b": 92.0, "c": 85.0},
    ("prun2", 0): {"a": 70.0, "b": 75.0},  # c did not run here
    ("prun2", 1): {"a": 71.0},  # alone: no opponent, not counted
}


def test_win_rates_count_ties_half_over_the_problems_every_row_played():
    """The lone problem (prun2, 1) is no contest, and c did not play (prun2, 0): a and b compete
    on (prun1, 0), (prun1, 1), (prun2, 0): a wins 1, 0, 0 -> 1/3, b 0, 1, 1 -> 2/3. Resampling
    the seeds: {0, 0} gives a (1 + 0 + 1 + 0) / 4 = 0.5, {0, 1} 1/3, {1, 1} 0, so a's 95%
    bootstrap interval is [0, 0.5]."""
    assert common(SCORES) == {("prun1", 0): {"a": 90.0, "b": 80.0},
                              ("prun1", 1): {"a": 91.0, "b": 92.0},
                              ("prun2", 0): {"a": 70.0, "b": 75.0}}
    rates = win_rates(SCORES)
    assert {k: (r.problems, r.mean) for k, r in rates.items()} == {
        "a": (3, pytest.approx(1 / 3)), "b": (3, pytest.approx(2 / 3))}
    assert (rates["a"].low, rates["a"].high) == (0.0, 0.5)
    assert rates["a"].text() == "0.33 [0.00, 0.50]"
    ties = win_rates({("t", 0): {"x": 1.0, "y": 1.0}, ("t", 1): {"x": 2.0, "y": 1.0}})
    assert ties["x"].mean == pytest.approx(0.75)  # a tie counts half


def test_performance_profile_is_the_share_of_problems_within_tau_of_the_best():
    """Gaps to the best: a 0, 1, 5, 0; b 10, 0, 0; c 10, 7."""
    profile = performance_profile(SCORES, [0.0, 1.0, 5.0, 10.0])
    assert profile == {"a": [0.5, 0.75, 1.0, 1.0], "b": [2 / 3, 2 / 3, 2 / 3, 1.0],
                       "c": [0.0, 0.0, 0.0, 1.0]}
