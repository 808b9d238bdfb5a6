"""The checks of a command's arguments that need neither torch nor a plugin, run before the
command's heavy imports: a mistyped criterion, a bad seed list or an unbounded measurement is
refused in a fraction of a second (issue 39), with the same line the command itself would give.
What needs a scenario or a criterion's class (a target, a budget, a setting's type) is checked
by the command, still before any work."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from prunebench.cli.arguments import parse_controls, parse_criteria, parse_seeds
from prunebench.criteria.discovery import discover, unknown
from prunebench.errors import PrunebenchError
from prunebench.protocol.config import LEGACY_SCRATCH, is_control

#: the most timed calls per measurement, and independent measurements, a command may ask for
MAX_REPEATS, MAX_RUNS = 10_000, 100


def check_early(args: argparse.Namespace) -> None:
    """Raise PrunebenchError for the first argument that is wrong on its face."""
    command = args.command
    if command == "run":
        check_run(args)
    if command == "join":
        check_criteria(args.criteria)
    if command == "speed":
        check_repeats(args.repeats)
    if command == "speed" and not 1 <= args.runs <= MAX_RUNS:
        raise PrunebenchError(f"--runs {args.runs} must be a number of measurements from 1 to "
                              f"{MAX_RUNS}")
    if command in ("speed", "memory"):
        check_plot(args.plot)
    if command == "export":
        check_tolerance(args.tolerance)


def check_run(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise PrunebenchError(f"--jobs {args.jobs} must be a positive number of processes")
    if args.seeds is not None:
        parse_seeds(args.seeds)
    if args.controls is not None:
        parse_controls(args.controls)
    if args.criteria:
        check_criteria(args.criteria)


def check_criteria(text: str) -> None:
    """Every criterion named is installed (a control's name is the command's to judge)."""
    available = discover()
    for name, _ in parse_criteria(text):
        if is_control(name) or name == LEGACY_SCRATCH:
            continue
        missing = unknown(name, available)
        if missing is not None:
            raise missing


def check_repeats(repeats: int) -> None:
    if not 1 <= repeats <= MAX_REPEATS:
        raise PrunebenchError(f"--repeats {repeats} must be a number of timed calls from 1 to "
                              f"{MAX_REPEATS:,}")


def check_plot(plot: str | None) -> None:
    if plot and (Path(plot).is_dir() or not plot.lower().endswith(".png")):
        raise PrunebenchError(f"--plot {plot} must name a PNG file to write, e.g. speed.png")


def check_tolerance(value: float) -> None:
    if not (math.isfinite(value) and 0 < value < 1):
        raise PrunebenchError(f"--tolerance {value} must be a relative difference between 0 and "
                              "1, e.g. 1e-4")
