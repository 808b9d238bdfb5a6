"""The `unpruned-ft` control of every seed: the baseline given exactly the fine-tuning a pruning
cell gets (every step's epochs and the final phase, the same rates and data order), with nothing
removed and no penalty. It is the ceiling of a board: a pruned row below the baseline but level
with `unpruned-ft` lost nothing to pruning, and `unpruned-ft` below the baseline says the
fine-tuning itself hurts (protocol v3, issue 36)."""

from __future__ import annotations

import torch

from prunebench.harness.baseline import seed_everything
from prunebench.harness.cells.base import STEP_CHECKPOINT, Cell, CellEnv
from prunebench.harness.cells.finetune import CURVE, finetune
from prunebench.harness.cells.scratch import control_info
from prunebench.harness.cells.steps import StepLog
from prunebench.measure.architecture import model_size
from prunebench.models import surgery
from prunebench.protocol.config import CellConfig
from prunebench.protocol.schedule import finetune_epochs
from prunebench.results.record import Cost, Measured, Measures


class UnprunedCell(Cell):

    def __init__(self, config: CellConfig) -> None:
        self.config = config
        self.info = control_info(config.criterion, "prunebench.harness.cells.unpruned:UnprunedCell")

    def epochs(self) -> int:
        return finetune_epochs(self.config.budget)

    def run(self, env: CellEnv) -> Measured:
        cell, scenario, data, budget = self.config, env.scenario, env.data, self.config.budget
        task = scenario.task
        env.progress.phase(f"{cell.criterion}, seed {cell.seed}", self.epochs())
        seed_everything(cell.seed)
        model = scenario.model(budget)
        model.load_state_dict(env.baseline.state)
        model.to(env.device)
        example = torch.zeros(1, *data.input_shape, device=env.device)
        log = StepLog.resume(env.files.with_suffix(STEP_CHECKPOINT), model, scenario, example)
        for step in range(log.done + 1, budget.steps + 1):
            curve = finetune(model, env, budget, cell.seed, step)
            log.step_done({"step": step, CURVE: curve,
                           **task.evaluate(model, data, env.device)}, model, scenario,
                          last=step == budget.steps and not budget.final_epochs)
        final = finetune(model, env, budget, cell.seed, None)
        metrics = {**task.evaluate(model, data, env.device),
                   f"{task.headline}_before_finetune": None}
        log.finish()
        full = surgery.widths(model, scenario.groups)
        return Measured(
            original_widths=full, pruned_widths=full, baseline=env.baseline.measures,
            pruned=Measures.of_flat({**metrics, **model_size(model, scenario, data.input_shape)}),
            cost=Cost(training_epochs=self.epochs()), history=log.steps(),
            final_curve=tuple(final))
