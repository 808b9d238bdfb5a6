"""The import contracts (pyproject.toml, import-linter) hold, and would catch a cycle: a copy of
the package with one import added that closes a loop inside `prunebench.cli` is refused, naming
the package (issue 41)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lint_imports(source: Path) -> subprocess.CompletedProcess:
    """import-linter's contracts checked against the package under `source`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", command, "--config",
                           str(REPO / "pyproject.toml"), "--no-cache"], cwd=source, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_contracts_hold_and_a_cycle_breaks_them(tmp_path):
    shutil.copytree(REPO / "prunebench", tmp_path / "prunebench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    kept = lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in kept.stdout
    jobs = tmp_path / "prunebench" / "cli" / "jobs.py"  # cli.run imports cli.jobs already
    jobs.write_text(jobs.read_text() + "\n\ndef _loop():\n    from prunebench.cli import run\n"
                    "    return run\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "no import cycle inside any package (siblings at every depth) BROKEN" in broken.stdout
    assert "No cycles are allowed in prunebench.cli." in broken.stdout


def test_what_runs_cells_loads_neither_the_compiler_nor_the_boards_statistics():
    """Every `prunebench run` and each of its `--jobs` imports the run layer, `list` and
    `tiny-data` the catalog: torch's compiler (through torch.use_deterministic_algorithms) and
    the board's scipy/statsmodels/matplotlib are a second or more each, for what only the speed
    runtime `compile` and the process that writes a board use. The flags stay those torch's
    own function sets."""
    probe = """
import sys
import torch
import prunebench.cli.catalog
import prunebench.cli.run
from prunebench.runtime.determinism import inductor_follows, use_deterministic_algorithms
use_deterministic_algorithms()
assert torch.are_deterministic_algorithms_enabled()
assert torch.is_deterministic_algorithms_warn_only_enabled()
loaded = [m for m in ("torch._inductor.config", "scipy.stats", "statsmodels", "matplotlib")
          if m in sys.modules]
assert not loaded, loaded
inductor_follows()
import torch._inductor.config as inductor_config
assert inductor_config.deterministic is True
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
