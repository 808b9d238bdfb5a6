"""`prunebench verify` (issue 42): a result's cell computed again from its record, every number
compared, and an edited number named."""

import json
import shutil

import pytest

from prunebench.cli import main

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    results = tmp_path_factory.mktemp("made") / "results"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--seeds", "0", "--controls",
                 "none", "--results", str(results)]) == 0
    return results


@pytest.fixture
def results(made, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(made, copy)
    return copy


def result_file(results):
    (path,) = (results / "lenet5-digits").glob("l1--*.json")
    return path


def edited(path, change):
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def verify_json(capsys, *args):
    code = main(["verify", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_untouched_result_is_equal_bit_for_bit(results, capsys):
    before = sorted(p.name for p in (results / "baselines").rglob("*"))
    code, (report,) = verify_json(capsys, str(results))
    assert code == 0 and report["passed"] and report["exact"] and report["differences"] == []
    assert sorted(p.name for p in (results / "baselines").rglob("*")) == before  # none trained


def test_an_edited_accuracy_fails_and_is_named(results, capsys):
    path = result_file(results)
    true = json.loads(path.read_text())["pruned"]["metrics"]["top1"]
    edited(path, lambda v: v["pruned"]["metrics"].update(top1=true + 0.01))
    code, (report,) = verify_json(capsys, str(path))
    assert code == 1 and not report["passed"]
    assert report["differences"] == [{"field": "pruned.metrics.top1", "recorded": true + 0.01,
                                      "now": true, "within_spread": None}]


def test_edited_kept_filters_fail_and_are_named(results, capsys):
    path = result_file(results)
    true = json.loads(path.read_text())["history"][0]["kept"]["conv1"]
    fake = [i for i in range(20) if i not in true][:len(true)]
    edited(path, lambda v: v["history"][0]["kept"].update(conv1=fake))
    code, (report,) = verify_json(capsys, str(path))
    assert code == 1
    assert {"field": "history[1].kept.conv1", "recorded": fake, "now": true,
            "within_spread": None} in report["differences"]


def test_a_sample_checks_that_many_cells(results, capsys):
    assert main(["run", "--budget", "smoke", "--criteria", "l2,random", "--seeds", "0",
                 "--controls", "none", "--results", str(results)]) == 0
    capsys.readouterr()
    code, report = verify_json(capsys, str(results), "--sample", "2")
    assert code == 0 and len(report) == 2 and all(r["passed"] for r in report)
    assert main(["verify", str(results), "--sample", "0"]) == 2


def test_recorded_verifications_are_counted_on_the_board(results, capsys):
    board = results / "leaderboards" / "lenet5-digits.md"
    assert main(["leaderboard", "--results", str(results)]) == 0
    assert "| verified |" not in board.read_text()  # no verification: no column, as before
    assert main(["verify", str(result_file(results)), "--record"]) == 0
    (saved,) = (results / "verified").glob("*.json")
    assert json.loads(saved.read_text())["passed"] is True
    assert main(["leaderboard", "--results", str(results)]) == 0
    text = board.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| group"))
    row = next(line for line in text.splitlines() if "| l1 |" in line)
    column = [c.strip() for c in header.split("|")].index("verified")
    assert row.split("|")[column].strip() == "1 of 1 (1 exact)"
    capsys.readouterr()
    code, report = verify_json(capsys, str(results))  # the folder: its verifications are not cells
    assert code == 0 and len(report) == 1


def test_ci_checks_the_result_files_a_branch_adds(made, tmp_path):
    """.ci/verify-submission in a repository whose main holds a board's baseline and whose
    branch adds a result: it passes, and fails once the branch's result is edited."""
    import subprocess
    from pathlib import Path

    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    script = Path(__file__).resolve().parent.parent / ".ci" / "verify-submission"
    shutil.copy(script, repo / ".ci" / "verify-submission")
    shutil.copytree(made / "baselines", repo / "results" / "baselines")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "the board's baselines")
    git("checkout", "-qb", "submission")
    added = repo / "results" / "lenet5-digits" / result_file(made).name
    added.parent.mkdir()
    shutil.copy(result_file(made), added)
    git("add", ".")
    git("commit", "-qm", "a new cell")

    def check():
        return subprocess.run(["bash", ".ci/verify-submission"], cwd=repo, capture_output=True,
                              text=True)

    done = check()
    assert done.returncode == 0 and "1 new result files; checking 2" in done.stdout, done.stderr
    assert "every number equal" in done.stdout
    edited(added, lambda v: v["pruned"]["metrics"].update(top1=1.0))
    git("commit", "-qam", "an edited cell")
    done = check()
    assert done.returncode == 1 and "pruned.metrics.top1" in done.stdout


def test_on_another_machine_kind_a_difference_is_judged_by_the_seeds_spread(tmp_path, capsys):
    """The record says it was made on another instruction set: no exact verdict is possible, so
    a number may differ by as much as the row's other seeds differ among themselves."""
    results = tmp_path / "results"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--seeds", "0,1,2",
                 "--controls", "none", "--results", str(results)]) == 0
    path = next((results / "lenet5-digits").glob("l1--*seed0--*.json"))
    others = [json.loads(p.read_text())["pruned"]["metrics"]["top1"]
              for p in (results / "lenet5-digits").glob("l1--*.json") if p != path]
    spread = max(others) - min(others)
    assert spread > 0
    true = json.loads(path.read_text())["pruned"]["metrics"]["top1"]
    edited(path, lambda v: v["environment"].update(cpu_capability="ANOTHER"))
    capsys.readouterr()
    code, (report,) = verify_json(capsys, str(path))
    assert code == 0 and not report["exact"] and report["differences"] == []
    assert any("ANOTHER" in note for note in report["machine"])
    edited(path, lambda v: v["pruned"]["metrics"].update(top1=true + spread / 2))
    code, (report,) = verify_json(capsys, str(path))
    assert code == 0 and report["differences"][0]["within_spread"] == f"seeds range {spread:.4g}"
    edited(path, lambda v: v["pruned"]["metrics"].update(top1=true + 2 * spread))
    code, (report,) = verify_json(capsys, str(path))
    assert code == 1 and report["differences"][0]["within_spread"] is None
