"""Command-line strings -> a checked `RunPlan` and `RunOptions`, before any work or output, so
bad input fails in a second with one line saying what is wrong and what to do."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch

from prunebench import scenarios
from prunebench.cli.arguments import (
    parse_controls,
    parse_criteria,
    parse_names,
    parse_seeds,
    parse_shard,
    parse_widths,
)
from prunebench.criteria import registry
from prunebench.errors import PrunebenchError
from prunebench.harness import allocation
from prunebench.harness.plan import DEFAULT_RESULTS, RunOptions, RunPlan, utc_now
from prunebench.protocol.config import (
    CONTROLS,
    LEGACY_SCRATCH,
    ONE_SHOT_SWEEP,
    UNIFORM,
    CriterionSpec,
    Setting,
    Target,
    macs_target,
    one_shot,
    parse_ratio,
    ratio_target,
    rounded,
)
from prunebench.results.store import check_results_dir, check_writable
from prunebench.scenarios.base import Scenario
from prunebench.scenarios.check import usable

#: `--track`: fine-tuned cells (the default), or one removal with no training at all
TRACKS = ("fine-tune", "one-shot")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PrunebenchError("--device cuda was asked for but torch sees no CUDA GPU; use "
                              "--device cpu")
    if name not in ("cpu", "cuda"):
        raise PrunebenchError(f"unknown device '{name}'; choose auto, cpu or cuda")
    return torch.device(name)


def make_target(scenario: Scenario, target: str | None, widths: str | None,
                ratio: str | None, round_to: int | None = None) -> Target:
    """The target the options name (the scenario's default if none), rounded when asked."""
    chosen = _named_target(scenario, target, widths, ratio)
    full, groups = _full_widths(scenario), scenario.groups
    if round_to is not None:
        return rounded(chosen, full, groups, round_to)
    chosen.resolve(full, groups)  # widths out of range fail now
    return chosen


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
    if target is not None and (found := macs_target(target)) is not None:
        assert found.macs_reduction is not None
        allocation.check_reachable(scenario, found.macs_reduction)
        return found
    if target is not None and target not in scenario.targets \
            and (fraction := ratio_target(target)) is not None:
        return fraction
    return scenario.target(target or scenario.default_target)


def make_targets(scenario: Scenario, target: str | None, widths: str | None,
                 ratio: str | None, round_to: int | None = None) -> tuple[Target, ...]:
    """Every target a run names: --target takes a comma-separated list, e.g. prun1,prun2,half."""
    names = parse_names(target, "--target") if target is not None else (None,)
    return tuple(make_target(scenario, name, widths, ratio, round_to) for name in names)


def criteria_specs(text: str | None, controls: tuple[str, ...],
                   paper: Mapping[str, tuple[Setting, ...]]) -> tuple[CriterionSpec, ...]:
    """The criteria `--criteria` names, each loaded and its settings checked against its
    constructor; a control's name there (or `scratch`, the old name of `scratch-e`) is accepted
    when `controls` runs it. Without it every installed criterion, with the settings the papers
    use on the row (`paper`, else its defaults)."""
    available = registry.discover()
    if text is None:
        if not available:
            raise PrunebenchError("no criteria are installed; pip install prunebench-baselines "
                                  "(plugins/prunebench-baselines in the source tree)")
        return tuple(CriterionSpec(name, paper.get(name, ())) for name in available)
    specs = []
    for name, settings in parse_criteria(text):
        if name in CONTROLS or name == LEGACY_SCRATCH:
            if settings:
                raise PrunebenchError(f"--criteria: the control '{name}' takes no settings "
                                      f"(got {':'.join(f'{k}={v}' for k, v in settings)})")
            if (name if name != LEGACY_SCRATCH else "scratch-e") not in controls:
                raise PrunebenchError(f"--criteria names the control '{name}' and --controls "
                                      "leaves it out; give it in --controls (controls are rows "
                                      "of their own, not criteria)")
            continue
        specs.append(CriterionSpec(name, tuple(settings)))
    return tuple(registry.bind_all(specs, available))


def make_plan(*, scenario: str = scenarios.DEFAULT, criteria: str | None = None,
              target: str | None = None, widths: str | None = None, ratio: str | None = None,
              round_to: int | None = None, seeds: str | None = None, budget: str = "quick",
              threads: int | None = None, data_root: str | None = None, download: bool = False,
              controls: str | None = None, backbone_from: str | None = None,
              track: str = "fine-tune", allow_unknown_data: bool = False) -> RunPlan:
    """What to compute; unset choices default to the scenario's, to all installed criteria and
    to every control row (`controls`: comma-separated names, or `none`). The `one-shot` track
    trains nothing: its budget is `config.one_shot`'s, its default targets the sweep
    `ONE_SHOT_SWEEP`, and its only control is `uniform` (nothing else applies untrained)."""
    if track not in TRACKS:
        raise PrunebenchError(f"--track {track}: choose one of {', '.join(TRACKS)}")
    row = usable(scenario)
    chosen_budget = row.budget(budget)
    if threads is not None:
        if threads < 1:
            raise PrunebenchError(f"--threads {threads} must be a positive number of threads")
        chosen_budget = replace(chosen_budget, threads=threads)
    chosen_controls = parse_controls(controls) if controls is not None else CONTROLS
    if track == "one-shot":
        trained = [c for c in chosen_controls if c != UNIFORM]
        if controls is not None and trained:
            raise PrunebenchError(f"--controls {trained[0]} trains, and the one-shot track "
                                  f"trains nothing; give --controls {UNIFORM} or none")
        chosen_controls = tuple(c for c in chosen_controls if c == UNIFORM)
        chosen_budget = one_shot(chosen_budget)
        if target is None and widths is None and ratio is None:
            target = ",".join(ONE_SHOT_SWEEP)
    specs = criteria_specs(criteria, chosen_controls, row.paper_settings)
    if row.backbone_source and backbone_from is None:
        raise PrunebenchError(f"{row.name} needs --backbone-from RESULTS, a results folder with "
                              f"{row.backbone_source} runs made with --save-models")
    if backbone_from is not None and not row.backbone_source:
        raise PrunebenchError(f"--backbone-from is only for rows built on another row's models, "
                              f"not {row.name}")
    chosen_targets = make_targets(row, target, widths, ratio, round_to)
    if row.backbone_source and len(chosen_targets) > 1:
        raise PrunebenchError(f"{row.name} takes one --target at a time, got {target}")
    if data_root is not None and not download and not Path(data_root).is_dir():
        raise PrunebenchError(f"--data-root {data_root} is not a folder; give the folder that "
                              "holds the data set")
    return RunPlan(
        scenario=row, criteria=specs, targets=chosen_targets,
        seeds=parse_seeds(seeds) if seeds is not None else chosen_budget.seeds,
        budget=chosen_budget, controls=() if row.backbone_source else chosen_controls,
        data_root=Path(data_root) if data_root else None, download=download,
        backbone_from=backbone_folder(backbone_from), allow_unknown_data=allow_unknown_data)


def make_options(*, results: str | Path = DEFAULT_RESULTS, device: str = "auto",
                 force: bool = False, cell_timeout: float | None = None,
                 shard: str | None = None, job: str | None = None, save_models: bool = False,
                 isolate: bool = True, argv: list[str] | None = None, command: str | None = None,
                 started: str | None = None) -> RunOptions:
    """How to run it: the results folder must take files, the rest must parse."""
    argv = sys.argv[1:] if argv is None else argv
    return RunOptions(
        results=check_writable(check_results_dir(Path(results)), "--results"),
        device=resolve_device(device), force=force, cell_timeout=cell_timeout,
        shard=parse_shard(shard) if shard is not None else None,
        job=parse_shard(job) if job is not None else None, save_models=save_models,
        isolate=isolate, command=command or shlex.join(["prunebench", *argv]),
        started=started or utc_now())


def backbone_folder(text: str | None) -> Path | None:
    if text is None:
        return None
    folder = Path(text)
    if not folder.is_dir():
        raise PrunebenchError(f"--backbone-from {text} is not a folder of prunebench results")
    return folder


def _full_widths(row: Scenario) -> tuple[int, ...]:
    from prunebench.models.surgery import widths

    return widths(row.model(), row.groups)
