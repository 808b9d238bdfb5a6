"""`prunebench verify RESULTS... [--sample N] [--json]`: each result's cell computed again and
every number compared (prunebench/harness/verify.py)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from prunebench.cli.console import EXIT_FAILED_CELLS, console, errors
from prunebench.cli.options import backbone_folder
from prunebench.cli.run import recorded_run
from prunebench.errors import PrunebenchError
from prunebench.harness.plan import plan_of_record
from prunebench.harness.verify import Sample, Verdict, verify_file
from prunebench.results.record import Measured, Record
from prunebench.results.store import read_result, result_paths, save_verification, scan_results


def result_files(given: list[str]) -> list[Path]:
    """The result files named, a folder standing for every result under it."""
    files: list[Path] = []
    for text in given:
        path = Path(text)
        if path.is_dir():
            files += result_paths(path)
        elif path.is_file():
            files.append(path)
        else:
            raise PrunebenchError(f"{path} does not exist; give result files or a results folder")
    if not files:
        raise PrunebenchError(f"no result files in {', '.join(given)}")
    return files


def cmd_verify(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 1:
        raise PrunebenchError(f"--sample {args.sample} must be a positive number of cells")
    chosen = Sample(args.sample, args.seed, result_files(args.results)).chosen()
    checks = []
    for path in chosen:  # every file read and its plan made before any cell runs
        record = read_result(path)
        recorded = recorded_run(path, record.command)
        plan = plan_of_record(record, Path(recorded.data_root) if recorded.data_root else None,
                              recorded.download, backbone_folder(recorded.backbone_from))
        checks.append((path, record, plan))
    verdicts = []
    for path, record, plan in checks:
        results = path.resolve().parent.parent
        verdict = verify_file(path, record, plan, results, same_row(record, results))
        verdicts.append(verdict)
        if args.record and verdict.skipped is None:
            save_verification(results, path, {
                **verdict.to_json(), "command": shlex.join(["prunebench", *args.argv])})
    if args.json:
        print(json.dumps([v.to_json() for v in verdicts], indent=2, default=str))
    else:
        show(verdicts)
    return 0 if all(v.passed or v.skipped for v in verdicts) else EXIT_FAILED_CELLS


def same_row(record: Record, results: Path) -> list[Measured]:
    """The cells of the record's row (criterion, target, budget) for its other seeds."""
    return [r.measured for r in scan_results(results)[0]
            if r.measured is not None and r.seed != record.seed and r.label == record.label
            and r.target == record.target and r.budget == record.budget
            and r.scenario == record.scenario]


def show(verdicts: list[Verdict]) -> None:
    table = Table(title="prunebench verify: each cell computed again")
    for column in ("cell", "file", "check", "outcome"):
        table.add_column(column, overflow="fold")
    for v in verdicts:
        outcome = ("skipped: " + v.skipped) if v.skipped else "every number equal" \
            if not v.differences else ("within the seeds' spread: " if v.passed else "") + \
            "; ".join(f"{f}: {a!r} recorded, {b!r} now" for f, a, b in
                      (v.differences if v.passed else v.failures)[:5])
        table.add_row(escape(v.cell), escape(Path(v.file).name),
                      "exact" if v.exact else "another machine kind", escape(outcome))
    console.print(table)
    for v in verdicts:
        if v.machine:
            errors.print(f"note: {Path(v.file).name} was made on another kind of machine "
                         f"({'; '.join(v.machine)}): training takes other last bits there, so "
                         "only a rerun on the recorded kind can check it bit for bit",
                         markup=False)
