"""The record module is typed all the way (issue 41): `mypy --strict` passes on it, and outside it
no module reads a record's speed rows, history steps or criterion note by string key."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the typed fields of SpeedRow and Step (and the report's note), as string keys
KEYS = ("kept", "at_floor", "allocated_by", "settled_by", "macs_target", "refit_error",
        "before_removal", "speedup_real", "speedup_theoretical", "backend_original", "note")


def test_mypy_strict_passes_on_the_record_module():
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "prunebench/results/record.py"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]


def test_no_record_field_is_read_by_string_key_outside_the_record_module():
    """Cells, boards (speed boards included), verify and the contract kit use the typed fields;
    what measures (before a record exists), validates raw JSON (fields, the sweeps' check in
    store) or draws aggregated rows (plots) is no reader of records."""
    allowed = {"results/record.py", "results/fields.py", "results/store.py", "report/plots.py",
               "cli/measure.py", "measure/speed.py", "measure/layers.py"}
    pattern = re.compile(r"""(\[|\.get\()["'](%s)["']""" % "|".join(KEYS))
    found = [f"{path.relative_to(REPO / 'prunebench')}:{n}" for path in
             sorted((REPO / "prunebench").rglob("*.py"))
             if str(path.relative_to(REPO / "prunebench")) not in allowed
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
