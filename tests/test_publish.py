"""What the published boards are made of: several compression levels in one run, the scratch
reference row, local jobs, the time left, speed boards, and the committed boards themselves."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prunebench.cli import main
from prunebench.cli.eta import MatrixClock
from prunebench.harness.cells.scratch import reinitialise
from prunebench.models.lenet5 import LeNet5
from prunebench.report.speed_board import render as render_speed
from prunebench.results.record import SpeedSweep

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

REPO = Path(__file__).resolve().parent.parent


def test_matrix_clock_counts_epochs_and_drops_work_not_needed():
    now = [0.0]
    clock = MatrixClock(lambda: now[0])
    clock.start(100)  # e.g. a 20-epoch baseline and 80 epochs of cells
    assert clock.seconds_left() is None
    clock.phase(20)
    now[0] = 50.0
    for _ in range(10):
        clock.advance()
    assert clock.seconds_left() == pytest.approx(5.0 * 90)  # 5 s per epoch, 90 epochs left
    clock.phase(12)  # the baseline stopped at 10 of 20 (resumed): 10 epochs were not needed
    clock.drop(12)  # a cell finished before
    assert clock.seconds_left() == pytest.approx(5.0 * 68)
    assert clock.text() == "matrix: ~0:05:40 left"


def test_scratch_reinitialises_for_the_narrow_shape():
    """PyTorch's default conv init draws from ±1/sqrt(fan_in): 1/sqrt(20*25) = 0.045 in the
    wide conv2, 1/sqrt(4*25) = 0.1 once it sees 4 channels. A slice of the wide weights would stay
    under 0.045; a fresh draw for the narrow layer goes well beyond it."""
    torch.manual_seed(0)
    model = LeNet5()
    reinitialise(model, ("conv1", "conv2"), (4, 14), torch.zeros(1, 1, 28, 28))
    weight = model.conv2.weight
    assert weight.shape == (14, 4, 5, 5)
    assert 0.06 < weight.abs().max() <= 0.1
    assert model.fc1.in_features == 14 * 4 * 4
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_one_run_covers_several_targets_with_the_control_rows(tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--target", "prun1,prun2",
                 "--results", str(results), "--controls", "scratch-e,unpruned-ft"]) == 0
    records = [json.loads(p.read_text())
               for p in sorted((results / "lenet5-digits").glob("*.json"))]
    assert sorted((r["criterion"]["name"], r["target"]["name"]) for r in records) == [
        ("l1", "prun1"), ("l1", "prun2"), ("scratch-e", "prun1"), ("scratch-e", "prun2"),
        ("unpruned-ft", "unpruned")]  # one unpruned-ft per seed, shown in every table
    scratch = next(r for r in records if r["criterion"]["name"] == "scratch-e"
                   and r["target"]["name"] == "prun2")
    assert scratch["role"] == {"kind": "control", "control": "scratch-e"}
    assert scratch["status"] == "ok"
    assert scratch["widths"]["pruned"] == [3, 8] and scratch["pruned"]["macs"] == 150_600
    assert scratch["pruned"]["metrics"]["top1_before_finetune"] is None
    assert scratch["cost"]["training_epochs"] == 2 + 1 * 1 + 1  # smoke: baseline 2, 1 x 1, final 1
    assert all(r["run_started"] <= r["finished"] for r in records)
    board = (results / "leaderboards" / "lenet5-digits.md").read_text()
    assert board.count("| scratch-e | prunebench (control) ") == 2
    assert board.count("| unpruned-ft | prunebench (control) ") == 2
    assert "## Rank stability across compression levels" in board and "Wall time:" in board
    capsys.readouterr()
    # `--controls scratch-e` runs that control alone, and a finished one is not redone
    assert main(["run", "--budget", "smoke", "--controls", "scratch-e", "--criteria", "scratch-e",
                 "--target", "prun1", "--results", str(results)]) == 0
    assert "scratch-e, seed 0: skipped, done before" in capsys.readouterr().out


def test_jobs_share_the_matrix_under_one_command(tmp_path):
    args = ["run", "--budget", "smoke", "--criteria", "l1,random", "--seeds", "0,1",
            "--results", "res", "--jobs", "2", "--controls", "scratch-e"]
    done = subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(p.read_text())
               for p in (tmp_path / "res" / "lenet5-digits").glob("*.json")]
    cells = sorted((r["criterion"]["name"], r["seed"]) for r in records)
    assert cells == sorted((c, s) for c in ("l1", "random", "scratch-e") for s in (0, 1))
    assert {r["command"] for r in records} == {"prunebench " + " ".join(args)}
    assert {r["environment"]["torch_threads"] for r in records} == {1}  # the budget's threads
    assert {r["budget"]["threads"] for r in records} == {1}
    assert len({r["run_started"] for r in records}) == 1
    ran = [line for line in done.stdout.splitlines() if "✓" in line]
    assert len(ran) == len(cells)  # each cell once, though both jobs walk the whole matrix
    # every cell line is relayed from a job (which job takes which cell depends on timing: on a
    # loaded machine one job may take them all)
    assert all(line.startswith(("job 1/2 ", "job 2/2 ")) for line in ran)
    assert "baseline (unpruned)" in done.stdout  # the parent tabulates all of it
    assert len(list((tmp_path / "res" / "baselines" / "lenet5-digits").glob("*.pt"))) == 2


def test_speed_sweep_saved_and_rendered_as_a_board(tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["speed", "--scenario", "lenet5-digits", "--target", "prun2", "--batch-sizes",
                 "1,4", "--runtime", "eager", "--repeats", "1", "--results", str(results)]) == 0
    saved = json.loads((results / "speed" / "lenet5-digits--prun2--cpu.json").read_text())
    assert saved["command"].startswith("prunebench speed --scenario lenet5-digits")
    assert [row["batch_size"] for row in saved["rows"]] == [1, 4]
    row = saved["rows"][1]
    assert row["speedup_theoretical"] == pytest.approx(2_293_000 / 150_600)
    text = render_speed("cpu", [SpeedSweep.from_json(saved)], "prunebench leaderboard")
    assert f"| eager | 4 | eager / eager | {row['original']['median_ms']:.2f} |" in text
    assert f"{row['speedup_theoretical']:.2f}x | {row['speedup_real']:.2f}x" in text
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "speed-cpu.md").exists()
    assert (tmp_path / "out" / "speed-lenet5-digits-prun2-cpu.png").stat().st_size > 1000
    assert "not measured yet" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.skipif(not (REPO / "leaderboards" / "results").is_dir(),
                    reason="no committed leaderboards")
def test_committed_leaderboards_regenerate_byte_for_byte(tmp_path):
    """`prunebench leaderboard`, run as the boards say, rebuilds every committed file."""
    shutil.copytree(REPO / "leaderboards", tmp_path / "leaderboards",
                    ignore=shutil.ignore_patterns("baselines", ".locks"))
    committed = tmp_path / "committed"
    shutil.copytree(tmp_path / "leaderboards", committed,
                    ignore=shutil.ignore_patterns("results"))
    for generated in (tmp_path / "leaderboards").glob("*.*"):
        generated.unlink()
    done = subprocess.run([sys.executable, "-m", "prunebench", "leaderboard", "--results",
                           "leaderboards/results", "--out", "leaderboards"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in committed.glob("*.*"))
    assert "lenet5-fashionmnist.md" in names and "speed-cpu.md" in names and "README.md" in names
    assert sorted(p.name for p in (tmp_path / "leaderboards").glob("*.*")) == names
    match, mismatch, errors = filecmp.cmpfiles(committed, tmp_path / "leaderboards", names,
                                               shallow=False)
    assert not mismatch and not errors


def test_jobs_started_beside_a_source_tree_use_the_installed_package(tmp_path):
    """`--jobs 2` started from the folder that holds a clone named `prunebench` (issue 39):
    the jobs must import the installed package, not that folder."""
    clone = tmp_path / "prunebench"
    shutil.copytree(REPO / "prunebench", clone / "prunebench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "plugins").mkdir()  # a clone's plugins/ folder once shadowed a prunebench module
    command = Path(sys.executable).parent / "prunebench"  # the installed command, as a user runs
    done = subprocess.run([str(command), "run", "--budget", "smoke",
                           "--criteria", "l1", "--controls", "none", "--seeds", "0,1",
                           "--results", "res", "--jobs", "2"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list((tmp_path / "res" / "lenet5-digits").glob("l1--*.json"))) == 2
