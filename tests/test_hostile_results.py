"""Hostile result folders (issue 39): links that lead out of the folder, planted copies and
broken fields are skipped or refused in one line; nothing is read or written outside."""

import json
import shutil
from pathlib import Path

from prunebench.cli import main

NEXT = Path(__file__).resolve().parent.parent / "leaderboards" / "next" / "results"
ROW = "lenet5-fashionmnist"
L1 = sorted((NEXT / ROW).glob("l1--prun1--paper--seed*.json"))


def results_with(tmp_path: Path, n: int = 2) -> Path:
    folder = tmp_path / "results" / ROW
    folder.mkdir(parents=True)
    for path in L1[:n]:
        shutil.copy(path, folder / path.name)
    return tmp_path / "results"


def board(tmp_path: Path, results: Path, capsys, *extra: str) -> tuple[int, list[str], str]:
    code = main(["leaderboard", "--results", str(results), *extra])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def test_a_planted_board_link_is_refused_and_nothing_is_written_through_it(tmp_path, capsys):
    results = results_with(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (results / "leaderboards").symlink_to(elsewhere)
    code, err, _ = board(tmp_path, results, capsys)
    assert code == 2 and len(err) == 1
    assert "leaderboards is a link to" in err[0] and "outside the results folder" in err[0]
    assert list(elsewhere.iterdir()) == []


def test_results_reached_through_links_out_of_the_folder_are_not_counted(tmp_path, capsys):
    results = results_with(tmp_path, n=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(L1[1], outside / L1[1].name)
    (results / ROW / "planted.json").symlink_to(outside / L1[1].name)
    (results / "other-row").symlink_to(outside)
    out = tmp_path / "boards"
    code, err, _ = board(tmp_path, results, capsys, "--out", str(out))
    assert code == 0
    assert sum("a link that leads out of" in line for line in err) == 2, err
    text = (out / f"{ROW}.md").read_text()
    assert "Seeds: 1 (" in text and "Seeds: 2" not in text


def test_a_copy_of_a_cell_under_another_name_counts_once(tmp_path, capsys):
    results = results_with(tmp_path, n=1)
    shutil.copy(L1[0], results / ROW / "copy.json")
    out = tmp_path / "boards"
    code, err, _ = board(tmp_path, results, capsys, "--out", str(out))
    assert code == 0 and any("counted once" in line for line in err), err
    assert "Seeds: 1 (" in (out / f"{ROW}.md").read_text()


def test_a_result_with_a_broken_field_is_skipped_naming_the_file_and_field(tmp_path, capsys):
    results = results_with(tmp_path)
    broken = results / ROW / L1[1].name
    value = json.loads(broken.read_text())
    value["pruned"]["metrics"]["top1"] = float("nan")
    broken.write_text(json.dumps(value))
    out = tmp_path / "boards"
    code, err, _ = board(tmp_path, results, capsys, "--out", str(out))
    assert code == 0
    (line,) = [line for line in err if L1[1].name in line]
    assert "its pruned.metrics.top1 is nan, not a finite number" in line
    assert "Seeds: 1 (" in (out / f"{ROW}.md").read_text()
