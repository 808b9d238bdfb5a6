"""The example third-party scenario (examples/prunebench-mobilenet), pip-installed as a user
would: its row lists with its distribution, passes the scenario kit, and `prunebench run` runs
every installed criterion on it and writes a board."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench.criteria import registry
from tests.test_external_plugin import pip_installed

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "prunebench-mobilenet"
ROW = "mobilenetv2-fashionmnist"


@pytest.mark.longest
def test_an_installed_scenario_plugin_lists_passes_the_kit_and_runs_every_criterion(tmp_path):
    env = pip_installed(EXAMPLE, tmp_path / "site")

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=900)
        assert done.returncode == 0, done.stderr
        return done

    listed = " ".join(cli("list", "--scenarios").stdout.split())
    assert f"│ {ROW} │ prunebench-mobilenet 0.1.0 │ 20 convs │ half, quarter │ ok │" in listed
    kit = subprocess.run([sys.executable, "-c", "from prunebench.testing import "
                          f"check_scenario; check_scenario('{ROW}')"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert kit.returncode == 0, kit.stderr
    cli("tiny-data", ROW, str(tmp_path / "data"))
    # every criterion, the costly ones at the cheapest settings that still run their whole
    # method (what they cost at their defaults proves nothing more here): k-means with one run
    # instead of 10, the deep features of 32-pixel filter images instead of 64 (126 s a cell
    # at 64), the refitting criteria from 2 output positions per image instead of 10 (60 s a
    # cell at 10), obd-c's Fisher from one drawn label (22 s a cell with all ten), the sparsity
    # criteria with one sparsity epoch instead of their rule's eight
    shortened = {"kmeans-raw": ":restarts=1",
                 "deep-feature-kmeans": ":restarts=1:image_size=32",
                 "cp": ":locations=2", "thinet": ":locations=2",
                 "obd-c": ":exact_classes=0",  # one drawn label instead of all ten
                 **dict.fromkeys(("slimming", "group-lasso", "group-norm-sl", "growing-reg"),
                                 ":epochs=1")}
    every = ",".join(name + shortened.get(name, "") for name in sorted(registry.discover()))
    cli("run", "--scenario", ROW, "--budget", "smoke", "--data-root", str(tmp_path / "data"),
        "--results", str(tmp_path / "results"), "--jobs", "2", "--criteria", every)
    results = [json.loads(p.read_text()) for p in (tmp_path / "results" / ROW).glob("*.json")]
    assert {r["criterion"]["name"] for r in results} == {*registry.discover(), "unpruned-ft",
                                                         "scratch-e", "scratch-b"}
    assert all(r["status"] in ("ok", "not-applicable") for r in results), \
        [(r["criterion"]["name"], r["error"]) for r in results if r["status"] == "failed"]
    board = (tmp_path / "results" / "leaderboards" / f"{ROW}.md").read_text()
    assert f"# Leaderboard: {ROW}" in board and "| l1 |" in board
