"""`prunebench run | rerun | list | show | flops | speed | memory | sensitivity | export |
tiny-data | leaderboard`: the only place that parses arguments and prints.

Each command is a thin layer over a plain function. A PrunebenchError becomes one line on stderr
and exit code 2; failed cells give exit code 1 after everything else has run and been written.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NoReturn

import prunebench
from prunebench.cli.console import EXIT_BAD_INPUT, errors
from prunebench.cli.early import check_early
from prunebench.errors import PrunebenchError
from prunebench.protocol.config import BUDGETS
from prunebench.protocol.defaults import (
    DEFAULT_RESULTS,
    DEFAULT_SCENARIO,
    FORMATS,
    PARITY_TOLERANCE,
)
from prunebench.runtime.heap import keep_freed_memory


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command's function, imported when it runs: the parser, and the checks that need
    neither torch nor the plugins, come first (an argument error in a fraction of a second)."""
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return run


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        raise PrunebenchError(f"{message} (see `{self.prog} --help`)")


def _target_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO,
                        help=f"a matrix row (default: {DEFAULT_SCENARIO}; `prunebench list "
                        "--scenarios`)")
    parser.add_argument("--target", help=f"a named target (default: {default})")
    parser.add_argument("--widths", help="filters kept per prunable layer")
    parser.add_argument("--ratio", help="fraction of every layer's filters to remove")
    parser.add_argument("--round-to", type=int, help="round every width up to a multiple of N")


def _sweep_options(parser: argparse.ArgumentParser, drawn: str) -> None:
    parser.add_argument("--batch-sizes", default="1,8,32,64,128,256,512",
                        help="comma-separated batch sizes (default: 1,8,32,64,128,256,512)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--json", action="store_true", help="a list of rows as JSON")
    parser.add_argument("--plot", help=f"also draw {drawn} against batch size into this PNG")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prunebench", description="A fair benchmark of structured "
                     "filter-pruning criteria for CNNs.")
    parser.add_argument("--version", action="version",
                        version=f"prunebench {prunebench.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="prune with each criterion, fine-tune, measure, tabulate")
    run.add_argument("--scenario", default=DEFAULT_SCENARIO,
                     help="see `prunebench list --scenarios`")
    run.add_argument("--criteria", help="comma-separated names, each with settings after ':' "
                     "(default: every installed one), e.g. l1,stability:lam=5e-6")
    run.add_argument("--target", help="named targets of the scenario, e.g. prun1 or "
                     "prun1,prun2,half")
    run.add_argument("--widths", help="filters kept per prunable layer, e.g. 4,14")
    run.add_argument("--ratio", help="fraction of every layer's filters to remove, in (0, 1)")
    run.add_argument("--macs-reduction", help="the unpruned MACs over the pruned, F > 1: each "
                     "criterion's scores choose the widths (the same as --target macs-Fx)")
    run.add_argument("--round-to", type=int, help="round every width up to a multiple of N")
    run.add_argument("--seeds", help="comma-separated seeds (default: the budget's)")
    run.add_argument("--budget", default="quick", help=f"one of {', '.join(BUDGETS)}")
    run.add_argument("--threads", type=int, help="CPU threads of every computation (default: "
                     "the budget's, 1); part of each cell's configuration, since the thread count "
                     "changes the last bits of every sum")
    run.add_argument("--data-root", help="folder holding the data set (or set $PRUNEBENCH_DATA)")
    run.add_argument("--download", action="store_true", help="fetch missing data with torchvision")
    run.add_argument("--allow-unknown-data", action="store_true",
                     help="train on data files whose digests match none of the data set's "
                          "published files (each result's data then says so)")
    run.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder for result files")
    run.add_argument("--out", help="leaderboard folder (default: RESULTS/leaderboards)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--save-models", action="store_true",
                     help="save each pruned model (weights + widths) beside its result")
    run.add_argument("--shard", help="K/N: run only the K-th of N disjoint slices of the matrix "
                                     "(for N machines or a job array sharing --results)")
    run.add_argument("--force", action="store_true",
                     help="rerun cells whose result already exists (default: skip them)")
    run.add_argument("--cell-timeout", type=float,
                     help="seconds after which a cell is stopped and recorded as failed")
    run.add_argument("--backbone-from", help="for fasterrcnn-coco-transfer: the results folder "
                                             "of resnet50-imagenet runs made with --save-models")
    run.add_argument("--controls", help="the control rows, comma-separated, or none (default: "
                     "all): unpruned-ft (the baseline given the same fine-tuning), scratch-e and "
                     "scratch-b (the pruned widths trained from random weights, epoch- and "
                     "MACs-matched) and, on a macs-Fx target, uniform (l1)")
    run.add_argument("--no-scratch", dest="controls", action="store_const", const="none",
                     help="the same as --controls none")
    run.add_argument("--track", default="fine-tune", help="fine-tune (default) or one-shot: "
                     "one removal from the baseline and no training at all, by default at "
                     "ratio-0.1 ... ratio-0.9, macs-2x and macs-4x (how well the scores alone "
                     "rank filters)")
    run.add_argument("--jobs", type=int, default=1,
                     help="run the matrix as N local processes sharing the CPU cores (shards of "
                     "one results folder); cheaper than threads for small models")
    run.add_argument("--dry-run", action="store_true",
                     help="print the cells and training epochs the run would do (its cost), "
                     "then stop: nothing is trained, no result written")
    run.add_argument("--job-of", nargs=3, metavar=("COMMAND", "STARTED", "K/N"),
                     help=argparse.SUPPRESS)
    run.set_defaults(func=_command("prunebench.cli.run", "cmd_run"))

    lst = sub.add_parser("list", help="installed criteria, or the scenarios")
    lst.add_argument("--json", action="store_true", help="print JSON for scripts")
    lst.add_argument("--scenarios", action="store_true",
                     help="list the matrix's rows instead of the criteria")
    lst.set_defaults(func=_command("prunebench.cli.catalog", "cmd_list"))

    show = sub.add_parser("show", help="one result file")
    show.add_argument("result", help="a result file, RESULTS/<scenario>/<cell>.json")
    show.add_argument("--json", action="store_true", help="print the record as JSON")
    show.set_defaults(func=_command("prunebench.cli.catalog", "cmd_show"))

    flops = sub.add_parser("flops", help="MACs and params of a target's architecture, no training")
    _target_options(flops, "the unpruned model")
    flops.add_argument("--json", action="store_true", help="JSON with keys macs, params, ...")
    flops.add_argument("--result", help="a result file: the architecture its cell pruned to (on "
                       "a macs-Fx target, the widths its criterion chose)")
    flops.set_defaults(func=_command("prunebench.cli.measure", "cmd_flops"))

    speed = sub.add_parser("speed",
                           help="real vs theoretical speed-up of a target, eager and deploy")
    _target_options(speed, "the scenario's")
    _sweep_options(speed, "speed-up")
    speed.add_argument("--runtime", default="all", help="eager, deploy or all")
    speed.add_argument("--repeats", type=int, default=10, help="timed calls per measurement")
    speed.add_argument("--runs", type=int, default=3, help="independent measurements, each "
                       "with fresh runners; the median's run is shown, with every run's "
                       "speed-up range (default 3)")
    speed.add_argument("--results", help="also save the rows, with the command, commit and "
                       "hardware, under RESULTS/speed/ (for `prunebench leaderboard`)")
    speed.add_argument("--per-layer", type=int, metavar="BATCH",
                       help="instead of the sweep, each layer's latency and MACs at this "
                       "batch size")
    speed.set_defaults(func=_command("prunebench.cli.measure", "cmd_speed"))

    memory = sub.add_parser("memory", help="run-time memory: eq. 16 beside the measured peak")
    _target_options(memory, "the scenario's")
    _sweep_options(memory, "memory")
    memory.set_defaults(func=_command("prunebench.cli.measure", "cmd_memory"))

    sens = sub.add_parser("sensitivity", help="accuracy vs pruning ratio of one layer at a time")
    sens.add_argument("--scenario", default=DEFAULT_SCENARIO,
                      help=f"a matrix row (default: {DEFAULT_SCENARIO})")
    sens.add_argument("--criterion", default="l1",
                      help="the criterion that picks each layer's filters, with settings as in "
                      "`run --criteria` (default: l1)")
    sens.add_argument("--ratios", help="comma-separated fractions removed (default 0.1 ... 0.9)")
    sens.add_argument("--budget", default="quick", help="whose baseline to start from")
    sens.add_argument("--seed", default="0", help="the baseline's seed (default: 0)")
    sens.add_argument("--data-root", help="folder holding the data set (or set "
                      "$PRUNEBENCH_DATA)")
    sens.add_argument("--download", action="store_true",
                      help="fetch missing data with torchvision")
    sens.add_argument("--results", default=str(DEFAULT_RESULTS),
                      help="the results folder whose cached baseline to start from")
    sens.add_argument("--out", help="folder for the figure and its JSON (default "
                      "RESULTS/sensitivity)")
    sens.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sens.set_defaults(func=_command("prunebench.cli.measure", "cmd_sensitivity"))

    export = sub.add_parser("export", help="a saved pruned model as ONNX, pt2 or TorchScript, "
                            "each checked for parity with the model")
    export.add_argument("result", help="a result file of a run made with --save-models")
    export.add_argument("--format", default="all",
                        help=f"{', '.join(FORMATS)} (comma-separated) or all (default)")
    export.add_argument("--out", help="folder for the files (default: beside the result, where "
                        "--save-models put them)")
    export.add_argument("--check", action="store_true",
                        help="write nothing: read the files beside the result back and check "
                        "them")
    export.add_argument("--tolerance", type=float, default=PARITY_TOLERANCE,
                        help="the largest |exported - eager| over the largest |eager| output "
                        f"that passes (default: {PARITY_TOLERANCE:g})")
    export.set_defaults(func=_command("prunebench.cli.export", "cmd_export"))

    rerun = sub.add_parser("rerun", help="run a result's cell again, exactly as recorded")
    rerun.add_argument("result", help="the result file whose cell to run again")
    rerun.set_defaults(func=_command("prunebench.cli.run", "cmd_rerun"))

    tiny = sub.add_parser("tiny-data", help="write a tiny copy of a row's data in its real format")
    tiny.add_argument("place", nargs="+", metavar="[SCENARIO] FOLDER",
                      help="the row whose data format to write (or --scenario), then where to "
                      "write it (give it to --data-root)")
    tiny.add_argument("--scenario", help="the row whose data format to write, e.g. "
                      "vgg16-cifar10")
    tiny.set_defaults(func=_command("prunebench.cli.catalog", "cmd_tiny_data"))

    join = sub.add_parser("join", help="run criteria on a board's missing cells and write it")
    join.add_argument("--criteria", required=True, help="the criteria to add (with settings)")
    join.add_argument("--results", required=True, help="the board's results folder")
    join.add_argument("--scenario", help="only this scenario's board (default: every one)")
    join.add_argument("--out", help="board folder (default: RESULTS/leaderboards)")
    join.set_defaults(func=_command("prunebench.cli.join", "cmd_join"))

    verify = sub.add_parser("verify", help="compute result cells again and compare every number")
    verify.add_argument("results", nargs="+", help="result files, or results folders")
    verify.add_argument("--sample", type=int, help="check N cells drawn at random (seeded)")
    verify.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    verify.add_argument("--json", action="store_true", help="a JSON report per cell")
    verify.add_argument("--record", action="store_true",
                        help="write each outcome to RESULTS/verified/, which boards count")
    verify.set_defaults(func=_command("prunebench.cli.verify", "cmd_verify"))

    board = sub.add_parser("leaderboard", help="result files -> markdown leaderboards")
    board.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder of result files")
    board.add_argument("--out", help="folder for the boards (default: RESULTS/leaderboards)")
    board.add_argument("--reference", help="comma-separated row names every row is compared "
                       "with (Dunnett's many-to-one intervals on each table's blocked model), "
                       "the first also for the power line (default: l1,random)")
    board.set_defaults(func=_command("prunebench.cli.catalog", "cmd_leaderboard"))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    keep_freed_memory()
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        check_early(args)
        return args.func(args)
    except PrunebenchError as exc:
        if debug:
            raise
        errors.print(f"prunebench: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except MemoryError:
        if debug:
            raise
        errors.print("prunebench: error: out of memory (MemoryError); try a smaller budget, "
                     "fewer --jobs or a machine with more memory; finished cells are saved",
                     markup=False)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        errors.print("prunebench: interrupted; finished cells are saved", markup=False)
        return 130
