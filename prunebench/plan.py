"""A run's plan: user choices checked against the scenario and the installed criteria, before any
work starts, so bad input fails in a second with one clear message."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from prunebench import plugins, scenarios
from prunebench.config import (
    Budget,
    Target,
    parse_names,
    parse_ratio,
    parse_seeds,
    parse_shard,
    parse_widths,
    rounded,
)
from prunebench.data.base import Data
from prunebench.errors import PrunebenchError
from prunebench.scenarios.base import Scenario
from prunebench.scratch import SCRATCH
from prunebench.store import check_results_dir

DEFAULT_RESULTS = Path("prunebench-results")


@dataclass(frozen=True)
class RunPlan:
    """A validated matrix: criteria x targets x seeds on one scenario and budget."""

    scenario: Scenario
    criteria: tuple[str, ...]
    targets: tuple[Target, ...]
    seeds: tuple[int, ...]
    budget: Budget
    results: Path
    device: torch.device
    data_root: Path | None = None
    download: bool = False
    command: str = "prunebench run"
    save_models: bool = False  # write each cell's pruned model beside its result
    backbone_from: Path | None = None  # results of the row a transfer row builds on
    force: bool = False  # rerun cells whose result already exists
    cell_timeout: float | None = None  # seconds before a cell is stopped and marked failed
    shard: tuple[int, int] | None = None  # (K, N): run only the K-th of N slices of the matrix
    scratch: bool = True  # add the Scratch-B reference row (scratch.py) to every target and seed
    started: str = ""  # when the run began (UTC, ISO 8601); results record it for the wall time
    job: tuple[int, int] | None = None  # (K, N): job K of `--jobs N`, which starts at the K-th seed

    @property
    def target(self) -> Target:
        """The first target: the one of rows that take a single target (transfer)."""
        return self.targets[0]

    def load_data(self) -> Data:
        """The row's data, at the budget's image size and limited to its sample counts."""
        budget = self.budget
        return self.scenario.load_data(self.data_root, self.download, budget.image_size).limited(
            budget.train_limit, budget.test_limit)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PrunebenchError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise PrunebenchError(f"unknown device '{name}'; choose auto, cpu or cuda")
    return torch.device(name)


def make_target(scenario: Scenario, target: str | None, widths: str | None,
                ratio: str | None, round_to: int | None = None) -> Target:
    """The target the options name (the scenario's default if none), rounded when asked."""
    chosen_target = _named_target(scenario, target, widths, ratio)
    if round_to is None:
        return chosen_target
    return rounded(chosen_target, _full_widths(scenario), scenario.groups, round_to)


def _named_target(scenario: Scenario, target: str | None, widths: str | None,
                  ratio: str | None) -> Target:
    chosen = [opt for opt, value in (("--target", target), ("--widths", widths), ("--ratio", ratio))
              if value is not None]
    if len(chosen) > 1:
        raise PrunebenchError(f"give only one of {', '.join(chosen)}")
    if widths is not None:
        parsed = parse_widths(widths)
        return Target("widths-" + "-".join(map(str, parsed)), widths=parsed)
    if ratio is not None:
        value = parse_ratio(ratio)
        return Target(f"ratio-{value:g}", ratio=value)
    return scenario.target(target or scenario.default_target)


def make_targets(scenario: Scenario, target: str | None, widths: str | None,
                 ratio: str | None, round_to: int | None = None) -> tuple[Target, ...]:
    """Every target a run names: --target takes a comma-separated list, e.g. prun1,prun2,half."""
    names = parse_names(target, "--target") if target is not None else (None,)
    return tuple(make_target(scenario, name, widths, ratio, round_to) for name in names)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_plan(*, scenario: str = scenarios.DEFAULT, criteria: str | None = None,
              target: str | None = None, widths: str | None = None, ratio: str | None = None,
              seeds: str | None = None, budget: str = "quick", data_root: str | None = None,
              download: bool = False, results: str | Path = DEFAULT_RESULTS,
              device: str = "auto", save_models: bool = False,
              backbone_from: str | None = None, round_to: int | None = None,
              force: bool = False, cell_timeout: float | None = None,
              shard: str | None = None, argv: list[str] | None = None, scratch: bool = True,
              command: str | None = None, started: str | None = None,
              job: str | None = None) -> RunPlan:
    """Check every choice; unset ones default to the scenario's and to all installed criteria."""
    row = scenarios.get(scenario)
    chosen_budget = row.budget(budget)
    available = plugins.discover()
    if criteria is None:
        names = tuple(available)
        if not names:
            raise PrunebenchError("no criteria are installed; pip install prunebench-baselines "
                                  "(plugins/prunebench-baselines in the source tree)")
    else:  # unknown names are refused by plugins.load; `scratch` alone runs the reference row
        names = parse_names(criteria, "--criteria")
        if SCRATCH in names and not scratch:
            raise PrunebenchError(f"--criteria names '{SCRATCH}' and --no-scratch leaves it out; "
                                  "give one of them")
        names = tuple(n for n in names if n != SCRATCH)
    if row.backbone_source and backbone_from is None:
        raise PrunebenchError(f"{row.name} needs --backbone-from RESULTS, a results folder with "
                              f"{row.backbone_source} runs made with --save-models")
    if backbone_from is not None and not row.backbone_source:
        raise PrunebenchError(f"--backbone-from is only for rows built on another row's models, "
                              f"not {row.name}")
    chosen_targets = make_targets(row, target, widths, ratio, round_to)
    if row.backbone_source and len(chosen_targets) > 1:
        raise PrunebenchError(f"{row.name} takes one --target at a time, got {target}")
    if round_to is None:  # rounding resolved, and so checked, the widths already
        for chosen in chosen_targets:  # widths out of range fail now
            chosen.resolve(_full_widths(row), row.groups)
    argv = sys.argv[1:] if argv is None else argv
    return RunPlan(
        scenario=row, criteria=names, targets=chosen_targets,
        seeds=parse_seeds(seeds) if seeds is not None else chosen_budget.seeds,
        budget=chosen_budget, results=check_results_dir(Path(results)),
        device=resolve_device(device), data_root=Path(data_root) if data_root else None,
        download=download, command=command or shlex.join(["prunebench", *argv]),
        save_models=save_models, scratch=scratch and not row.backbone_source,
        started=started or utc_now(),
        backbone_from=backbone_folder(backbone_from), force=force,
        cell_timeout=_check_timeout(cell_timeout),
        shard=parse_shard(shard) if shard is not None else None,
        job=parse_shard(job) if job is not None else None,
    )


def _check_timeout(seconds: float | None) -> float | None:
    if seconds is not None and seconds <= 0:
        raise PrunebenchError(f"--cell-timeout {seconds:g} must be a positive number of seconds")
    return seconds


def backbone_folder(text: str | None) -> Path | None:
    if text is None:
        return None
    folder = Path(text)
    if not folder.is_dir():
        raise PrunebenchError(f"--backbone-from {text} is not a folder of prunebench results")
    return folder


def _full_widths(row: Scenario) -> tuple[int, ...]:
    from prunebench.surgery import widths

    return widths(row.model(), row.groups)
