"""The pruning cell: one criterion prunes the shared baseline to the target widths.

Its main path, `PruneCell.run`, reads top to bottom: for each pruning step, the criterion
prepares, trains its sparsity epochs (if it asks for any), selects the filters to keep; the
surgery removes the others; a reconstruction criterion refits the consuming layers; the model
is evaluated, fine-tuned and evaluated again. After the last step a final phase fine-tunes the
final architecture (`finetune.py`). Then the pruned model is measured. Checkpoints between steps
and torchrun's decisions live in `steps.py`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from prunebench.criteria.registry import LoadedCriterion
from prunebench.criterion import NotApplicable
from prunebench.errors import CriterionError
from prunebench.export.files import save_pruned
from prunebench.harness import allocation
from prunebench.harness.baseline import seed_everything
from prunebench.harness.cells.allocate import check_allocatable, step_allocation
from prunebench.harness.cells.base import STEP_CHECKPOINT, Cell, CellEnv
from prunebench.harness.cells.checks import (
    checked_penalty,
    checked_report,
    checked_sparsity_epochs,
    checked_state,
    guard,
    left_unchanged,
)
from prunebench.harness.cells.context import criterion_context
from prunebench.harness.cells.finetune import CURVE, finetune
from prunebench.harness.cells.measures import eager_speed
from prunebench.harness.cells.refit import refit_consumers
from prunebench.harness.cells.reuse import phase_key, reused_or_run
from prunebench.harness.cells.steps import StepLog, check_ranks_agree, choose
from prunebench.harness.train import phase_generator, train
from prunebench.measure.architecture import model_size
from prunebench.models import surgery
from prunebench.protocol.config import UNIFORM, CellConfig
from prunebench.protocol.schedule import finetune_epochs
from prunebench.registry.providers import Provider
from prunebench.results.record import Measured, Measures

#: a step's key for the headline metric after its sparsity epochs, before the surgery
BEFORE_REMOVAL = "before_removal"
#: a step's history key: the cell whose bit-identical fine-tuning phase it took (reuse.py)
REUSED_FROM = "reused_from"


def step_widths(full: tuple[int, ...], final: tuple[int, ...], step: int,
                steps: int) -> tuple[int, ...]:
    """Widths after `step` of `steps` equal pruning steps from `full` to `final`."""
    return tuple(f - round((f - t) * step / steps) for f, t in zip(full, final))


class PruneCell(Cell):
    def __init__(self, config: CellConfig, loaded: LoadedCriterion | CriterionError,
                 info: Provider) -> None:
        self.config, self.loaded, self.info = config, loaded, info

    def epochs(self) -> float:
        """The training epochs the cell will run; for a criterion whose sparsity epochs depend on
        its settings or the step's data, an estimate from its class's declared value."""
        budget = self.config.budget
        extra = self.loaded.cls.sparsity_epochs \
            if isinstance(self.loaded, LoadedCriterion) and not budget.one_shot else 0
        return finetune_epochs(budget) + budget.steps * math.ceil(extra)

    def run(self, env: CellEnv) -> Measured:
        if isinstance(self.loaded, CriterionError):  # a plugin that failed to load
            raise self.loaded
        cell, cls = self.config, self.loaded.cls
        name, budget, scenario, data, device = cell.label, cell.budget, env.scenario, env.data, \
            env.device
        task = scenario.task
        env.progress.phase(f"{name}, seed {cell.seed}", self.epochs())
        seed_everything(cell.seed)
        model: nn.Module = scenario.model(budget)
        model.load_state_dict(env.baseline.state)
        model.to(device)
        example = torch.zeros(1, *data.input_shape, device=device)
        full = surgery.widths(model, scenario.groups)
        criterion = guard(name, "creating the criterion", partial(cls, **cell.spec.kwargs()))
        log = StepLog.resume(env.files.with_suffix(STEP_CHECKPOINT), model, scenario, example)
        if log.done:  # what the criterion carried across the steps already done
            guard(name, "restore()", criterion.restore, log.criterion_state)
        cost = log.cost

        def reuse(phase: str, epochs: float, train_phase: Callable[[], list[float]],
                  evaluate: bool = True) -> tuple[list[float], dict, str | None]:
            """A fine-tuning phase and the evaluation after it, or, when an earlier cell of
            this results folder ran the same phase from the same bits, its outcome (reuse.py).
            A phase that trains nothing (the one-shot track, a budget without a final phase)
            has nothing to reuse: no digest, no entry."""
            def run() -> tuple[list[float], dict]:
                return train_phase(), task.evaluate(model, data, device) if evaluate else {}
            if not epochs:
                return *run(), None
            key = phase_key(model, scenario.name, budget, cell.seed, phase, device, data.source)
            return reused_or_run(env.files.parent.parent, scenario.name, cell.seed, key, model,
                                 f"{cell.label}, seed {cell.seed} ({cell.hash()})", run)

        # a global target allocates; its uniform row has fixed widths
        macs_of = allocation.scenario_macs(scenario) \
            if cell.macs_reduction and cell.role.kind != UNIFORM else None
        if macs_of is not None:
            check_allocatable(criterion)
        trains_first = checked_sparsity_epochs(name, criterion)
        if budget.one_shot and trains_first > 0:
            raise NotApplicable(f"it trains before it chooses ({trains_first:g} sparsity "
                                "epochs), and the one-shot track trains nothing")
        for step in range(log.done + 1, budget.steps + 1):
            target = step_widths(full, cell.widths, step, budget.steps) if macs_of is None \
                else ()
            ctx = criterion_context(scenario, data, budget, model, cell.seed, step, device,
                                    cost.calibration, target)
            started = time.perf_counter()
            with left_unchanged(name, "prepare()", model):
                guard(name, "prepare()", criterion.prepare, ctx)
            cost.criterion_seconds += time.perf_counter() - started
            sparsity_epochs = checked_sparsity_epochs(name, criterion)
            if sparsity_epochs > 0:
                cost.sparsity_epochs += sparsity_epochs
                train(model, data, task, budget, epochs=sparsity_epochs,
                      lr=budget.finetune_lr, generator=phase_generator(cell.seed, "sparsity", step),
                      device=device, extra_loss=partial(checked_penalty, name, criterion, ctx),
                      on_epoch=env.progress.epoch, label=f"step {step}'s sparsity training")
                model.eval()
                # what the penalty cost before anything is removed (its paper's claim: little)
                trained = {BEFORE_REMOVAL: task.evaluate(model, data, device)[task.headline]}
            else:
                trained = {}
            started = time.perf_counter()
            allocated = {}
            if macs_of is not None and cell.macs_reduction is not None:  # a global target
                chosen = step_allocation(name, criterion, ctx, macs_of, macs_of(tuple(full)),
                                         cell.macs_reduction,
                                         allocation.floors(full, cell.floor or allocation.FLOOR),
                                         step, budget.steps)
                target = chosen.widths
                allocated = {"macs_target": chosen.target_macs,
                             "at_floor": [scenario.groups[i] for i in chosen.at_floor],
                             "allocated_by": "criterion" if chosen.own else "harness",
                             "settled_by": chosen.moved}
            keep = choose(name, criterion, list(ctx.groups), target)
            cost.criterion_seconds += time.perf_counter() - started
            original = copy.deepcopy(model) if cls.refits else None
            surgery.remove_filters(model, example, keep, scenario.prune_root)
            refit = {}
            if original is not None:  # a reconstruction criterion refits the consuming layers
                started = time.perf_counter()
                refit = {"refit_error": refit_consumers(
                    name, criterion, ctx, original, keep,
                    phase_generator(cell.seed, "refit", step))}
                spent = time.perf_counter() - started
                cost.refit_seconds += spent
                cost.criterion_seconds += spent
                del original
            before = task.evaluate(model, data, device)[task.headline]
            curve, after, reused = reuse(f"step {step}", budget.finetune_epochs,
                                         partial(finetune, model, env, budget, cell.seed, step))
            log.step_done({"step": step, "widths": list(target),
                           "kept": {k: v.tolist() for k, v in keep.items()},
                           f"{task.headline}_before_finetune": before, **trained, **allocated,
                           **refit, **({REUSED_FROM: reused} if reused else {}),
                           CURVE: curve, **after},
                          model, scenario, last=step == budget.steps and not budget.final_epochs,
                          criterion_state=checked_state(name, criterion))
        final, final_metrics, final_reused = reuse(
            "final", budget.final_epochs, partial(finetune, model, env, budget, cell.seed, None),
            evaluate=bool(budget.final_epochs))

        check_ranks_agree(model, scenario)
        size = model_size(model, scenario, data.input_shape)
        last = log.steps()[-1].metrics
        if budget.final_epochs:  # the final phase's metrics; before it, the last step's
            last = {**final_metrics,
                    f"{task.headline}_before_finetune": last[f"{task.headline}_before_finetune"]}
        pruned = Measures.of_flat({**last, **size})
        baseline = env.baseline.measures
        model_file, exports = None, {}
        if env.save_models:  # the weights, and every export with the unpruned model's size
            unpruned = scenario.model(budget)
            unpruned.load_state_dict(env.baseline.state)
            exports = save_pruned(env.files, model, scenario, data.input_shape, unpruned)
            model_file = env.files.name
        log.finish()
        return Measured(
            original_widths=tuple(full), pruned_widths=surgery.widths(model, scenario.groups),
            baseline=baseline, pruned=pruned, cost=cost.as_record(),
            speed=eager_speed(scenario, budget, model, (baseline.macs, pruned.macs),
                              data.input_shape, device),
            history=log.steps(), criterion_report=checked_report(name, criterion),
            model_file=model_file, exports=exports, final_curve=tuple(final),
            final_reused_from=final_reused)
