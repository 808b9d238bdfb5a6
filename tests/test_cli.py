"""The command line: one clear line and a non-zero exit for bad input; a working main path."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench.cli import main


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["run", "--criteria", "nosuch"], "unknown criterion 'nosuch'"),
    (["run", "--scenario", "nosuch"], "unknown scenario 'nosuch'"),
    (["run", "--ratio", "1.5"], "--ratio 1.5 must be strictly between 0 and 1"),
    (["run", "--widths", "4,14,3"], "--widths has 3 values"),
    (["run", "--widths", "0,14"], "width 0 for layer conv1"),
    (["run", "--budget", "forever"], "unknown budget 'forever'"),
    (["run", "--seeds", "x"], "--seeds 'x' must be comma-separated integers"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--target", "prun1,nosuch"], "unknown target 'nosuch' for lenet5-digits"),
    (["run", "--criteria", "scratch", "--no-scratch"],
     "--criteria names the control 'scratch' and --controls leaves it out"),
    (["run", "--jobs", "0"], "--jobs 0 must be a positive number of processes"),
    (["run", "--criteria", "stability:lam=1e-5:lam=2e-5"],
     "--criteria: stability sets 'lam' twice; give each setting once"),
    (["run", "--criteria", "scratch-e:lam=1"],
     "--criteria: the control 'scratch-e' takes no settings (got lam=1)"),
    (["run", "--controls", "scratch"], "--controls: unknown control 'scratch'"),
    (["run", "--jobs", "2", "--shard", "1/2"], "--jobs makes its own shards"),
    (["run", "--scenario", "lenet5-mnist", "--data-root", "/nonexistent"],
     "--data-root /nonexistent is not a folder"),
    (["run", "--scenario", "lenet5-mnist", "--data-root", "."],
     "--data-root . holds no MNIST idx files (looked in ."),
    (["show", "/nonexistent.json"], "result file /nonexistent.json does not exist"),
    (["leaderboard", "--results", "/nonexistent"], "results folder /nonexistent does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prunebench: error: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_no_traceback_from_the_installed_command(tmp_path):
    done = run_cli("run", "--criteria", "l1,nosuch", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip()] and "unknown criterion 'nosuch'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""  # no header, no progress bars: refused before any output
    assert not (tmp_path / "prunebench-results").exists()  # refused before any work


def test_version_and_list(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "prunebench 0.1.0" in capsys.readouterr().out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("random", "l1", "l2"):
        assert name in out
    assert "prunebench-baselines" in out and "data-free" in out
    assert main(["list", "--scenarios"]) == 0
    out = capsys.readouterr().out
    assert "lenet5-digits" in out and "lenet5-fashionmnist" in out and "lenet5-mnist" in out


def test_run_show_and_regenerate_leaderboard(tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["run", "--budget", "smoke", "--criteria", "l1,random", "--results",
                 str(results)]) == 0
    out = capsys.readouterr().out
    assert "✓ l1, seed 0" in out and "✓ random, seed 0" in out and "baseline (unpruned)" in out
    board = results / "leaderboards" / "lenet5-digits.md"
    text = board.read_text()
    assert "| 1 |" in text and "| random |" in text and "119,028" in text
    assert "Made by: `prunebench run --budget smoke --criteria l1,random" in text

    out_dir = tmp_path / "boards"
    assert main(["leaderboard", "--results", str(results), "--out", str(out_dir)]) == 0
    regenerated = (out_dir / "lenet5-digits.md").read_text()
    assert regenerated.replace(str(out_dir), "X") == \
        text.replace(str(results / "leaderboards"), "X")
    assert main(["leaderboard", "--results", str(results), "--out", str(out_dir)]) == 0
    assert (out_dir / "lenet5-digits.md").read_text() == regenerated  # byte for byte

    result = next((results / "lenet5-digits").glob("l1--*.json"))
    capsys.readouterr()
    assert main(["show", str(result)]) == 0
    out = capsys.readouterr().out
    assert "264,200" in out and "2,293,000" in out and "4,14" in out


def test_failed_cells_exit_1_after_writing_everything(tmp_path, capsys, install_dist):
    from tests.plugin_sources import FAULTY

    install_dist("faulty-criteria", {"raises": "faulty_criteria:Raises",
                                     "duplicates": "faulty_criteria:Duplicates"},
                 {"faulty_criteria": FAULTY})
    results = tmp_path / "res"
    assert main(["run", "--budget", "smoke", "--no-scratch", "--criteria",
                 "raises,duplicates,l1", "--results",
                 str(results)]) == 1
    captured = capsys.readouterr()
    assert "2 of 3 cells failed" in captured.err
    assert "select() on conv1 returned duplicate indices [0]" in captured.out  # not eaten as markup
    text = (results / "leaderboards" / "lenet5-digits.md").read_text()
    assert "failed: criterion 'raises': select() on conv1 raised ZeroDivisionError: boom" in text
    assert "| – | l1 |" in text  # the one scored row: no test, no letter


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="apt-get install dataset-fashion-mnist")
@pytest.mark.slow
def test_real_fashion_mnist_smoke_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PRUNEBENCH_DATA"}
    done = run_cli("run", "--scenario", "lenet5-fashionmnist", "--budget", "smoke", "--criteria",
                   "l1", "--results", str(tmp_path), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "leaderboards" / "lenet5-fashionmnist.md").read_text()
    assert "/usr/share/datasets/fashion-mnist" in text
    header = next(line.split("|") for line in text.splitlines() if line.startswith("| group"))
    row = next(line.split("|") for line in text.splitlines()
               if line.startswith("|") and line.split("|")[2].strip() == "l1")
    after = row[[cell.strip() for cell in header].index("top1 after FT")]
    assert float(after.split("±")[0]) > 40  # well above the 10% of chance after a short schedule


def test_result_of_another_schema_version_is_named_and_left_out(tmp_path, capsys):
    folder = tmp_path / "res" / "lenet5-digits"
    folder.mkdir(parents=True)
    (folder / "old.json").write_text('{"schema_version": 0, "scenario": "lenet5-digits"}')
    assert main(["leaderboard", "--results", str(tmp_path / "res"), "--out", str(tmp_path)]) == 2
    warning, error = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("warning: skipped result file") and "old.json" in warning
    assert "has schema version 0, this prunebench reads 3, 2 and 1" in warning
    assert error.startswith("prunebench: error: no usable result files")


def test_debug_shows_the_traceback():
    from prunebench.errors import PrunebenchError

    with pytest.raises(PrunebenchError, match="unknown criterion 'nosuch'"):
        main(["--debug", "run", "--criteria", "nosuch"])


def test_every_option_of_every_command_says_what_it_does():
    import argparse

    from prunebench.cli import build_parser

    missing = [(name, a.dest) for action in build_parser()._actions
               if isinstance(action, argparse._SubParsersAction)
               for name, sub in action.choices.items() for a in sub._actions if not a.help]
    assert missing == []


@pytest.mark.slow
def test_speed_and_memory_say_where_their_plot_went_and_keep_json_clean(tmp_path, capsys):
    plot = tmp_path / "speed.png"
    assert main(["speed", "--scenario", "lenet5-digits", "--runtime", "eager", "--batch-sizes",
                 "2", "--repeats", "1", "--runs", "1", "--plot", str(plot), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["batch_size"] == 2  # stdout: only the JSON
    assert f"wrote {plot}" in captured.err and plot.is_file()
    memory_plot = tmp_path / "memory.png"
    assert main(["memory", "--scenario", "lenet5-digits", "--batch-sizes", "2", "--plot",
                 str(memory_plot)]) == 0
    assert f"wrote {memory_plot}" in capsys.readouterr().out and memory_plot.is_file()


def test_leaderboard_without_out_writes_beside_the_results_not_into_the_current_folder(
        tmp_path, monkeypatch, capsys):
    """Issue 22 item 2: in a clone it rewrote the tracked ./leaderboards."""
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "res"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--no-scratch", "--results",
                 str(results)]) == 0
    (results / "leaderboards").rename(tmp_path / "first-boards")
    assert main(["leaderboard", "--results", str(results)]) == 0
    assert (results / "leaderboards" / "lenet5-digits.md").is_file()
    assert not (tmp_path / "leaderboards").exists()


def test_the_terminal_board_fits_100_columns_with_whole_names_and_one_line_reasons():
    import io

    from rich.console import Console

    from prunebench.cli.run import print_board
    from prunebench.report.board import build_boards
    from tests.test_leaderboard import RECORDS, record

    reason = "criterion 'bn-scale': layer conv1 has no BatchNorm scale to rank by"
    records = [*RECORDS, *(record("grad-batch-mean-abs", s, 90.0) for s in range(3)),
               record("bn-scale", 0, 0, status="not-applicable", error=reason)]
    terminal = Console(width=100, record=True, file=io.StringIO())
    print_board(build_boards(records, "prunebench leaderboard")[0], terminal)
    lines = terminal.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any("│ grad-batch-mean-abs │" in line for line in lines)  # the name whole
    bn = [line for line in lines if "│ bn-scale" in line]
    assert len(bn) == 1 and "not applicable: crite…" in bn[0]  # one line, cut


def test_dry_run_counts_the_cells_and_epochs_a_run_would_train(tmp_path, capsys):
    """lenet5-digits smoke (baseline 2 epochs, one step of 1 fine-tuning epoch, a final phase of
    1), l1 and random at prun1 and macs-2x, seed 0: 4 criterion cells of 2 epochs; the controls
    scratch-e x 2 (2 + 1 + 1 epochs each), scratch-b x 2 (2 x 8.7 MACs ratio at prun1, capped at
    2 x 4 = 8; 2 x 2.0 = 4 at macs-2x), uniform (l1) at macs-2x (2) and unpruned-ft once (2);
    one baseline of 2. Nothing is trained or written; once a cell has its result, the count
    leaves it out."""
    run = ["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--seeds", "0",
           "--criteria", "l1,random", "--target", "prun1,macs-2x", "--results", str(tmp_path)]
    capsys.readouterr()
    assert main([*run, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"baselines\s+│\s+1\s+│\s+2\b", out)
    assert re.search(r"criteria\s+│\s+4\s+│\s+8\b", out)
    assert re.search(r"control scratch-e\s+│\s+2\s+│\s+8\b", out)
    assert re.search(r"control scratch-b\s+│\s+2\s+│\s+12\b", out)
    assert re.search(r"control uniform \(l1\)\s+│\s+1\s+│\s+2\b", out)
    assert re.search(r"control unpruned-ft\s+│\s+1\s+│\s+2\b", out)
    assert re.search(r"total\s+│\s+10\s+│\s+34\b", out)
    assert not list(tmp_path.glob("*/*.json")) and not list(tmp_path.glob("baselines/*/*"))
    assert main(["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--seeds", "0",
                 "--criteria", "l1", "--target", "prun1", "--no-scratch", "--results",
                 str(tmp_path)]) == 0
    capsys.readouterr()
    assert main([*run, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(1 cell done already)" in " ".join(out.split())
    assert re.search(r"baselines\s+│\s+0\s+│\s+0\b", out)  # cached now
    assert re.search(r"criteria\s+│\s+3\s+│\s+6\b", out)


def test_list_never_cuts_a_name_and_speaks_json(capsys, monkeypatch):
    """Piped into another program at 60 columns, every criterion's name still stands whole on
    its line (`prunebench list | grep deep-feature-kmeans` finds it); `--json` lists them all."""
    from rich.console import Console

    import prunebench.cli.catalog as catalog

    monkeypatch.setattr(catalog, "console", Console(width=60, force_terminal=False))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in listed]
    assert {"deep-feature-kmeans", "agglomerative-cosine", "grad-batch-mean-abs"} <= set(names)
    assert all(re.search(rf"\b{re.escape(name)}\b", out) for name in names)
    assert main(["list", "--scenarios", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"lenet5-digits", "vgg16-cifar10"} <= {row["name"] for row in rows}


def test_a_run_builds_its_matrix_once(tmp_path, monkeypatch, capsys):
    """`prepare` builds the matrix once per process (issue 41): the baseline check, the run and
    `--dry-run` all take that one, the only place that builds one."""
    from prunebench.harness import matrix, runner

    built = []

    def counted(plan, options):
        built.append(plan.scenario.name)
        return matrix.build_matrix(plan, options)

    monkeypatch.setattr(runner, "build_matrix", counted)
    args = ["run", "--budget", "smoke", "--criteria", "l1", "--controls", "none", "--seeds", "0",
            "--results", str(tmp_path / "r")]
    assert main(args) == 0
    assert main(args) == 0  # the second finds the results folder: the baselines are checked
    assert main([*args, "--dry-run"]) == 0
    assert built == ["lenet5-digits"] * 3
