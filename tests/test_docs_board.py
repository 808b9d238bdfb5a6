"""The documentation's "Put your criterion on the board", run verbatim (issues 41, 42): the plugin
of "Write a criterion" (its files, from the same page) joins a small Fashion-MNIST board under
the page's own folder names with the page's `pip` and `join` lines, and its `verify` line passes
on the joined rows.

The board is built by the test (smoke budget, prunebench's tiny Fashion-MNIST copy), and `pip` is
a stand-in on PATH that installs into a folder of the test's own: for the first line, which
installs this clone with its plugins (done already, since this clone runs the tests), it checks
that every distribution `plugins/all.txt` names is installed from this clone; the plugin's line
is a real `pip install` of the folder the page's files make."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench.cli import main

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "docs" / "write-a-criterion.md").read_text()

PIP = """#!{python}
import subprocess, sys
from importlib import metadata
from pathlib import Path

import pytest

args = sys.argv[1:]
if args[:3] == ["install", "-e", "."]:  # this clone and plugins/all.txt: installed already
    assert args[3:] == ["-r", "plugins/all.txt"], args
    wanted = [line.split("/")[-1] for line in Path("{repo}/plugins/all.txt").read_text()
              .splitlines() if line.startswith("-e ")]
    missing = [name for name in ["prunebench", *wanted] if not metadata.distribution(name)]
    sys.exit(1 if missing else 0)
sys.exit(subprocess.call([sys.executable, "-m", "pip", *args[:1], "--quiet", "--no-deps",
                          "--no-build-isolation", "--target", "{site}", *args[1:]]))
"""


def section(title: str) -> str:
    """The page's text from a heading to the next heading of any level (a `#` line inside a code
    block is no heading)."""
    lines = PAGE[PAGE.index(f" {title}\n"):].splitlines()
    fence = False
    for n, line in enumerate(lines[1:], start=1):
        fence ^= line.startswith("```")
        if not fence and re.match(r"#+ ", line):
            return "\n".join(lines[:n])
    return "\n".join(lines)


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def plugin_files(folder: Path) -> None:
    """The plugin of "Write a criterion": each block that starts with `# <file name>`."""
    blocks = fenced(section("Write a criterion"), "toml") + fenced(
        section("Write a criterion"), "python")
    written = []
    for block in blocks:
        name = block.splitlines()[0].removeprefix("# ").strip()
        if " " not in name:  # the contract test is shown "of your package": not the plugin's
            (folder / name).write_text(block)
            written.append(name)
    assert sorted(written) == ["mean_weight.py", "pyproject.toml"]


def test_the_docs_put_a_criterion_on_the_board_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["tiny-data", "lenet5-fashionmnist", "fashion"])
    board, results = Path("leaderboards/next"), Path("leaderboards/next/results")
    assert main(["run", "--scenario", "lenet5-fashionmnist", "--budget", "smoke", "--criteria",
                 "l1", "--seeds", "0,1", "--controls", "none", "--data-root", "fashion",
                 "--results", str(results), "--out", str(board)]) == 0
    baselines = {p: p.stat().st_mtime_ns for p in (results / "baselines").rglob("*.pt")}
    (tmp_path / "prunebench-mean-weight").mkdir()
    plugin_files(tmp_path / "prunebench-mean-weight")
    bin_folder, site = tmp_path / "bin", tmp_path / "site"
    bin_folder.mkdir()
    (bin_folder / "pip").write_text(PIP.format(python=sys.executable, repo=REPO, site=site))
    (bin_folder / "pip").chmod(0o755)
    (bin_folder / "prunebench").write_text(f'#!/bin/sh\nexec {sys.executable} -m prunebench "$@"\n')
    (bin_folder / "prunebench").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def shell(line: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done

    commands = [line.split("  #")[0].strip() for line in
                fenced(section("Put your criterion on the board"), "bash")[0].splitlines()]
    assert [c.split()[:2] for c in commands] == [["pip", "install"], ["pip", "install"],
                                                 ["prunebench", "join"]]
    for line in commands:
        shell(line)
    joined = sorted(p.name.split("--")[3] for p in
                    (results / "lenet5-fashionmnist").glob("mean-weight--prun1--*.json"))
    assert joined == ["seed0", "seed1"]
    assert {p: p.stat().st_mtime_ns for p in (results / "baselines").rglob("*.pt")} == baselines
    table = (board / "lenet5-fashionmnist.md").read_text()
    row = next(line for line in table.splitlines() if "| mean-weight |" in line)
    assert row.split("|")[4].strip() == "2"  # paired with l1 on the board's two seeds

    verify = re.search(r"`(prunebench verify [^`]+)`", section("Put your criterion on the board"))
    assert verify is not None
    checked = shell(verify.group(1)).stdout
    assert checked.count("every number equal") == 2
