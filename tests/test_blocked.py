"""The blocked model of a table (report/blocked.py) against published numbers and hand-made
tables: Montgomery's randomised complete block example, Dunnett's tables, a TOST verdict, the
exact test of differences without spread, the letters, the rank intervals, and how far an order
agrees with itself and with chance."""

import math

import pytest

from prunebench.report.blocked import (
    dunnett_critical,
    fit,
    letters,
    many_to_one,
    omnibus_sentence,
    rank_intervals,
    seeds_for,
    split_half_tau,
    tukey_msd,
)
from prunebench.report.stats import pairwise_taus, tau_chance

#: Montgomery, Design and Analysis of Experiments (5th ed.), Example 4.1, Table 4.3: the yield
#: of a vascular graft at four extrusion pressures (rows), six resin batches (blocks)
GRAFT = {"8500": [90.3, 89.2, 98.2, 93.9, 87.4, 97.9],
         "8700": [92.5, 89.5, 90.6, 94.7, 87.0, 95.8],
         "8900": [85.5, 90.8, 89.6, 86.2, 88.0, 93.4],
         "9100": [82.5, 89.5, 85.6, 87.4, 78.9, 90.7]}


def by_seed(table):
    return {row: dict(enumerate(values)) for row, values in table.items()}


def test_montgomery_example_4_1():
    """Table 4.4: treatments F0 = 8.11 on (3, 15), P = 0.0019, MS_E = 7.33; Tukey's
    q0.05(4, 15) = 4.08 (sec. 4.1.3); the means 92.82, 91.68, 88.92, 85.77; 8500 and 8700
    differ from 9100, nothing else does."""
    model, left_out = fit(by_seed(GRAFT))
    assert not left_out and model.df_rows == 3 and model.df_error == 15
    assert f"{model.f:.2f}" == "8.11" and f"{model.p_value:.4f}" == "0.0019"
    assert f"{model.mse:.2f}" == "7.33"
    assert [f"{model.means[r]:.2f}" for r in GRAFT] == ["92.82", "91.68", "88.92", "85.77"]
    q = tukey_msd(model) / math.sqrt(model.mse / 6)
    assert f"{q:.2f}" == "4.08"
    assert letters(model) == {"8500": "a", "8700": "a", "8900": "ab", "9100": "b"}
    assert "rows differ: F(3, 15) = 8.11, p = 0.0019" in omnibus_sentence(model, [])


@pytest.mark.parametrize("df, values", [
    (10, (2.23, 2.57, 2.76, 2.89)), (15, (2.13, 2.44, 2.61, 2.73)),
    (20, (2.09, 2.38, 2.54, 2.65)), (10**6, (1.96, 2.21, 2.35, 2.44))])
def test_dunnett_critical_values_equal_dunnetts_table(df, values):
    """Dunnett (1955) two-sided 5% table: 1 to 4 comparisons with a control (10**6: the
    table's infinite row)."""
    assert tuple(round(dunnett_critical(k, df), 2) for k in (1, 2, 3, 4)) == values


def test_many_to_one_on_the_graft_data():
    """Against 8500 (3 comparisons, 15 df): d = 2.61, half-width 2.61 x sqrt(2 x 7.33 / 6) =
    4.08; only 9100 (-7.05) lies outside."""
    model, _ = fit(by_seed(GRAFT))
    found = {m.row: m for m in many_to_one(model, "8500")}
    assert f"{found['9100'].high - found['9100'].diff:.2f}" == "4.08"
    assert found["9100"].text() == "-7.05 [-11.13, -2.97]" and found["9100"].verdict() == "worse"
    assert found["8700"].verdict() == found["8900"].verdict() == "not told apart"


def test_equivalence_by_two_one_sided_tests():
    """Two rows, differences +0.1, -0.1, +0.1, -0.1: mean 0, standard error 0.0577, the 90%
    interval +-2.353 x 0.0577 = +-0.136: inside a margin of 0.25 (equivalent), not inside 0.1."""
    table = {"l1": [90.0, 91.0, 92.0, 93.0], "x": [90.1, 90.9, 92.1, 92.9]}
    model, _ = fit(by_seed(table))
    (wide,) = many_to_one(model, "l1", margin=0.25)
    (narrow,) = many_to_one(model, "l1", margin=0.1)
    assert wide.verdict() == "equivalent" and narrow.verdict() == "not told apart"


def test_equal_differences_are_tested_exactly_never_p_zero():
    """fpgm above l1 by 0.44 on each of 3 seeds: no residual spread, so no t or F; the exact
    sign test gives p = 2 x 0.5^3 = 0.25, so nothing is told apart."""
    table = {"l1": [96.0, 97.0, 98.0], "fpgm": [96.44, 97.44, 98.44], "l2": [96.0, 97.0, 98.0]}
    model, _ = fit(by_seed(table))
    assert model.exact and model.p_value == 0.25
    assert "p = 0.25" in omnibus_sentence(model, [])
    fpgm = next(m for m in many_to_one(model, "l1") if m.row == "fpgm")
    assert fpgm.p_sign == 0.25 and fpgm.verdict() == "not told apart"
    assert set(letters(model).values()) == {"a"}
    assert seeds_for(model) is None


def test_rows_with_fewer_seeds_are_left_out_of_the_block():
    table = by_seed({"l1": [1.0, 2.0, 3.0], "random": [0.5, 1.0, 2.0]})
    table["late"] = {0: 1.0}
    model, left_out = fit(table)
    assert left_out == ["late"] and model.rows == ("l1", "random")


def test_rank_intervals_from_a_bootstrap_of_seeds():
    table = by_seed({"top": [99.0, 98.0, 99.5, 98.5], "close1": [90.0, 91.0, 90.2, 90.6],
                     "close2": [90.5, 90.4, 90.3, 90.7], "low": [50.0, 52.0, 51.0, 49.0]})
    ranks = rank_intervals(table, list(table))
    assert ranks["top"] == (1, 1) and ranks["low"] == (4, 4)
    assert ranks["close1"] == (2, 3) and ranks["close2"] == (2, 3)


def test_the_published_boards_read_through_the_blocked_model():
    """Every accuracy table of the committed Fashion-MNIST board says whether its rows differ,
    compares every row with l1 and random by Dunnett, shows Tukey's letters and bootstrap rank
    intervals and a power line matched to that test, and never prints p = 0."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "leaderboards" /
            "lenet5-fashionmnist.md").read_text()
    tables = text.split("\n## Target ")[1:]
    assert len(tables) == 5
    for table in tables:
        assert "- Omnibus (" in table and "Dunnett's simultaneous 95% interval" in table
        assert "| group | criterion |" in table and "rank, 95% bootstrap" in table
        assert "| Δ vs l1, 95% simultaneous | vs l1 | Δ vs random, 95% simultaneous |" in table
        assert "- Power: with 5 seeds" in table
    assert "p = 0 " not in text and "p = 0." not in text.replace("p = 0.0", "")


def test_split_half_agreement_of_an_order():
    """Two seeds: the halves are the seeds, and seed 1 reverses seed 0's order: tau -1 on
    every split. Rows whose effect dwarfs the noise keep their order on every split (+1). Twenty
    rows of equal expectation (independent noise, ten seeds), twenty such tables: halves agree
    only by chance, 0 on average
    (two bootstrap draws of the same seeds would agree at about +0.38 here: they share the
    seeds' noise)."""
    import numpy as np

    assert split_half_tau(by_seed({"a": [1.0, 3.0], "b": [2.0, 2.0], "c": [3.0, 1.0]}),
                          ["a", "b", "c"]) == -1.0
    rng = np.random.default_rng(7)
    clear = by_seed({f"r{i}": list(10.0 * i + rng.normal(0, 1, 10)) for i in range(6)})
    assert split_half_tau(clear, list(clear)) == pytest.approx(1.0)
    flat = [by_seed({f"r{i}": list(rng.normal(0, 1, 10)) for i in range(20)})
            for _ in range(20)]
    assert abs(float(np.mean([split_half_tau(t, list(t)) for t in flat]))) < 0.05
    assert math.isnan(split_half_tau(by_seed({"a": [1.0], "b": [2.0], "c": [3.0]}),
                                     ["a", "b", "c"]))


def test_the_chance_band_of_kendalls_tau():
    """1.96 x sqrt(2(2n + 5) / (9n(n - 1))): 0.487 for 10 rows; over random orders of 25 rows
    (scipy's tau of independent permutations) |tau| passes the band about 5% of the time."""
    import numpy as np
    from scipy import stats

    assert tau_chance(10) == pytest.approx(1.959964 * math.sqrt(50 / 810), abs=1e-6)
    assert tau_chance(4) == pytest.approx(0.9617, abs=1e-4) and tau_chance(3) == 1.0
    rng = np.random.default_rng(0)
    band = tau_chance(25)
    taus = [stats.kendalltau(rng.permutation(25), rng.permutation(25)).statistic
            for _ in range(4000)]
    assert 0.035 < float(np.mean(np.abs(taus) > band)) < 0.065


def test_pairwise_taus_over_the_rows_each_pair_shares():
    """Three levels: `b` reverses `a` on the same four rows (tau -1); `c` has three of the rows in
    `a`'s order (tau +1 over 3 rows); `b` against `c` is reversed on those three (-1 over 3). By
    hand: 4 rows reversed are 6 of 6 pairs discordant."""
    a = {"w": 1.0, "x": 2.0, "y": 3.0, "z": 4.0}
    b = {"w": 4.0, "x": 3.0, "y": 2.0, "z": 1.0}
    c = {"x": 0.1, "y": 0.2, "z": 0.3, "only-c": 9.0}
    got = pairwise_taus({"a": a, "b": b, "c": c})
    assert [(p, q, round(t, 6), n) for p, q, t, n in got] == [
        ("a", "b", -1.0, 4), ("a", "c", 1.0, 3), ("b", "c", -1.0, 3)]
    x, y, tau, n = pairwise_taus({1: a, 2: {"w": 1.0, "x": 3.0, "y": 2.0, "z": 4.0}})[0]
    assert (x, y, n) == (1, 2, 4) and tau == pytest.approx(4 / 6)  # 5 concordant, 1 discordant
