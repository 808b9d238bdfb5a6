"""What every cell measures on the model it ends with, the same way for every kind of cell."""

from __future__ import annotations

import torch
from torch import nn

from prunebench.measure.speed import speed_rows
from prunebench.protocol.config import Budget
from prunebench.results.record import SpeedRow
from prunebench.runtime import distributed
from prunebench.scenarios.base import Scenario


def eager_speed(scenario: Scenario, budget: Budget, pruned: nn.Module, macs: tuple[int, int],
                input_shape: tuple[int, ...], device: torch.device) -> tuple[SpeedRow, ...]:
    """Eager speed-up over the unpruned architecture at the budget's batch sizes; measured by
    rank 0 alone under torchrun (the others would share its cores and skew its clock)."""
    if not distributed.is_main():
        return ()
    part = scenario.measure_root
    original = scenario.model(budget).get_submodule(part)
    return tuple(SpeedRow.from_json(row) for row in
                 speed_rows(original, pruned.get_submodule(part), macs, input_shape,
                            budget.speed_batch_sizes, ("eager",), device, repeats=5))
