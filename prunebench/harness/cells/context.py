"""What a criterion sees at one pruning step: the model in eval mode, its channel groups, the
task's loss, a seeded generator and the same bounded calibration batches for every criterion."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from prunebench.criterion import Batch, PruneContext, SparsityPhase
from prunebench.data.base import Data
from prunebench.harness.train import phase_generator
from prunebench.models import surgery
from prunebench.protocol.config import Budget
from prunebench.scenarios.base import Scenario


def criterion_context(scenario: Scenario, data: Data, budget: Budget, model: nn.Module, seed: int,
                      step: int, device: torch.device, calibration: list[int],
                      widths: Sequence[int] = ()) -> PruneContext:
    """The context of pruning step `step`, which prunes to `widths` (none given: the caller
    selects at several widths, as sensitivity curves do); the model goes to eval mode, so
    BatchNorm statistics stay put while criteria look at it. `calibration[0]` counts the
    samples drawn."""
    example = torch.zeros(1, *data.input_shape, device=device)
    groups = surgery.channel_groups(model, scenario.groups, example, scenario.prune_root)
    model.eval()
    return PruneContext(model, groups, scenario.task.loss,
                        phase_generator(seed, "criterion", step), device,
                        _calibration(data, budget, seed, step, device, calibration),
                        dict(zip(scenario.groups, widths)),
                        SparsityPhase(budget.finetune_lr, budget.momentum,
                                      math.ceil(data.n_train / budget.batch_size),
                                      budget.finetune_epochs))


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
