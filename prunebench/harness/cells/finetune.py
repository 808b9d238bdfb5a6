"""The fine-tuning every pruning cell and the `unpruned-ft` control share: each step's phase and
the final phase, at the budget's rates (schedule.py), in the same data order for every row of a
seed, with the headline metric evaluated after every epoch (the board's accuracy-per-epoch
figure)."""

from __future__ import annotations

from torch import nn

from prunebench.harness.cells.base import EPOCH_CHECKPOINT, CellEnv
from prunebench.harness.train import phase_generator, train
from prunebench.protocol.config import Budget
from prunebench.protocol.schedule import finetune_rate

#: the history entry's key for the headline after every epoch of a step's fine-tuning
CURVE = "curve"


def finetune(model: nn.Module, env: CellEnv, budget: Budget, seed: int,
             step: int | None) -> list[float]:
    """Fine-tune `model` after pruning step `step` (None: the final phase, `final_epochs`);
    the headline metric after each epoch. Resumable from the cell's epoch checkpoint."""
    task = env.scenario.task
    epochs = budget.finetune_epochs if step is not None else budget.final_epochs
    return train(model, env.data, task, budget, epochs=epochs, lr=budget.finetune_lr,
                 generator=phase_generator(seed, "finetune", "final" if step is None else step),
                 device=env.device, on_epoch=env.progress.epoch,
                 resume=env.files.with_suffix(EPOCH_CHECKPOINT),
                 label=f"step {step}'s fine-tuning" if step is not None else "the final phase",
                 rate=finetune_rate(budget, step),
                 curve=lambda: task.evaluate(model, env.data, env.device)[task.headline])
