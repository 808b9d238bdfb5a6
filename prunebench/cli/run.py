"""`prunebench run` and `rerun`: progress bars, per-cell lines, the final table."""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prunebench.cli.arguments import parse_macs_reduction
from prunebench.cli.console import EXIT_FAILED_CELLS, console, errors
from prunebench.cli.jobs import run_jobs
from prunebench.cli.options import backbone_folder, make_options, make_plan
from prunebench.cli.progress import RichReporter, progress_bars
from prunebench.criteria import registry
from prunebench.errors import PrunebenchError
from prunebench.harness.plan import RunOptions, RunPlan, plan_of_record
from prunebench.harness.runner import Outcome, prepare, run_matrix
from prunebench.results.store import (
    board_folder,
    check_writable,
    read_result,
    scan_results,
    scan_verifications,
)
from prunebench.runtime import distributed

if TYPE_CHECKING:
    from prunebench.report.board import Board


def plan_and_options(args: argparse.Namespace) -> tuple[RunPlan, RunOptions, Path]:
    """Every option checked, before any output: the plan, the options, the board's folder."""
    under_torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1 or distributed.active()
    if args.cell_timeout is not None and under_torchrun:
        raise PrunebenchError("--cell-timeout cannot stop ranks at the same point under "
                              "torchrun; run without it, or without torchrun")
    job_of = args.job_of or (None, None, None)
    target = args.target
    if args.macs_reduction is not None:
        if target is not None:
            raise PrunebenchError("give only one of --target, --macs-reduction")
        target = parse_macs_reduction(args.macs_reduction)
    plan = make_plan(scenario=args.scenario, criteria=args.criteria, target=target,
                     widths=args.widths, ratio=args.ratio, round_to=args.round_to,
                     seeds=args.seeds, budget=args.budget, threads=args.threads,
                     data_root=args.data_root, download=args.download, controls=args.controls,
                     backbone_from=args.backbone_from, track=args.track,
                     allow_unknown_data=args.allow_unknown_data)
    options = make_options(results=args.results, device=args.device, force=args.force,
                           cell_timeout=args.cell_timeout, shard=args.shard, job=job_of[2],
                           save_models=args.save_models, argv=args.argv, command=job_of[0],
                           started=job_of[1])
    out = check_writable(Path(args.out) if args.out else board_folder(options.results), "--out")
    return plan, options, out  # --jobs, --seeds and the criteria's names: checked in early.py


def cmd_run(args: argparse.Namespace) -> int:
    plan, options, out = plan_and_options(args)
    if args.dry_run:
        from prunebench.cli.cost import dry_run

        return dry_run(plan, options)
    if args.jobs != 1:
        prepared = prepare(plan, options)  # refused here, once, rather than by every job
        code = run_jobs(prepared.matrix, options, args.jobs, args.argv)
        return tabulate(plan, options, out, code, "some jobs' cells failed")
    code, _ = run_and_tabulate(plan, options, out, as_job=args.job_of is not None)
    return code


def run_and_tabulate(plan: RunPlan, options: RunOptions, out: Path,
                     as_job: bool = False) -> tuple[int, Outcome | None]:
    """Run the matrix and print its board: the exit code and the outcome."""
    device = distributed.start(options.device)
    try:
        options = replace(options, device=device)
        # missing, corrupt or unusable data, or a lost baseline that cannot be had: one line,
        # before any output (a job's parent checked the baselines)
        prepared = prepare(plan, options, baselines=not as_job)
        if not distributed.is_main():  # rank 0 reports, writes and gives the exit code for all:
            return 0, run_matrix(plan, options, prepared=prepared)  # torchrun stops at another's
        ranks = f" | {distributed.world_size()} ranks" if distributed.active() else ""
        if not as_job:
            console.print(f"[bold]{plan.scenario.name}[/]: "
                          f"{escape(', '.join(c.label for c in plan.criteria))} | targets "
                          f"{','.join(t.name for t in plan.targets)} | budget {plan.budget.name} "
                          f"| seeds {','.join(map(str, plan.seeds))} | {options.device}{ranks}")
        with progress_bars(disable=as_job) as progress:
            outcome = run_matrix(plan, options, RichReporter(progress, show_skips=not as_job),
                                 prepared)
    finally:
        distributed.stop()
    if as_job:  # the parent tabulates
        return (EXIT_FAILED_CELLS if outcome.failed else 0), outcome
    if not outcome.records and not outcome.skipped:
        console.print("no cells to run (an empty shard?); nothing to tabulate")
        return 0, outcome
    failed = f"{len(outcome.failed)} of {len(outcome.records)} cells failed"
    return tabulate(plan, options, out, EXIT_FAILED_CELLS if outcome.failed else 0,
                    failed), outcome


def tabulate(plan: RunPlan, options: RunOptions, out: Path, code: int, failed: str) -> int:
    """Write and print the board of the plan's scenario from every result in its folder."""
    # here, not at the top: the board's statistics (scipy, statsmodels) take a second to load,
    # and the jobs of `--jobs`, which never tabulate, would each pay it
    from prunebench.report.board import build_boards
    from prunebench.report.markdown import write_boards
    from prunebench.report.provenance import regenerate_command

    found, skipped = scan_results(options.results)
    for warning in skipped:
        errors.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    records = [r for r in found if r.scenario == plan.scenario.name]
    if not records:
        console.print("no results to tabulate yet: other processes hold every cell")
        return code
    board = build_boards(records, regenerate_command(options.results, out),
                         saved=lambda name: (options.results / name).is_file(),
                         verified=scan_verifications(options.results))[0]
    paths = write_boards([board], out)
    print_board(board)
    console.print(f"results: {options.results}/   leaderboard: {', '.join(map(str, paths))}")
    if code == EXIT_FAILED_CELLS:
        errors.print(f"[red]{failed}; their reasons are in the leaderboard and result files")
    return code


REASON_WIDTH = 22  # the before-FT column, where a failed row's reason stands: cut, one line
TERMINAL_FIELDS = ("group", "criterion", "seeds", "one_shot", "before", "after", "macs_kept",
                   "extra_epochs")  # the Row fields the terminal shows: 100 columns hold them


def cmd_rerun(args: argparse.Namespace) -> int:
    """Run one result's cell again, its plan built from the record (`plan.plan_of_record`), into
    the results folder the file sits in, with the board beside it (never where the original run
    put its own); the record keeps its original command and notes the rerun apart."""
    path = Path(args.result)
    record = read_result(path)
    recorded = recorded_run(path, record.command)  # where its data came from
    plan = plan_of_record(record, Path(recorded.data_root) if recorded.data_root else None,
                          recorded.download, backbone_folder(recorded.backbone_from))
    for spec in plan.criteria:
        registry.load(spec.name)  # an uninstalled criterion: one line, before any work
    options = make_options(results=path.resolve().parent.parent,
                           device=record.device.split(":")[0], force=True,
                           save_models=recorded.save_models, command=record.command, argv=[])
    options = replace(options, rerun=shlex.join(["prunebench", "rerun", str(path)]))
    out = check_writable(board_folder(options.results), "the board's folder")
    code, outcome = run_and_tabulate(plan, options, out)
    written = {p.resolve() for p in (outcome.paths if outcome else [])}
    if path.resolve() not in written:
        errors.print(f"note: the cell's configuration changed since {path.name} was made "
                     "(another prunebench version?); the new result has its own file")
    return code


def recorded_run(path: Path, command: str) -> argparse.Namespace:
    """The options of the `prunebench run` command a result records."""
    from prunebench.cli import build_parser  # the parser imports this module

    try:
        argv = shlex.split(command)[1:]
    except ValueError as exc:
        raise PrunebenchError(f"{path} records a command that cannot be split ({exc}): "
                              f"{command!r}") from None
    parsed = build_parser().parse_args(argv)
    if parsed.command != "run":
        raise PrunebenchError(f"{path} was not made by `prunebench run`; cannot rerun it")
    return parsed


def print_board(board: Board, to: Console | None = None) -> None:
    """The leaderboard's key columns, a row a line: names whole, a failure's reason cut with
    an ellipsis (the markdown file has every column and the whole reason). Where a table has a
    one-shot column, the terminal shows it instead of *before FT*, a failure's reason in it."""
    for section in board.sections:
        table = Table(title=f"{board.scenario}: {section.title.replace('`', '')}")
        names = max((len(row.criterion) for row in section.rows), default=0)
        shown = [name for name in TERMINAL_FIELDS if name in section.fields]
        reason = "one_shot" if "one_shot" in shown else "before"
        if reason == "one_shot":
            shown.remove("before")
        titles = dict(zip(section.fields, section.columns))
        for field_name, title in ((name, titles[name]) for name in shown):
            if field_name == "criterion":  # whole
                table.add_column(title, no_wrap=True, min_width=names)
            elif field_name == reason:  # one line; a failure's reason is cut
                table.add_column(title, no_wrap=True, overflow="ellipsis", max_width=REASON_WIDTH)
            elif field_name == "seeds":  # a failure's list of seeds may fold
                table.add_column(title, min_width=5)
            elif field_name == "after":  # mean ± std on one line
                table.add_column(title, no_wrap=True)
            else:  # short values; their titles may wrap
                table.add_column(title, min_width=5)
        for row in section.rows:
            if reason == "one_shot" and not row.after and row.before:  # a failed row
                row = replace(row, one_shot=row.before)
            table.add_row(*(escape(cell) for cell in row.cells(shown)))
        (to or console).print(table)
