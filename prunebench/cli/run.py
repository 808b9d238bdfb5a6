"""`prunebench run` and `rerun`: progress bars, per-cell lines, the final table."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prunebench import distributed
from prunebench.cli.console import EXIT_FAILED_CELLS, console, errors
from prunebench.cli.eta import MatrixClock
from prunebench.errors import PrunebenchError
from prunebench.plan import RunPlan, make_plan
from prunebench.report.leaderboard import Board, build_boards, regenerate_command, write_boards
from prunebench.scratch import SCRATCH
from prunebench.store import read_result, read_results


class RichReporter:
    """Progress bars: one for the matrix's cells, with its remaining time, one for the epochs of
    the current phase. As a job of `--jobs`, lines only (the parent draws the bars)."""

    def __init__(self, progress: Progress, show_skips: bool = True) -> None:
        self.progress, self.show_skips = progress, show_skips
        self.clock = MatrixClock()
        self.epochs_of: Callable[[str], float] = lambda _name: 0.0
        self.cells = progress.add_task("cells", total=None, left="")
        self.current = progress.add_task("", total=None, left="")

    def start(self, total_cells: int, total_epochs: float,
              epochs_of: Callable[[str], float]) -> None:
        self.clock.start(total_epochs)
        self.epochs_of = epochs_of
        self.progress.update(self.cells, total=total_cells, description="matrix",
                             left=self.clock.text())

    def phase(self, label: str, epochs: float) -> None:
        self.clock.phase(epochs)
        self.progress.reset(self.current, total=max(epochs, 1), description=label)

    def epoch(self) -> None:
        self.clock.advance()
        self.progress.advance(self.current)
        self.progress.update(self.cells, left=self.clock.text())

    def cell_skipped(self, criterion: str, seed: int, why: str) -> None:
        self.clock.drop(self.epochs_of(criterion))
        self.progress.advance(self.cells)
        if self.show_skips:  # a job of --jobs skips what the others took: not news
            self.progress.console.print(f"[dim]↷ {criterion}, seed {seed}: skipped, {escape(why)}")

    def cell_done(self, record: dict) -> None:
        self.progress.advance(self.cells)
        self.progress.console.print(cell_line(record))


def cell_line(record: dict) -> str:
    """What a finished cell prints: its headline metric and size, or why it has none."""
    name, seed = record["criterion"]["name"], record["seed"]
    where = f"{name}, seed {seed}, {record['target']['name']}"
    if record["status"] == "not-applicable":
        return f"[yellow]– {where}: {escape(record['error'])}"
    if record["status"] != "ok":
        return f"[red]✗ {where}: {escape(record['error'])}"
    h, pruned = record["headline"], record["pruned"]
    before = pruned.get(h + "_before_finetune")
    before_text = f" (before fine-tune {before:.2f})" if before is not None else ""
    return (f"[green]✓[/] {where}: {h} {pruned[h]:.2f}{before_text}, "
            f"MACs {pruned['macs']:,}, params {pruned['params']:,}")


def progress_bars(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=console,
                    disable=disable)


def cmd_run(args: argparse.Namespace) -> int:
    return _run_and_tabulate(args)[0]


def _run_and_tabulate(args: argparse.Namespace):
    """Run the matrix the options describe and print its board: the exit code and the outcome."""
    from prunebench.schedule import run_matrix

    job_of = args.job_of or (None, None, None)
    plan = make_plan(scenario=args.scenario, criteria=args.criteria, target=args.target,
                     widths=args.widths, ratio=args.ratio, seeds=args.seeds, budget=args.budget,
                     data_root=args.data_root, download=args.download, results=args.results,
                     device=args.device, save_models=args.save_models,
                     backbone_from=args.backbone_from, round_to=args.round_to,
                     force=args.force, cell_timeout=args.cell_timeout, shard=args.shard,
                     argv=args.argv, scratch=args.scratch, command=job_of[0], started=job_of[1],
                     job=job_of[2])
    if args.jobs != 1:
        from prunebench.cli.jobs import run_jobs

        code = run_jobs(plan, args.jobs, args.argv)
        return tabulate(plan, args.out, code, "some jobs' cells failed"), None
    plan = replace(plan, device=distributed.start(plan.device))
    try:
        if distributed.active() and plan.cell_timeout is not None:
            raise PrunebenchError("--cell-timeout cannot stop ranks at the same point under "
                                  "torchrun; run without it, or without torchrun")
        if not distributed.is_main():  # rank 0 reports, writes and gives the exit code for all:
            return 0, run_matrix(plan)  # torchrun would stop it at another rank's non-zero exit
        ranks = f" | {distributed.world_size()} ranks" if distributed.active() else ""
        if args.job_of is None:
            console.print(f"[bold]{plan.scenario.name}[/]: {', '.join(plan.criteria)} | targets "
                          f"{','.join(t.name for t in plan.targets)} | budget {plan.budget.name} "
                          f"| seeds {','.join(map(str, plan.seeds))} | {plan.device}{ranks}")
        with progress_bars(disable=args.job_of is not None) as progress:
            outcome = run_matrix(plan, RichReporter(progress, show_skips=args.job_of is None))
    finally:
        distributed.stop()
    if args.job_of is not None:  # the parent tabulates
        return (EXIT_FAILED_CELLS if outcome.failed else 0), outcome
    if not outcome.records and not outcome.skipped:
        console.print("no cells to run (an empty shard?); nothing to tabulate")
        return 0, outcome
    failed = f"{len(outcome.failed)} of {len(outcome.records)} cells failed"
    return tabulate(plan, args.out, EXIT_FAILED_CELLS if outcome.failed else 0, failed), outcome


def tabulate(plan: RunPlan, out: str | None, code: int, failed: str) -> int:
    """Write and print the board of the plan's scenario from every result in its folder."""
    folder = Path(out) if out else plan.results / "leaderboards"
    records = [r for r in read_results(plan.results) if r["scenario"] == plan.scenario.name]
    if not records:
        console.print("no results to tabulate yet: other processes hold every cell")
        return code
    board = build_boards(records, regenerate_command(plan.results, folder))[0]
    paths = write_boards([board], folder)
    print_board(board)
    console.print(f"results: {plan.results}/   leaderboard: {', '.join(map(str, paths))}")
    if code == EXIT_FAILED_CELLS:
        errors.print(f"[red]{failed}; their reasons are in the leaderboard and result files")
    return code


TERMINAL_COLUMNS = ("rank", "criterion", "seeds", "before FT", "after FT", "params", "MACs kept",
                    "extra epochs")


def cmd_rerun(args: argparse.Namespace) -> int:
    """Run one result's cell again: its recorded command, narrowed to its criterion and seed,
    into the results folder the file sits in."""
    path = Path(args.result)
    record = read_result(path)
    from prunebench.cli import build_parser  # the parser imports this module

    argv = shlex.split(record["command"])[1:]
    parsed = build_parser().parse_args(argv)
    if parsed.command != "run":
        raise PrunebenchError(f"{path} was not made by `prunebench run`; cannot rerun it")
    parsed.criteria, parsed.seeds = record["criterion"]["name"], str(record["seed"])
    parsed.scratch = record["criterion"]["name"] == SCRATCH  # not the reference row again
    if parsed.target is not None and "," in parsed.target:  # made with several targets
        parsed.target = record["target"]["name"]
    parsed.jobs, parsed.job_of = 1, None
    parsed.results, parsed.force = str(path.resolve().parent.parent), True
    parsed.argv = ["rerun", str(path)]
    code, outcome = _run_and_tabulate(parsed)
    if path.resolve() not in {p.resolve() for p in outcome.paths}:
        errors.print(f"note: the cell's configuration changed since {path.name} was made "
                     "(another prunebench version?); the new result has its own file")
    return code


def print_board(board: Board) -> None:
    """The leaderboard's key columns; the markdown file has them all."""
    for section in board.sections:
        picked = [i for i, c in enumerate(section.columns)
                  if any(c == t or c.endswith(t) for t in TERMINAL_COLUMNS)]
        table = Table(title=f"{board.scenario}: {section.title.replace('`', '')}")
        for i in picked:
            table.add_column(section.columns[i])
        for row in section.rows:
            table.add_row(*(escape(row[i]) for i in picked))
        console.print(table)
