"""Targets, budgets and user input are checked before any work starts."""

import pytest

from prunebench.cli.options import make_options, make_plan
from prunebench.config import CellConfig, Target, parse_ratio, parse_seeds, parse_widths
from prunebench.errors import PrunebenchError
from prunebench.scenarios import lenet5

GROUPS = ("conv1", "conv2")


def test_ratio_keeps_at_least_one_filter():
    assert Target("half", ratio=0.5).resolve((20, 50), GROUPS) == (10, 25)
    assert Target("most", ratio=0.99).resolve((20, 50), GROUPS) == (1, 1)
    assert Target("w", widths=(4, 14)).resolve((20, 50), GROUPS) == (4, 14)


@pytest.mark.parametrize("widths, message", [
    ((4, 14, 3), "has 3 values but the scenario has 2 prunable layers"),
    ((0, 14), "width 0 for layer conv1 must be between 1 and its 20 filters"),
    ((4, 51), "width 51 for layer conv2 must be between 1 and its 50 filters"),
    ((-1, 8), "width -1 for layer conv1"),
])
def test_bad_widths(widths, message):
    with pytest.raises(PrunebenchError, match=message):
        Target("w", widths=widths).resolve((20, 50), GROUPS)


@pytest.mark.parametrize("text", ["0", "1", "1.5", "-0.2", "abc"])
def test_ratio_out_of_range_or_not_a_number(text):
    with pytest.raises(PrunebenchError, match="--ratio"):
        parse_ratio(text)


@pytest.mark.parametrize("parse, text", [(parse_widths, "4,x"), (parse_seeds, "0,0"),
                                         (parse_seeds, "-1"), (parse_seeds, "a")])
def test_unparseable_lists(parse, text):
    with pytest.raises(PrunebenchError):
        parse(text)


def test_cell_hash_is_stable_and_sensitive():
    budget = lenet5.DIGITS_BUDGETS["smoke"]
    cell = CellConfig("lenet5-digits", "l1", "prun1", (4, 14), 0, budget)
    assert cell.hash() == CellConfig("lenet5-digits", "l1", "prun1", (4, 14), 0, budget).hash()
    others = [CellConfig("lenet5-digits", "l2", "prun1", (4, 14), 0, budget),
              CellConfig("lenet5-digits", "l1", "prun1", (4, 14), 1, budget),
              CellConfig("lenet5-digits", "l1", "prun1", (4, 13), 0, budget),
              CellConfig("lenet5-digits", "l1", "prun1", (4, 14), 0,
                         lenet5.DIGITS_BUDGETS["quick"])]
    assert len({c.hash() for c in [cell, *others]}) == 5


def test_plan_defaults_and_targets(tmp_path):
    plan = make_plan()
    assert plan.scenario.name == "lenet5-digits" and plan.target.name == "prun1"
    assert {"l1", "l2", "random"} <= {c.label for c in plan.criteria}
    assert plan.seeds == plan.budget.seeds == (0, 1, 2)
    assert make_plan(ratio="0.25").target == Target("ratio-0.25", ratio=0.25)
    assert make_plan(widths="3,8").target.widths == (3, 8)


@pytest.mark.parametrize("kwargs, message", [
    ({"scenario": "nosuch"}, "unknown scenario 'nosuch'; choose one of lenet5-digits"),
    ({"budget": "huge"}, "unknown budget 'huge'"),
    ({"target": "prun9"}, "unknown target 'prun9' for lenet5-digits"),
    ({"target": "prun1", "ratio": "0.5"}, "give only one of --target, --ratio"),
    ({"widths": "4,14,2"}, "has 3 values"),
])
def test_plan_refuses_bad_input(kwargs, message):
    with pytest.raises(PrunebenchError, match=message):
        make_plan(**kwargs)


def test_options_refuse_bad_input(tmp_path):
    with pytest.raises(PrunebenchError, match="unknown device 'tpu'"):
        make_options(results=tmp_path, device="tpu")


def test_results_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PrunebenchError, match="is a file"):
        make_options(results=tmp_path / "file")
