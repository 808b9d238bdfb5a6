"""The main path of a run, top to bottom, identical for every criterion:

  for each seed: baseline (cached) ->
    for each criterion: load baseline weights -> for each pruning step: prepare, sparsity epochs
    with the criterion's penalty (if it asks for any), select per layer, remove filters, evaluate,
    fine-tune, evaluate -> measure -> one result file.

The harness never asks which criterion it runs. Every call into plugin code is guarded: whatever
it raises or answers wrongly fails that criterion's cell, with the reason written to its result;
a criterion that raises NotApplicable gets a "not-applicable" cell with its reason instead.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from prunebench import distributed, plugins, surgery
from prunebench.baseline import Baseline, get_baseline, seed_everything
from prunebench.config import Budget, CellConfig, in_shard
from prunebench.criterion import Batch, ChannelGroup, NotApplicable, PruneContext, check_keep
from prunebench.data.base import Data
from prunebench.errors import CriterionError
from prunebench.export import save_pruned
from prunebench.measure.architecture import model_size
from prunebench.measure.speed import speed_rows
from prunebench.plan import RunPlan, utc_now
from prunebench.scenarios.base import Scenario
from prunebench.scratch import INFO as SCRATCH_INFO
from prunebench.scratch import SCRATCH, scratch_epochs, train_scratch
from prunebench.store import (
    SCHEMA_VERSION,
    environment,
    exclusive,
    finished,
    load_checkpoint,
    lock_path,
    remove_orphaned_temporaries,
    result_path,
    save_checkpoint,
    write_json,
)
from prunebench.train import phase_generator, train


class Reporter(Protocol):
    """Progress callbacks; the CLI draws them with rich, tests pass `Silent()`."""

    def start(self, total_cells: int, total_epochs: float,
              epochs_of: Callable[[str], float]) -> None: ...
    def phase(self, label: str, epochs: float) -> None: ...
    def epoch(self) -> None: ...
    def cell_done(self, record: dict) -> None: ...
    def cell_skipped(self, criterion: str, seed: int, why: str) -> None: ...


class Silent:
    def start(self, total_cells: int, total_epochs: float,
              epochs_of: Callable[[str], float]) -> None: ...
    def phase(self, label: str, epochs: float) -> None: ...
    def epoch(self) -> None: ...
    def cell_done(self, record: dict) -> None: ...
    def cell_skipped(self, criterion: str, seed: int, why: str) -> None: ...


class CellTimeout(Exception):
    """Raised in the cell's thread when it outlives --cell-timeout."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after `seconds` (a SIGALRM timer; only in the main thread)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise CellTimeout(f"the cell took longer than its time limit of {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    records: list[dict] = field(default_factory=list)  # cells run now
    paths: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # done before, or held by another process

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]


def run_matrix(plan: RunPlan, reporter: Reporter | None = None) -> Outcome:
    if distributed.is_main():
        remove_orphaned_temporaries(plan.results)
    if plan.scenario.backbone_source is not None:  # a row built on another row's pruned models
        from prunebench.transfer import run_transfer

        return run_transfer(plan, reporter)
    reporter = reporter or Silent()
    scenario, budget = plan.scenario, plan.budget
    available = plugins.discover()
    loaded = load_criteria(plan.criteria, available)
    data = distributed.for_ranks(plan.load_data())
    env = environment(plan.device)
    if plan.device.type == "cpu":  # same seed, same numbers (CUDA would need more settings)
        torch.use_deterministic_algorithms(True, warn_only=True)
    outcome = Outcome()
    matrix = matrix_cells(plan)
    epochs = partial(cell_epochs, budget, loaded)
    reporter.start(sum(len(cells) for cells in matrix.values()),
                   sum(budget.baseline_epochs + sum(epochs(c.criterion) for c in cells)
                       for cells in matrix.values()), epochs)
    seeds = list(matrix)
    turn = plan.job or plan.shard  # process K of N starts at the K-th seed: the processes sharing
    if turn is not None:  # a folder train different baselines at once instead of waiting
        first = (turn[0] - 1) % len(seeds)
        seeds = seeds[first:] + seeds[:first]
    for seed in seeds:
        todo = pending(plan, matrix[seed], outcome, reporter)
        if not todo:
            continue
        reporter.phase(f"baseline, seed {seed}", budget.baseline_epochs)
        base = get_baseline(scenario, data, budget, seed, plan.results, plan.device, reporter.epoch)
        run_cells(plan, todo, outcome, reporter,
                  partial(_run_cell, plan, loaded, available, data, env, base, reporter))
    return outcome


def load_criteria(names: tuple[str, ...], available: dict
                  ) -> dict[str, plugins.LoadedCriterion | CriterionError]:
    """Each criterion's class, or why it cannot be loaded: unknown names stop the run here,
    broken plugins fail only their own cells."""
    loaded: dict[str, plugins.LoadedCriterion | CriterionError] = {}
    for name in names:
        try:
            loaded[name] = plugins.load(name, available)
        except CriterionError as exc:
            loaded[name] = exc
    return loaded


def matrix_cells(plan: RunPlan) -> dict[int, list[CellConfig]]:
    """The cells of this process's shard, per seed: every target and criterion, and the scratch
    reference row of every target."""
    scenario, budget = plan.scenario, plan.budget
    full = surgery.widths(scenario.model(budget), scenario.groups)
    names = plan.criteria + ((SCRATCH,) if plan.scratch else ())
    return {seed: [cell for target in plan.targets for name in names
                   if in_shard(cell := CellConfig(scenario.name, name, target.name,
                                                  target.resolve(full, scenario.groups), seed,
                                                  budget), plan.shard)]
            for seed in plan.seeds}


def cell_epochs(budget: Budget, loaded: dict, criterion: str) -> float:
    """The training epochs a criterion's cell will run, for the progress view's remaining time."""
    if criterion == SCRATCH:
        return scratch_epochs(budget)
    crit = loaded.get(criterion)
    extra = math.ceil(crit.cls.sparsity_epochs) if isinstance(crit, plugins.LoadedCriterion) else 0
    return budget.steps * (budget.finetune_epochs + extra)


def pending(plan: RunPlan, cells: list[CellConfig], outcome: Outcome,
            reporter: Reporter) -> list[CellConfig]:
    """The cells still to run (all with --force); finished ones are reported as skipped."""
    return [c for c in cells if plan.force
            or not distributed.from_main(partial(_skip, plan, c, outcome, reporter))]


def run_cells(plan: RunPlan, cells: list[CellConfig], outcome: Outcome, reporter: Reporter,
              run: Callable[[CellConfig], dict]) -> None:
    """Run each cell once among all processes sharing the results folder: hold its lock, skip
    it if another process holds or has finished it, write its record, report it. Under torchrun
    the ranks run each cell together and rank 0 takes the locks and writes the record."""
    for cell in cells:
        path = result_path(plan.results, cell)
        lock = partial(exclusive, lock_path(plan.results, f"{cell.scenario}--{path.stem}"))
        with distributed.held_by_main(lock) as mine:
            if not mine:
                outcome.skipped.append(path)
                reporter.cell_skipped(cell.criterion, cell.seed, "another process is running it")
                continue
            if not plan.force and distributed.from_main(
                    partial(_skip, plan, cell, outcome, reporter)):
                continue  # another process finished it while we trained the baseline
            record = run(cell)
            outcome.records.append(record)
            if distributed.is_main():
                outcome.paths.append(write_json(path, record))
            distributed.barrier()
        reporter.cell_done(record)


def attempt(record: dict, criterion: str, timeout: float | None,
            work: Callable[[], dict]) -> dict:
    """`record` filled with what `work` returns, or with why it failed or does not apply; timed,
    and stopped after `timeout` seconds."""
    started = time.perf_counter()
    try:
        with time_limit(timeout):
            record.update(work())
    except CriterionError as exc:
        record.update(status="failed", error=str(exc))
    except CellTimeout as exc:
        record.update(status="failed", error=f"criterion '{criterion}': {exc}")
    except NotApplicable as exc:
        record.update(status="not-applicable", error=f"criterion '{criterion}': {exc}")
    record["cost"]["cell_seconds"] = time.perf_counter() - started
    record["finished"] = utc_now()
    return record


def _skip(plan: RunPlan, cell: CellConfig, outcome: Outcome, reporter: Reporter) -> bool:
    """Whether the cell's result is already there (same config hash) and need not run again."""
    path = result_path(plan.results, cell)
    if finished(path) is None:
        return False
    outcome.skipped.append(path)
    reporter.cell_skipped(cell.criterion, cell.seed, f"done before ({path.name})")
    return True


def _run_cell(plan: RunPlan, loaded: dict, available: dict, data: Data, env: dict,
              base: Baseline, reporter: Reporter, cell: CellConfig) -> dict:
    """One cell of the matrix: its record, ok or failed with the reason."""
    if cell.criterion == SCRATCH:
        return _scratch(plan, data, env, base, reporter, cell)
    crit, budget = loaded[cell.criterion], cell.budget

    def work() -> dict:
        if isinstance(crit, CriterionError):
            raise crit
        epochs = budget.steps * (budget.finetune_epochs + math.ceil(crit.cls.sparsity_epochs))
        reporter.phase(f"{cell.criterion}, seed {cell.seed}", epochs)
        return prune_cell(plan.scenario, data, crit, cell, base, plan.device, reporter.epoch,
                          result_path(plan.results, cell).with_suffix(".pt"), plan.save_models)

    record = result_header(plan, cell, available[cell.criterion], data, env, base)
    return attempt(record, cell.criterion, plan.cell_timeout, work)


def _scratch(plan: RunPlan, data: Data, env: dict, base: Baseline, reporter: Reporter,
             cell: CellConfig) -> dict:
    """The Scratch-B reference cell: the target architecture trained from random weights."""
    def work() -> dict:
        reporter.phase(f"{SCRATCH}, seed {cell.seed}", scratch_epochs(cell.budget))
        model, metrics = train_scratch(plan.scenario, data, cell, plan.device, reporter.epoch,
                                       result_path(plan.results, cell).with_suffix(".partial.pt"))
        headline = plan.scenario.task.headline
        return {
            "widths": {"original": list(surgery.widths(plan.scenario.model(cell.budget),
                                                       plan.scenario.groups)),
                       "pruned": list(cell.widths)},
            "baseline": base.metrics,
            "pruned": {**metrics, f"{headline}_before_finetune": None},
            "speed": _speed(plan.scenario, cell.budget, model,
                            (base.metrics["macs"], metrics["macs"]), data.input_shape, plan.device),
            "history": [], "ranks": distributed.world_size(), "criterion_report": {},
            "cost": {"criterion_seconds": 0.0, "sparsity_epochs": 0.0, "calibration_samples": 0,
                     "training_epochs": scratch_epochs(cell.budget)},
        }

    record = result_header(plan, cell, SCRATCH_INFO, data, env, base)
    return attempt(record, cell.criterion, plan.cell_timeout, work)


def result_header(plan: RunPlan, cell: CellConfig, info: plugins.PluginInfo, data: Data,
                  env: dict, base: Baseline) -> dict:
    return {
        "schema_version": SCHEMA_VERSION, "status": "ok", "error": None,
        "scenario": cell.scenario, "task": plan.scenario.task.name,
        "headline": plan.scenario.task.headline,
        "criterion": {"name": cell.criterion, "distribution": info.distribution,
                      "version": info.version, "entry_point": info.target},
        "target": {"name": cell.target, "widths": list(cell.widths)},
        "seed": cell.seed, "budget": asdict(cell.budget), "config_hash": cell.hash(),
        "data": data.source, "device": str(plan.device), "command": plan.command,
        "run_started": plan.started, "reference": cell.criterion == SCRATCH,
        "baseline_checkpoint": str(base.path.relative_to(plan.results)),
        "environment": env, "cost": {},
    }


def step_widths(full: tuple[int, ...], final: tuple[int, ...], step: int, steps: int) -> tuple[int, ...]:
    """Widths after `step` of `steps` equal pruning steps from `full` to `final`."""
    return tuple(f - round((f - t) * step / steps) for f, t in zip(full, final))


def guard(name: str, what: str, call: Callable, *args):
    try:
        return call(*args)
    except (CriterionError, NotApplicable):
        raise
    except Exception as exc:  # plugin code may fail in any way
        raise CriterionError(name, f"{what} raised {type(exc).__name__}: {exc}") from exc


def _penalty(name: str, criterion, ctx: PruneContext) -> Tensor | None:
    value = guard(name, "penalty()", criterion.penalty, ctx)
    if value is not None and (not isinstance(value, Tensor) or value.numel() != 1
                              or not torch.isfinite(value).all()):
        raise CriterionError(name, f"penalty() must return a finite scalar Tensor or None, got {value!r}")
    return value


def prune_cell(scenario: Scenario, data: Data, crit: plugins.LoadedCriterion,
               cell: CellConfig, base: Baseline, device: torch.device,
               on_epoch: Callable[[], None] | None = None, save_to: Path | None = None,
               save_models: bool = False) -> dict:
    """Prune the baseline to `cell.widths` with one criterion; return its metrics and cost.

    With `save_to` (the cell's result path, as .pt), progress is checkpointed beside it after
    every pruning step and fine-tuning epoch, and a killed cell resumes from there; with
    `save_models` the pruned model is saved there too."""
    name, budget, task = cell.criterion, cell.budget, scenario.task
    seed_everything(cell.seed)
    model: nn.Module = scenario.model(budget)
    model.load_state_dict(base.state)
    model.to(device)
    example = torch.zeros(1, *data.input_shape, device=device)
    full = surgery.widths(model, scenario.groups)
    criterion = guard(name, "creating the criterion", crit.cls)
    history, seconds, sparsity_epochs, calibration = [], 0.0, 0.0, [0]
    progress = save_to.with_suffix(".step.pt") if save_to else None
    first = 1
    if progress is not None and distributed.from_main(progress.exists):  # a killed run: resume
        done = distributed.from_main(lambda: load_checkpoint(
            progress, {"step", "widths", "state_dict", "history", "cost", "torch_rng"}))
        surgery.keep_first(model, scenario.groups, done["widths"], example, scenario.prune_root)
        model.load_state_dict(done["state_dict"])
        torch.set_rng_state(done["torch_rng"])
        history, first = done["history"], done["step"] + 1
        seconds, sparsity_epochs, calibration[0] = done["cost"]

    for step in range(first, budget.steps + 1):
        target = step_widths(full, cell.widths, step, budget.steps)
        ctx = criterion_context(scenario, data, budget, model, cell.seed, step, device,
                                calibration)
        groups = ctx.groups
        started = time.perf_counter()
        guard(name, "prepare()", criterion.prepare, ctx)
        seconds += time.perf_counter() - started
        if crit.cls.sparsity_epochs > 0:
            sparsity_epochs += crit.cls.sparsity_epochs
            train(model, data, task, budget, epochs=crit.cls.sparsity_epochs,
                  lr=budget.finetune_lr, generator=phase_generator(cell.seed, "sparsity", step),
                  device=device, extra_loss=partial(_penalty, name, criterion, ctx),
                  on_epoch=on_epoch)
            model.eval()
        started = time.perf_counter()
        # under torchrun rank 0 chooses for all ranks (and its error, if any, stops them all)
        keep = distributed.from_main(partial(select_all, name, criterion, groups, target))
        seconds += time.perf_counter() - started
        surgery.remove_filters(model, example, keep, scenario.prune_root)
        before = task.evaluate(model, data, device)[task.headline]
        train(model, data, task, budget, epochs=budget.finetune_epochs, lr=budget.finetune_lr,
              generator=phase_generator(cell.seed, "finetune", step), device=device,
              on_epoch=on_epoch, resume=progress.with_suffix(".epoch.pt") if progress else None)
        after = task.evaluate(model, data, device)
        history.append({"step": step, "widths": list(target),
                        "kept": {k: v.tolist() for k, v in keep.items()},
                        f"{task.headline}_before_finetune": before, **after})
        if progress is not None and step < budget.steps and distributed.is_main():
            save_checkpoint(progress, {
                "step": step, "widths": list(surgery.widths(model, scenario.groups)),
                "state_dict": model.state_dict(), "history": history,
                "cost": [seconds, sparsity_epochs, calibration[0]],
                "torch_rng": torch.get_rng_state()})

    if distributed.active():
        weights = sum(float(p.detach().double().sum()) for p in model.parameters())
        distributed.check_same("the pruned model", (surgery.widths(model, scenario.groups), weights))
    saved = {"model_file": save_pruned(save_to, model, scenario, data.input_shape).name} \
        if save_models and save_to and distributed.is_main() else {}
    if progress is not None and distributed.is_main():
        progress.unlink(missing_ok=True)
    return {
        **saved,
        "widths": {"original": list(full), "pruned": list(surgery.widths(model, scenario.groups))},
        "baseline": base.metrics,
        "pruned": (pruned := {**{k: v for k, v in history[-1].items()
                                 if k not in ("step", "widths", "kept")},
                              **model_size(model, scenario, data.input_shape)}),
        "speed": _speed(scenario, budget, model, (base.metrics["macs"], pruned["macs"]),
                        data.input_shape, device),
        "history": history,
        "ranks": distributed.world_size(),
        "criterion_report": _report(name, criterion),
        "cost": {"criterion_seconds": seconds, "sparsity_epochs": sparsity_epochs,
                 "calibration_samples": calibration[0]},
    }


def _speed(scenario: Scenario, budget: Budget, pruned: nn.Module, macs: tuple[int, int],
           input_shape, device: torch.device) -> list[dict]:
    """Eager speed-up over the unpruned architecture at the budget's batch sizes; measured by
    rank 0 alone under torchrun (the others would share its cores and skew its clock)."""
    if not distributed.is_main():
        return []
    part = scenario.measure_root
    original = scenario.model(budget).get_submodule(part)
    return speed_rows(original, pruned.get_submodule(part), macs, input_shape,
                      budget.speed_batch_sizes, ("eager",), device, repeats=5)


def criterion_context(scenario: Scenario, data: Data, budget: Budget, model: nn.Module, seed: int,
                      step: int, device: torch.device, calibration: list[int]) -> PruneContext:
    """What a criterion sees at one pruning step; the model goes to eval mode, so BatchNorm
    statistics stay put while criteria look at it."""
    example = torch.zeros(1, *data.input_shape, device=device)
    groups = surgery.channel_groups(model, scenario.groups, example, scenario.prune_root)
    model.eval()
    return PruneContext(model, groups, scenario.task.loss,
                        phase_generator(seed, "criterion", step), device,
                        _calibration(data, budget, seed, step, device, calibration))


def _report(name: str, criterion) -> dict:
    report = guard(name, "report()", criterion.report)
    try:
        return json.loads(json.dumps(report))
    except (TypeError, ValueError):
        raise CriterionError(name, f"report() must return a JSON-ready dict, got {report!r}") from None


def select_all(name: str, criterion, groups: list[ChannelGroup],
               widths: tuple[int, ...]) -> dict[str, Tensor]:
    """The filters `criterion` keeps in each group, checked."""
    return {g.name: checked_select(name, criterion, g, n) for g, n in zip(groups, widths)}


def checked_select(name: str, criterion, group: ChannelGroup, n_keep: int) -> Tensor:
    answer = guard(name, f"select() on {group.name}", criterion.select, group, n_keep)
    try:
        return check_keep(answer, group, n_keep)
    except ValueError as exc:
        raise CriterionError(name, str(exc)) from None


def _calibration(data: Data, budget: Budget, seed: int, step: int, device: torch.device,
                 counter: list[int]) -> Callable[[], Iterator[Batch]]:
    """The same bounded batches on every call and for every criterion; counts samples drawn."""
    def batches() -> Iterator[Batch]:
        generator = phase_generator(seed, "calibration", step)
        for batch in itertools.islice(data.train_batches(budget.batch_size, generator, device),
                                      budget.calibration_batches):
            counter[0] += len(batch[1])
            yield batch
    return batches
