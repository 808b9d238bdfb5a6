"""`prunebench run | rerun | list | show | flops | speed | memory | sensitivity | tiny-data |
leaderboard`: the only place that parses arguments and prints.

Each command is a thin layer over a plain function. A PrunebenchError becomes one line on stderr
and exit code 2; failed cells give exit code 1 after everything else has run and been written.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from rich.console import Console
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

import prunebench
from prunebench import plugins, scenarios
from prunebench.config import BUDGETS, parse_ratio
from prunebench.errors import PrunebenchError
from prunebench.plan import DEFAULT_RESULTS, make_plan
from prunebench.report.leaderboard import Board, build_boards, write_boards
from prunebench.store import read_result, read_results, write_json

EXIT_FAILED_CELLS, EXIT_BAD_INPUT = 1, 2
PIPE_WIDTH = 160  # rich assumes 80 columns when not on a terminal and folds names apart


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal or "COLUMNS" in os.environ:
        return probe
    return Console(stderr=stderr, width=PIPE_WIDTH)


console = _console()
errors = _console(stderr=True)


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
    from prunebench.schedule import run_matrix

    plan = make_plan(scenario=args.scenario, criteria=args.criteria, target=args.target,
                     widths=args.widths, ratio=args.ratio, seeds=args.seeds, budget=args.budget,
                     data_root=args.data_root, download=args.download, results=args.results,
                     device=args.device, save_models=args.save_models,
                     backbone_from=args.backbone_from, round_to=args.round_to,
                     force=args.force, cell_timeout=args.cell_timeout, argv=args.argv)
    console.print(f"[bold]{plan.scenario.name}[/]: {', '.join(plan.criteria)} | target "
                  f"{plan.target.name} | budget {plan.budget.name} | seeds "
                  f"{','.join(map(str, plan.seeds))} | {plan.device}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        outcome = run_matrix(plan, RichReporter(progress))
    out = Path(args.out) if args.out else plan.results / "leaderboards"
    regenerate = f"prunebench leaderboard --results {shlex.quote(str(plan.results))} --out {shlex.quote(str(out))}"
    boards = build_boards(read_results(plan.results), regenerate)
    paths = write_boards([b for b in boards if b.scenario == plan.scenario.name], out)
    for board in boards:
        if board.scenario == plan.scenario.name:
            print_board(board)
    console.print(f"results: {plan.results}/   leaderboard: {', '.join(map(str, paths))}")
    if outcome.failed:
        errors.print(f"[red]{len(outcome.failed)} of {len(outcome.records)} cells failed; "
                     "their reasons are in the leaderboard and result files")
        return EXIT_FAILED_CELLS
    return 0


TERMINAL_COLUMNS = ("rank", "criterion", "seeds", "before FT", "after FT", "params", "MACs kept",
                    "extra epochs")


def cmd_rerun(args: argparse.Namespace) -> int:
    """Run one result's cell again: its recorded command, narrowed to its criterion and seed,
    into the results folder the file sits in."""
    path = Path(args.result)
    record = read_result(path)
    argv = shlex.split(record["command"])[1:]
    parsed = build_parser().parse_args(argv)
    if parsed.command != "run":
        raise PrunebenchError(f"{path} was not made by `prunebench run`; cannot rerun it")
    parsed.criteria, parsed.seeds = record["criterion"]["name"], str(record["seed"])
    parsed.results, parsed.force = str(path.resolve().parent.parent), True
    parsed.argv = ["rerun", str(path)]
    code = cmd_run(parsed)
    again = read_result(path)
    if again["config_hash"] != record["config_hash"]:
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


def cmd_list(args: argparse.Namespace) -> int:
    if args.scenarios:
        table = Table(title="scenarios")
        for column in ("name", "prunable layers", "targets"):
            table.add_column(column, no_wrap=True)
        table.add_column("description", overflow="fold")
        for s in scenarios.registry().values():
            layers = ", ".join(s.groups) if len(s.groups) <= 3 else \
                f"{len(s.groups)}: {s.groups[0]} ... {s.groups[-1]}"
            table.add_row(s.name, layers, ", ".join(s.targets), s.description)
        console.print(table)
        return 0
    table = Table(title=f"criteria (entry-point group {plugins.GROUP})")
    for column in ("name", "distribution", "needs", "extra epochs", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold")
    for name, info in plugins.discover().items():
        dist = f"{info.distribution} {info.version}"
        try:
            loaded = plugins.load(name)
        except PrunebenchError as exc:
            table.add_row(name, dist, "?", "?", f"[red]broken: {escape(str(exc))}", "")
            continue
        needs = ", ".join(loaded.cls.needs) or "data-free"
        table.add_row(name, dist, needs, f"{loaded.cls.sparsity_epochs:g}", "[green]ok",
                      loaded.description)
    console.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    record = read_result(Path(args.result))
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    c = record["criterion"]
    table = Table(title=f"{record['scenario']} | {c['name']} ({c['distribution']} {c['version']}) "
                        f"| target {record['target']['name']} | seed {record['seed']}")
    table.add_column("metric")
    table.add_column("baseline")
    table.add_column("pruned")
    if record["status"] != "ok":
        console.print(escape(f"{table.title}\n{record['status']}: {record['error']}"))
        return 0
    h, base, pruned = record["headline"], record["baseline"], record["pruned"]
    if pruned.get(h + "_before_finetune") is not None:
        table.add_row(f"{h} before fine-tune", "", f"{pruned[h + '_before_finetune']:.2f}")
    table.add_row(h, f"{base[h]:.2f}", f"{pruned[h]:.2f}")
    table.add_row("params", f"{base['params']:,}", f"{pruned['params']:,}")
    table.add_row("MACs", f"{base['macs']:,}", f"{pruned['macs']:,}")
    table.add_row("widths", ",".join(map(str, record["widths"]["original"])),
                  ",".join(map(str, record["widths"]["pruned"])))
    for bs, value in pruned["trm_bytes"].items():
        table.add_row(f"TRM eq. 16, batch {bs} (MB)", "", f"{value / 1e6:.3f}")
    table.add_row("criterion seconds", "", f"{record['cost']['criterion_seconds']:.3f}")
    console.print(table)
    console.print(f"command: {record['command']}\ncommit: {record['environment']['git_commit']}")
    return 0


def _architecture_target(args: argparse.Namespace):
    """The scenario and the target the options name; None for the unpruned model."""
    from prunebench.plan import make_target

    scenario = scenarios.get(args.scenario)
    chosen = (args.target, args.widths, args.ratio)
    if all(v is None for v in chosen) and args.round_to is None:
        return scenario, None
    return scenario, make_target(scenario, *chosen, args.round_to)


def cmd_flops(args: argparse.Namespace) -> int:
    from prunebench.measure.architecture import architecture_size

    scenario, target = _architecture_target(args)
    size = architecture_size(scenario, target)
    if args.json:
        print(json.dumps(size, indent=2))
        return 0
    table = Table(title=f"{size['scenario']} | {size['target']} | input {size['input_shape']}")
    table.add_column("layer")
    table.add_column("MACs", justify="right")
    for layer, macs in size["macs_per_layer"].items():
        table.add_row(layer, f"{macs:,}")
    table.add_row("[bold]total", f"[bold]{size['macs']:,}")
    console.print(table)
    console.print(f"params: {size['params']:,}   widths: {','.join(map(str, size['widths']))}")
    return 0


def cmd_speed(args: argparse.Namespace) -> int:
    from prunebench.config import parse_batch_sizes
    from prunebench.measure.compare import speed_report
    from prunebench.plan import resolve_device

    scenario, target = _architecture_target(args)
    if target is None:
        target = scenario.target(scenario.default_target)
    runtimes = ("eager", "deploy") if args.runtime == "all" else (args.runtime,)
    if args.runtime not in ("eager", "deploy", "all"):
        raise PrunebenchError(f"unknown runtime '{args.runtime}'; choose eager, deploy or all")
    report = speed_report(scenario, target, parse_batch_sizes(args.batch_sizes), runtimes,
                          resolve_device(args.device), args.repeats)
    if args.plot:
        from prunebench.report.plots import speedup_vs_batch

        speedup_vs_batch(report["rows"], f"{scenario.name}: {target.name} ({report['hardware']})",
                         Path(args.plot))
    if args.json:
        print(json.dumps(report["rows"], indent=2))
        return 0
    table = Table(title=f"{scenario.name} | {target.name} vs unpruned | {report['device']}")
    for column in ("runtime", "batch", "backend (orig / pruned)", "ms original", "ms pruned",
                   "img/s pruned", "speed-up theory", "speed-up real", "efficiency"):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        if "error" in row:
            table.add_row(row["runtime"], str(row["batch_size"]), escape(row["error"]))
            continue
        table.add_row(row["runtime"], str(row["batch_size"]),
                      f"{row['backend_original']} / {row['backend_pruned']}",
                      f"{row['original']['median_ms']:.2f}", f"{row['pruned']['median_ms']:.2f}",
                      f"{row['throughput_pruned']:,.0f}", f"{row['speedup_theoretical']:.2f}x",
                      f"{row['speedup_real']:.2f}x", f"{row['efficiency']:.2f}")
    console.print(table)
    console.print(f"medians of {args.repeats} timed calls after warm-up; {report['hardware']}")
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    from prunebench.config import parse_batch_sizes
    from prunebench.measure.compare import memory_report
    from prunebench.plan import resolve_device

    scenario, target = _architecture_target(args)
    if target is None:
        target = scenario.target(scenario.default_target)
    device = resolve_device(args.device)
    rows = memory_report(scenario, target, parse_batch_sizes(args.batch_sizes), device)
    if args.plot:
        from prunebench.report.plots import memory_vs_batch

        memory_vs_batch(rows, f"{scenario.name}: {target.name}, {device.type}", Path(args.plot))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{scenario.name} | {target.name} vs unpruned | run-time memory, MB "
                        f"({device.type})")
    for column in ("batch", "eq. 16 original", "measured original", "eq. 16 pruned",
                   "measured pruned"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["batch_size"]),
                      *(f"{row[k] / 1e6:,.1f}" for k in ("trm_bytes_original",
                                                          "measured_bytes_original",
                                                          "trm_bytes_pruned",
                                                          "measured_bytes_pruned")))
    console.print(table)
    console.print("measured: parameters + the peak memory rise of one forward pass "
                  "(CPU: in a fresh worker process; GPU: CUDA allocator peak)")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from prunebench.report.plots import sensitivity
    from prunebench.sensitivity import DEFAULT_RATIOS, sensitivity_curves

    plan = make_plan(scenario=args.scenario, budget=args.budget, seeds=args.seed,
                     data_root=args.data_root, download=args.download, results=args.results,
                     device=args.device, criteria=args.criterion, argv=args.argv)
    ratios = tuple(parse_ratio(r) for r in args.ratios.split(",")) if args.ratios else DEFAULT_RATIOS
    curves = sensitivity_curves(plan, args.criterion, ratios)
    headline = plan.scenario.task.headline
    out = Path(args.out) if args.out else plan.results / "leaderboards"
    stem = f"{plan.scenario.name}-sensitivity-{args.criterion}-{plan.budget.name}"
    write_json(out / f"{stem}.json", {"scenario": plan.scenario.name, "criterion": args.criterion,
                                      "budget": plan.budget.name, "seed": plan.seeds[0],
                                      "headline": headline, "command": plan.command,
                                      "curves": curves})
    figure = sensitivity(curves, headline, f"{plan.scenario.name}: one layer pruned with "
                                           f"{args.criterion}, no fine-tuning", out / f"{stem}.png")
    table = Table(title=f"{plan.scenario.name} | {args.criterion} | {headline} without fine-tuning")
    table.add_column("layer")
    for ratio, _ in next(iter(curves.values())):
        table.add_column(f"{100 * ratio:.0f}%", justify="right")
    for layer, curve in curves.items():
        table.add_row(layer, *(f"{value:.1f}" for _, value in curve))
    console.print(table)
    console.print(f"figure: {figure}")
    return 0


def cmd_tiny_data(args: argparse.Namespace) -> int:
    scenario = scenarios.get(args.scenario)
    if scenario.tiny_data is None:
        raise PrunebenchError(f"{scenario.name} needs no data files (its data ships with "
                              "scikit-learn)")
    folder = scenario.tiny_data(Path(args.folder))
    console.print(f"wrote a tiny {scenario.name} data set to {folder}; try:\n  prunebench run "
                  f"--scenario {scenario.name} --budget smoke --data-root {args.folder}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    regenerate = (f"prunebench leaderboard --results {shlex.quote(args.results)} "
                  f"--out {shlex.quote(args.out)}")
    boards = build_boards(read_results(Path(args.results)), regenerate)
    if not boards:
        raise PrunebenchError(f"no result files in {args.results}; run `prunebench run` first")
    for path in write_boards(boards, Path(args.out)):
        console.print(f"wrote {path}")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise PrunebenchError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prunebench", description="A fair benchmark of structured "
                     "filter-pruning criteria for CNNs.")
    parser.add_argument("--version", action="version", version=f"prunebench {prunebench.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="prune with each criterion, fine-tune, measure, tabulate")
    run.add_argument("--scenario", default=scenarios.DEFAULT, help="see `prunebench list --scenarios`")
    run.add_argument("--criteria", help="comma-separated names (default: every installed one)")
    run.add_argument("--target", help="a named target of the scenario, e.g. prun1")
    run.add_argument("--widths", help="filters kept per prunable layer, e.g. 4,14")
    run.add_argument("--ratio", help="fraction of every layer's filters to remove, in (0, 1)")
    run.add_argument("--round-to", type=int, help="round every width up to a multiple of N")
    run.add_argument("--seeds", help="comma-separated seeds (default: the budget's)")
    run.add_argument("--budget", default="quick", help=f"one of {', '.join(BUDGETS)}")
    run.add_argument("--data-root", help="folder holding the data set (or set $PRUNEBENCH_DATA)")
    run.add_argument("--download", action="store_true", help="fetch missing data with torchvision")
    run.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder for result files")
    run.add_argument("--out", help="leaderboard folder (default: RESULTS/leaderboards)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--save-models", action="store_true",
                     help="save each pruned model (weights + widths) beside its result")
    run.add_argument("--force", action="store_true",
                     help="rerun cells whose result already exists (default: skip them)")
    run.add_argument("--cell-timeout", type=float,
                     help="seconds after which a cell is stopped and recorded as failed")
    run.add_argument("--backbone-from", help="for fasterrcnn-coco-transfer: the results folder "
                                             "of resnet50-imagenet runs made with --save-models")
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="installed criteria, or the scenarios")
    lst.add_argument("--scenarios", action="store_true")
    lst.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one result file")
    show.add_argument("result")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    flops = sub.add_parser("flops", help="MACs and params of a target's architecture, no training")
    flops.add_argument("--scenario", default=scenarios.DEFAULT)
    flops.add_argument("--target", help="a named target (default: the unpruned model)")
    flops.add_argument("--widths", help="filters kept per prunable layer")
    flops.add_argument("--ratio", help="fraction of every layer's filters to remove")
    flops.add_argument("--round-to", type=int, help="round every width up to a multiple of N")
    flops.add_argument("--json", action="store_true", help="JSON with keys macs, params, ...")
    flops.set_defaults(func=cmd_flops)

    speed = sub.add_parser("speed", help="real vs theoretical speed-up of a target, eager and deploy")
    speed.add_argument("--scenario", default=scenarios.DEFAULT)
    speed.add_argument("--target", help="a named target (default: the scenario's)")
    speed.add_argument("--widths", help="filters kept per prunable layer")
    speed.add_argument("--ratio", help="fraction of every layer's filters to remove")
    speed.add_argument("--round-to", type=int, help="round every width up to a multiple of N")
    speed.add_argument("--batch-sizes", default="1,8,32,64,128,256,512")
    speed.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    speed.add_argument("--runtime", default="all", help="eager, deploy or all")
    speed.add_argument("--repeats", type=int, default=10, help="timed calls per measurement")
    speed.add_argument("--json", action="store_true", help="a list of rows as JSON")
    speed.add_argument("--plot", help="also draw speed-up against batch size into this PNG")
    speed.set_defaults(func=cmd_speed)

    memory = sub.add_parser("memory", help="run-time memory: eq. 16 beside the measured peak")
    memory.add_argument("--scenario", default=scenarios.DEFAULT)
    memory.add_argument("--target", help="a named target (default: the scenario's)")
    memory.add_argument("--widths", help="filters kept per prunable layer")
    memory.add_argument("--ratio", help="fraction of every layer's filters to remove")
    memory.add_argument("--round-to", type=int, help="round every width up to a multiple of N")
    memory.add_argument("--batch-sizes", default="1,8,32,64,128,256,512")
    memory.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    memory.add_argument("--json", action="store_true", help="a list of rows as JSON")
    memory.add_argument("--plot", help="also draw memory against batch size into this PNG")
    memory.set_defaults(func=cmd_memory)

    sens = sub.add_parser("sensitivity", help="accuracy vs pruning ratio of one layer at a time")
    sens.add_argument("--scenario", default=scenarios.DEFAULT)
    sens.add_argument("--criterion", default="l1")
    sens.add_argument("--ratios", help="comma-separated fractions removed (default 0.1 ... 0.9)")
    sens.add_argument("--budget", default="quick", help="whose baseline to start from")
    sens.add_argument("--seed", default="0")
    sens.add_argument("--data-root")
    sens.add_argument("--download", action="store_true")
    sens.add_argument("--results", default=str(DEFAULT_RESULTS))
    sens.add_argument("--out", help="folder for the figure and its JSON (default RESULTS/leaderboards)")
    sens.add_argument("--device", default="auto")
    sens.set_defaults(func=cmd_sensitivity)

    rerun = sub.add_parser("rerun", help="run a result's cell again, exactly as recorded")
    rerun.add_argument("result")
    rerun.set_defaults(func=cmd_rerun)

    tiny = sub.add_parser("tiny-data", help="write a tiny copy of a row's data in its real format")
    tiny.add_argument("folder")
    tiny.add_argument("--scenario", required=True)
    tiny.set_defaults(func=cmd_tiny_data)

    board = sub.add_parser("leaderboard", help="result files -> markdown leaderboards")
    board.add_argument("--results", default=str(DEFAULT_RESULTS))
    board.add_argument("--out", default="leaderboards")
    board.set_defaults(func=cmd_leaderboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        return args.func(args)
    except PrunebenchError as exc:
        if debug:
            raise
        errors.print(f"prunebench: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        errors.print("prunebench: interrupted; finished cells are saved", markup=False)
        return 130
