"""`prunebench run` and `rerun`: progress bars, per-cell lines, the final table."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from prunebench import distributed
from prunebench.cli.console import EXIT_FAILED_CELLS, console, errors
from prunebench.errors import PrunebenchError
from prunebench.plan import make_plan
from prunebench.report.leaderboard import Board, build_boards, regenerate_command, write_boards
from prunebench.store import read_result, read_results


class RichReporter:
    """Progress bars: one for the matrix's cells, one for the epochs of the current phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.cells = progress.add_task("cells", total=None)
        self.current = progress.add_task("", total=None)

    def start(self, total_cells: int) -> None:
        self.progress.update(self.cells, total=total_cells, description="matrix")

    def phase(self, label: str, epochs: int) -> None:
        self.progress.reset(self.current, total=max(epochs, 1), description=label)

    def epoch(self) -> None:
        self.progress.advance(self.current)

    def cell_skipped(self, criterion: str, seed: int, why: str) -> None:
        self.progress.advance(self.cells)
        self.progress.console.print(f"[dim]↷ {criterion}, seed {seed}: skipped, {escape(why)}")

    def cell_done(self, record: dict) -> None:
        self.progress.advance(self.cells)
        name, seed = record["criterion"]["name"], record["seed"]
        if record["status"] == "not-applicable":
            self.progress.console.print(f"[yellow]– {name}, seed {seed}: {escape(record['error'])}")
            return
        if record["status"] != "ok":
            self.progress.console.print(f"[red]✗ {name}, seed {seed}: {escape(record['error'])}")
            return
        h, pruned = record["headline"], record["pruned"]
        before = pruned.get(h + "_before_finetune")
        before_text = f" (before fine-tune {before:.2f})" if before is not None else ""
        self.progress.console.print(
            f"[green]✓[/] {name}, seed {seed}: {h} {pruned[h]:.2f}{before_text}, "
            f"MACs {pruned['macs']:,}, params {pruned['params']:,}")


def cmd_run(args: argparse.Namespace) -> int:
    return _run_and_tabulate(args)[0]


def _run_and_tabulate(args: argparse.Namespace):
    """Run the matrix the options describe and print its board: the exit code and the outcome."""
    from prunebench.schedule import run_matrix

    plan = make_plan(scenario=args.scenario, criteria=args.criteria, target=args.target,
                     widths=args.widths, ratio=args.ratio, seeds=args.seeds, budget=args.budget,
                     data_root=args.data_root, download=args.download, results=args.results,
                     device=args.device, save_models=args.save_models,
                     backbone_from=args.backbone_from, round_to=args.round_to,
                     force=args.force, cell_timeout=args.cell_timeout, shard=args.shard,
                     argv=args.argv)
    plan = replace(plan, device=distributed.start(plan.device))
    try:
        if distributed.active() and plan.cell_timeout is not None:
            raise PrunebenchError("--cell-timeout cannot stop ranks at the same point under "
                                  "torchrun; run without it, or without torchrun")
        if not distributed.is_main():  # rank 0 reports, writes and gives the exit code for all:
            return 0, run_matrix(plan)  # torchrun would stop it at another rank's non-zero exit
        ranks = f" | {distributed.world_size()} ranks" if distributed.active() else ""
        console.print(f"[bold]{plan.scenario.name}[/]: {', '.join(plan.criteria)} | target "
                      f"{plan.target.name} | budget {plan.budget.name} | seeds "
                      f"{','.join(map(str, plan.seeds))} | {plan.device}{ranks}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            outcome = run_matrix(plan, RichReporter(progress))
    finally:
        distributed.stop()
    if not outcome.records and not outcome.skipped:
        console.print("no cells to run (an empty shard?); nothing to tabulate")
        return 0, outcome
    out = Path(args.out) if args.out else plan.results / "leaderboards"
    records = [r for r in read_results(plan.results) if r["scenario"] == plan.scenario.name]
    if not records:
        console.print("no results to tabulate yet: other processes hold every cell")
        return 0, outcome
    board = build_boards(records, regenerate_command(plan.results, out))[0]
    paths = write_boards([board], out)
    print_board(board)
    console.print(f"results: {plan.results}/   leaderboard: {', '.join(map(str, paths))}")
    if outcome.failed:
        errors.print(f"[red]{len(outcome.failed)} of {len(outcome.records)} cells failed; "
                     "their reasons are in the leaderboard and result files")
        return EXIT_FAILED_CELLS, outcome
    return 0, outcome


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
