"""A criterion shipped as its own package, pip-installed, runs with no change to prunebench."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "prunebench-example-criterion"
version = "0.4.2"
dependencies = []

[project.entry-points."prunebench.criteria"]
last-filters = "example_criterion:LastFilters"
"""

MODULE = '''
import torch
import pytest

from prunebench.criterion import ScoreCriterion


class LastFilters(ScoreCriterion):
    """Keeps the filters with the highest index."""

    def score(self, group):
        return torch.arange(group.n_filters, dtype=torch.float32)
'''


def install_example(tmp_path: Path, tests: str | None = None) -> tuple[dict, Path]:
    """pip-install the example package (with a tests/ folder holding `tests`) into a folder of
    its own: the environment that sees it, and its source folder."""
    source = tmp_path / "src"
    (source / "tests").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "example_criterion.py").write_text(textwrap.dedent(MODULE))
    if tests is not None:
        (source / "tests" / "test_contract.py").write_text(tests)
    return pip_installed(source, tmp_path / "site"), source


def pip_installed(source: Path, site: Path) -> dict:
    """pip-install the package at `source` into the folder `site`, as a user would install it:
    the environment in which it is importable (and its entry points visible)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True, timeout=300)
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_pip_installed_third_party_criterion_is_listed_and_runs(tmp_path):
    env, _ = install_example(tmp_path)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=300)

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert "last-filters" in listed.stdout and "prunebench-example-criterion" in listed.stdout
    ran = cli("run", "--budget", "smoke", "--no-scratch", "--criteria", "last-filters", "--results",
              "res")
    assert ran.returncode == 0, ran.stderr
    board = (tmp_path / "res" / "leaderboards" / "lenet5-digits.md").read_text()
    assert "| – | last-filters | prunebench-example-criterion 0.4.2 |" in board  # one row: no test


PACKAGE_TEST = '''
def test_contract(prunebench_contract):
    prunebench_contract("last-filters")
'''


def test_a_separate_package_runs_the_contract_kit_in_its_own_pytest(tmp_path):
    """prunebench's pytest plugin hands a third-party suite the contract checks in one line."""
    env, source = install_example(tmp_path, PACKAGE_TEST)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests"], cwd=source, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    (source / "tests" / "test_contract.py").write_text(PACKAGE_TEST.replace("last-filters",
                                                                            "no-such"))
    failing = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests"], cwd=source, env=env, capture_output=True, text=True,
                             timeout=600)
    assert failing.returncode == 1 and "unknown criterion 'no-such'" in failing.stdout
