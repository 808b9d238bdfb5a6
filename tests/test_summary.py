"""Win rates and performance profiles across compression levels, by hand."""

import math

import pytest

from prunebench.report.summary import performance_profile, win_rates

SCORES = {
    ("prun1", 0): {"a": 90.0, "b": 80.0, "c": 80.0},
    ("prun1", 1): {"a": 91.0, "b": 92.0, "c": 85.0},
    ("prun2", 0): {"a": 70.0, "b": 75.0},  # c did not run here
    ("prun2", 1): {"a": 71.0},  # alone: no opponent, not counted
}


def test_win_rates_count_ties_half_and_average_over_the_problems_played():
    """a: 2/2, 1/2, 0/1 -> mean 0.5; b: 0.5/2 (beats nobody, ties c), 2/2, 1/1 -> 0.75;
    c: 0.5/2, 0/2 -> 0.125 over 2 problems."""
    rates = win_rates(SCORES)
    assert {k: (r.problems, r.mean) for k, r in rates.items()} == {
        "a": (3, pytest.approx(0.5)), "b": (3, pytest.approx(0.75)), "c": (2, pytest.approx(0.125))}
    # a's shares 1, 0.5, 0: s = 0.5, t(0.975, 2) = 4.3027 -> 0.5 -+ 1.2421, shown clipped to [0, 1]
    assert rates["a"].low == pytest.approx(0.5 - 4.302653 * 0.5 / math.sqrt(3))
    assert rates["a"].text() == "0.50 [0.00, 1.00]"


def test_performance_profile_is_the_share_of_problems_within_tau_of_the_best():
    """Gaps to the best: a 0, 1, 5, 0; b 10, 0, 0; c 10, 7."""
    profile = performance_profile(SCORES, [0.0, 1.0, 5.0, 10.0])
    assert profile == {"a": [0.5, 0.75, 1.0, 1.0], "b": [2 / 3, 2 / 3, 2 / 3, 1.0],
                       "c": [0.0, 0.0, 0.0, 1.0]}
