"""`prunebench join` (issue 42): a new criterion joins a small board in one command, from the
board's own baselines, on the board's targets and seeds, paired with the rows already there."""

import pytest

from prunebench.cli import main
from tests.plugin_sources import GOOD

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it


def test_a_new_criterion_joins_a_board_without_retraining_a_baseline(tmp_path, install_dist,
                                                                      capsys):
    results = tmp_path / "board"
    assert main(["run", "--budget", "smoke", "--criteria", "l1,l2", "--target", "prun1,half",
                 "--seeds", "0,1", "--controls", "none", "--results", str(results)]) == 0
    baselines = sorted((results / "baselines").rglob("*.pt"))
    stamps = [p.stat().st_mtime_ns for p in baselines]
    install_dist("good-criteria", {"keep-last": "good_criteria:KeepLast"},
                 {"good_criteria": GOOD})
    capsys.readouterr()
    assert main(["join", "--criteria", "keep-last", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "training baseline" not in out.lower()
    assert sorted((results / "baselines").rglob("*.pt")) == baselines
    assert [p.stat().st_mtime_ns for p in baselines] == stamps
    joined = sorted(p.name.split("--")[1] + "/" + p.name.split("--")[3]
                    for p in (results / "lenet5-digits").glob("keep-last--*.json"))
    assert joined == ["half/seed0", "half/seed1", "prun1/seed0", "prun1/seed1"]
    board = (results / "leaderboards" / "lenet5-digits.md").read_text()
    row = next(line for line in board.splitlines() if "| keep-last |" in line)
    assert row.split("|")[4].strip() == "2"  # paired on the board's two seeds
    assert main(["join", "--criteria", "keep-last", "--results", str(results)]) == 0
    assert "skipped, done before" in capsys.readouterr().out  # only missing cells run


def test_joining_never_trains_a_missing_baseline(tmp_path, capsys):
    results = tmp_path / "board"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--seeds", "0", "--controls",
                 "none", "--results", str(results)]) == 0
    for checkpoint in (results / "baselines").rglob("*.pt"):
        checkpoint.unlink()
    capsys.readouterr()
    assert main(["join", "--criteria", "l2", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "join runs only from the board's own baselines" in err
    assert not list((results / "baselines").rglob("*.pt"))


def test_joining_needs_a_board_and_an_installed_criterion(tmp_path, capsys):
    assert main(["join", "--criteria", "nosuch", "--results", str(tmp_path)]) == 2
    assert "unknown criterion 'nosuch'" in capsys.readouterr().err
    assert main(["join", "--criteria", "l1", "--results", str(tmp_path)]) == 2
    assert "no results of any scenario to join" in capsys.readouterr().err
