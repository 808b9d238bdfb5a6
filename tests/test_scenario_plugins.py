"""Rows as plugins: the entry-point group `prunebench.scenarios` carries the core's rows and a
third party's alike; a broken or unusable plugin is refused in one line and fails only itself."""

from importlib.metadata import EntryPoint

import pytest

from prunebench import scenarios
from prunebench.cli import main
from prunebench.errors import PrunebenchError
from prunebench.registry import providers

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

CORE_ROWS = ["lenet5-digits", "lenet5-mnist", "lenet5-fashionmnist", "lenet5bn-fashionmnist",
             "vgg16-cifar10", "vgg16-cifar100", "resnet50-imagenet", "fasterrcnn-coco",
             "fasterrcnn-coco-transfer"]
PLUGINS = [EntryPoint("my-lenet", "tests.scenario_plugins:good", scenarios.GROUP),
           EntryPoint("no-convs", "tests.scenario_plugins:no_convs", scenarios.GROUP),
           EntryPoint("no-group", "tests.scenario_plugins:missing_group", scenarios.GROUP),
           EntryPoint("crash", "tests.no_such_module:rows", scenarios.GROUP),
           EntryPoint("lenet5-digits", "tests.scenario_plugins:duplicate", scenarios.GROUP),
           EntryPoint("odd", "tests.scenario_plugins:not_a_scenario", scenarios.GROUP),
           EntryPoint("misnamed", "tests.scenario_plugins:good", scenarios.GROUP)]


def _add(monkeypatch, extra):
    """The real entry points plus `extra`, read afresh."""
    real = providers.entry_points
    monkeypatch.setattr(providers, "entry_points", lambda group: [
        *real(group=group), *(e for e in extra if e.group == group)])
    scenarios.refresh()


@pytest.fixture
def installed(monkeypatch):
    """The real entry points plus the test plugins; the registry reset after."""
    _add(monkeypatch, PLUGINS)
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
        "scenario plugin 'lenet5-digits' (tests.scenario_plugins:duplicate) from unknown "
        "distribution: scenario 'lenet5-digits' is prunebench 0.1.0's (first party); rename "
        "yours",
        "scenario plugin 'crash' (tests.no_such_module:rows) from unknown distribution: import "
        "failed with ModuleNotFoundError: No module named 'tests.no_such_module'",
        "scenario plugin 'misnamed' (tests.scenario_plugins:good) from unknown distribution: "
        "gave scenario 'my-lenet'; name the entry point after its row",
        "scenario plugin 'odd' (tests.scenario_plugins:not_a_scenario) from unknown "
        "distribution: gave 'lenet5' where a prunebench.scenarios.base.Scenario belongs (one "
        "entry point per row, named after it)"]
    assert scenarios.get("lenet5-digits").source.startswith("prunebench ")  # the core's row
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
    assert capsys.readouterr().err == f"prunebench: error: {lines[1]}\n"


FAULTY = [EntryPoint("exits", "tests.scenario_exits:rows", scenarios.GROUP),
          *(EntryPoint(row, f"tests.scenario_plugins:{row.replace('-', '_')}", scenarios.GROUP)
            for row in ("bad-loader", "none-loader", "bad-forward", "bad-writer"))]


def test_a_scenario_plugins_own_code_fails_in_one_line_naming_it(monkeypatch, tmp_path, capsys):
    _add(monkeypatch, FAULTY)
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


ROW_SOURCE = """
from dataclasses import replace
from prunebench import scenarios

def row():
    return replace(scenarios.get("lenet5-digits"), name="shared-row", source="")
"""


def test_rows_are_named_without_importing_and_a_name_two_plugins_claim_is_refused_for_both(
        install_dist):
    """The criteria's rule (tests/test_plugins.py), the same code: neither install order nor
    sys.path decides between two third parties."""
    import sys

    install_dist("rows-a", {"shared-row": "rows_a:row"}, {"rows_a": ROW_SOURCE},
                 group=scenarios.GROUP)
    install_dist("rows-b", {"shared-row": "rows_b:row"}, {"rows_b": ROW_SOURCE},
                 group=scenarios.GROUP, version="2.0")
    scenarios.refresh()
    try:
        assert scenarios.names()[-1] == "shared-row"
        with pytest.raises(PrunebenchError) as info:
            scenarios.get("shared-row")
        assert str(info.value) == (
            "scenario plugin 'shared-row' (rows_a:row) from rows-a 1.0: provided by several "
            "distributions (rows-a 1.0, rows-b 2.0); uninstall all but one")
        assert "rows_a" not in sys.modules and "rows_b" not in sys.modules  # nothing imported
    finally:
        scenarios.refresh()
