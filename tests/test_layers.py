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
