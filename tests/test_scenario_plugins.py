"""Rows as plugins: the entry-point group `prunebench.scenarios` carries the core's rows and a
third party's alike; a broken or unusable plugin is refused in one line and fails only itself."""

from importlib.metadata import EntryPoint

import pytest

from prunebench import scenarios
from prunebench.cli import main

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

CORE_ROWS = ["lenet5-digits", "lenet5-mnist", "lenet5-fashionmnist", "lenet5bn-fashionmnist",
             "vgg16-cifar10", "vgg16-cifar100", "resnet50-imagenet", "fasterrcnn-coco",
             "fasterrcnn-coco-transfer"]
PLUGINS = [EntryPoint("mine", "tests.scenario_plugins:good", scenarios.GROUP),
           EntryPoint("noconv", "tests.scenario_plugins:no_convs", scenarios.GROUP),
           EntryPoint("nogroup", "tests.scenario_plugins:missing_group", scenarios.GROUP),
           EntryPoint("crash", "tests.no_such_module:rows", scenarios.GROUP),
           EntryPoint("dupe", "tests.scenario_plugins:duplicate", scenarios.GROUP),
           EntryPoint("odd", "tests.scenario_plugins:not_a_scenario", scenarios.GROUP)]


@pytest.fixture
def installed(monkeypatch):
    """The real entry points plus the test plugins, read afresh; the registry reset after."""
    real = scenarios.entry_points
    monkeypatch.setattr(scenarios, "entry_points",
                        lambda group: [*real(group=group), *PLUGINS])
    scenarios.refresh()
    yield
    monkeypatch.undo()
    scenarios.refresh()


def test_the_core_registers_its_rows_through_the_entry_point_group():
    assert list(scenarios.registry()) == CORE_ROWS  # the default row first
    assert {s.source.split()[0] for s in scenarios.registry().values()} == {"prunebench"}
    assert scenarios.broken() == []


def test_broken_scenario_plugins_are_refused_in_one_line_and_the_others_still_list(
        installed, capsys):
    assert list(scenarios.registry()) == [*CORE_ROWS, "my-lenet", "no-convs", "no-group"]
    lines = [b.line() for b in scenarios.broken()]
    assert lines == [
        "scenario plugin 'crash' (tests.no_such_module:rows) from unknown distribution: import "
        "failed with ModuleNotFoundError: No module named 'tests.no_such_module'",
        "scenario plugin 'dupe' (tests.scenario_plugins:duplicate) from unknown distribution: "
        "scenario 'lenet5-digits' is already provided by prunebench 0.1.0; rename it",
        "scenario plugin 'odd' (tests.scenario_plugins:not_a_scenario) from unknown "
        "distribution: gave 'lenet5' where a prunebench.scenarios.base.Scenario (or a list of "
        "them) belongs"]
    assert main(["list", "--scenarios"]) == 0
    out, err = capsys.readouterr()
    out = " ".join(out.split())
    assert "my-lenet" in out and "lenet5-digits" in out and "refused (below)" in out
    assert err.splitlines() == [
        "scenario 'no-convs' from unknown distribution is refused: its model has no Conv2d to "
        "prune",
        "scenario 'no-group' from unknown distribution is refused: it names group 'conv9': model "
        "has no layer named 'conv9'", *lines]
    # a refused row stops a run and a measurement before any work, in one line
    for command in (["run", "--scenario", "no-group", "--budget", "smoke"],
                    ["flops", "--scenario", "no-convs"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "from unknown distribution is refused: it" in err
    assert main(["run", "--scenario", "crash"]) == 2  # named as its entry point: why it broke
    assert capsys.readouterr().err == f"prunebench: error: {lines[0]}\n"


FAULTY = [EntryPoint("exits", "tests.scenario_exits:rows", scenarios.GROUP),
          EntryPoint("parts", "tests.scenario_plugins:faulty_parts", scenarios.GROUP)]


def test_a_scenario_plugins_own_code_fails_in_one_line_naming_it(monkeypatch, tmp_path, capsys):
    real = scenarios.entry_points
    monkeypatch.setattr(scenarios, "entry_points", lambda group: [*real(group=group), *FAULTY])
    scenarios.refresh()
    try:
        assert main(["list", "--scenarios"]) == 0  # an exit at import is a broken plugin
        err = capsys.readouterr().err
        assert "scenario plugin 'exits' (tests.scenario_exits:rows) from unknown distribution: " \
            "import failed with SystemExit: 3" in err
        cases = {"bad-loader": "its data loader raised OSError: the disk is on fire",
                 "none-loader": "its data loader returned NoneType, not a data set",
                 "bad-forward": "model cannot take the data's samples of shape (1, 28, 28)"}
        for row, message in cases.items():
            assert main(["run", "--scenario", row, "--budget", "smoke", "--criteria", "l1",
                         "--results", str(tmp_path / row)]) == 2
            captured = capsys.readouterr()
            err = captured.err.strip()
            assert len(err.splitlines()) == 1 and message in err, err
            assert f"'{row}'" in err or row in err
            assert captured.out == "" and not (tmp_path / row / "baselines").exists()
        assert main(["tiny-data", "bad-writer", str(tmp_path / "tiny")]) == 2
        err = capsys.readouterr().err.strip()
        assert err == ("prunebench: error: scenario 'bad-writer' from unknown distribution: its "
                       "tiny-data writer raised PermissionError: no writing today; fix the "
                       "plugin, or check --data-root")
    finally:
        monkeypatch.undo()
        scenarios.refresh()


def test_a_plugins_row_runs_like_the_core_ones(installed, tmp_path):
    assert main(["flops", "--scenario", "my-lenet", "--target", "half"]) == 0
    assert main(["run", "--scenario", "my-lenet", "--budget", "smoke", "--criteria", "l1",
                 "--no-scratch", "--results", str(tmp_path)]) == 0
    assert list((tmp_path / "my-lenet").glob("l1--prun1--smoke--seed0--*.json"))
