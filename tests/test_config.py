"""Targets, budgets and user input are checked before any work starts."""

import json
from dataclasses import replace

import pytest

from prunebench.cli.arguments import parse_seeds, parse_widths
from prunebench.cli.options import make_options, make_plan
from prunebench.errors import PrunebenchError
from prunebench.protocol.config import CellConfig, Target, parse_ratio
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
    # the budget's default seed list is not the cell's: more default seeds, same cell
    more_seeds = replace(budget, seeds=(0, 1, 2, 3, 4))
    assert CellConfig("lenet5-digits", "l1", "prun1", (4, 14), 0, more_seeds).hash() == \
        cell.hash()


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


def test_criterion_settings_parse_convert_and_name_rows():
    from prunebench.cli.arguments import parse_criteria
    from prunebench.protocol.config import CriterionSpec

    assert parse_criteria("l1,stability:lam=5e-6,x=2,l2:a=1:b=c") == (
        ("l1", ()), ("stability", (("lam", "5e-6"), ("x", "2"))), ("l2", (("a", "1"), ("b", "c"))))
    with pytest.raises(PrunebenchError, match="starts with a setting"):
        parse_criteria("lam=5e-6,stability")
    with pytest.raises(PrunebenchError, match="'lam' is not a setting"):
        parse_criteria("stability:lam")
    spec = make_plan(criteria="stability:lam=5e-6,l1").criteria
    assert spec == (CriterionSpec("stability", (("lam", 5e-6),)), CriterionSpec("l1"))
    assert spec[0].label == "stability (lam=5e-06)" and spec[1].label == "l1"
    # the default value names the plain row, and its cell keeps the hash it always had
    assert make_plan(criteria="stability:lam=1e-5").criteria == (CriterionSpec("stability"),)
    budget = lenet5.DIGITS_BUDGETS["smoke"]
    plain = CellConfig("lenet5-digits", "stability", "prun1", (4, 14), 0, budget)
    tuned = CellConfig("lenet5-digits", "stability", "prun1", (4, 14), 0, budget,
                       (("lam", 5e-6),))
    assert plain.hash() != tuned.hash()
    # a new version of the plugin may keep other filters: its cell is another cell
    versions = {CellConfig("lenet5-digits", "stability", "prun1", (4, 14), 0, budget,
                           criterion_version=v).hash() for v in ("", "0.1.0", "0.2.0")}
    assert len(versions) == 3 and plain.hash() in versions
    # a global target's reduction and floor change the widths: other cells
    global_ = {CellConfig("lenet5-digits", "l1", "macs-2x", (), 0, budget, macs_reduction=f,
                          floor=floor).hash() for f, floor in ((2.0, 0.1), (3.0, 0.1), (2.0, 0.2))}
    assert len(global_) == 3


def test_two_settings_of_a_criterion_are_two_rows_of_the_board(tmp_path, capsys):
    from prunebench.cli import main

    args = ["run", "--budget", "smoke", "--no-scratch", "--results", str(tmp_path)]
    assert main([*args, "--criteria", "stability"]) == 0
    assert main([*args, "--criteria", "stability:lam=0.5"]) == 0  # not "done before"
    assert "skipped" not in capsys.readouterr().out
    board = (tmp_path / "leaderboards" / "lenet5-digits.md").read_text()
    assert "| stability |" in board and "| stability (lam=0.5) |" in board
    settings = sorted(json.loads(p.read_text())["criterion"]["settings"].get("lam", 0)
                      for p in (tmp_path / "lenet5-digits").glob("*.json"))
    assert settings == [0, 0.5]


def test_a_plan_built_in_python_has_its_settings_checked_like_the_command_line(tmp_path):
    """A notebook's plan: typed values, converted and checked by the constructor when the matrix
    is built; a default names the plain row, an int is taken as a float."""
    from prunebench import scenarios
    from prunebench.harness.matrix import build_matrix
    from prunebench.harness.plan import RunOptions, RunPlan
    from prunebench.protocol.config import CriterionSpec

    def cells(*specs):
        plan = RunPlan(scenarios.get("lenet5-digits"), specs, (lenet5.TARGETS["prun1"],), (0,),
                       lenet5.DIGITS_BUDGETS["smoke"], controls=())
        return [c.config for c in build_matrix(plan, RunOptions(tmp_path)).cells[0]]

    plain, tuned, whole = cells(  # the default is the plain row's cell: one cell, not two
        CriterionSpec("stability"), CriterionSpec("stability", (("lam", 1e-5),)),
        CriterionSpec("stability", (("lam", 5e-6),)), CriterionSpec("stability", (("lam", 1),)))
    assert cells(CriterionSpec("stability", (("lam", 1e-5),)))[0].hash() == plain.hash()
    assert plain.label == "stability"
    assert tuned.label == "stability (lam=5e-06)" and whole.settings == (("lam", 1.0),)
    with pytest.raises(PrunebenchError, match="no setting 'nosuch'; it accepts: lam"):
        cells(CriterionSpec("stability", (("nosuch", 1),)))
    with pytest.raises(PrunebenchError, match="setting lam=True is not float"):
        cells(CriterionSpec("stability", (("lam", True),)))


def test_without_criteria_a_row_runs_the_settings_its_paper_used():
    """Seed 001 sec. 4.4 trains ResNet-50 with lambda 5e-6; elsewhere stability keeps 1e-5. A
    criterion the user names runs with the settings the user gives."""
    from prunebench.protocol.config import CriterionSpec

    resnet = make_plan(scenario="resnet50-imagenet", budget="smoke").criteria
    assert CriterionSpec("stability", (("lam", 5e-6),)) in resnet
    assert CriterionSpec("l1") in resnet and CriterionSpec("stability") not in resnet
    assert CriterionSpec("stability") in make_plan(budget="smoke").criteria
    assert make_plan(scenario="resnet50-imagenet", budget="smoke", criteria="stability"
                     ).criteria == (CriterionSpec("stability"),)
