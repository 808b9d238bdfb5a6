"""The `scratch` reference row of every cell: does a criterion add anything over its architecture?

Scratch-B of Liu et al., "Rethinking the value of network pruning" (ICLR'19): the pruned
architecture (the cell's target widths), every layer re-initialised by its own
`reset_parameters()`, trained with the baseline's schedule (learning rate, cosine decay) for as many
epochs as the baseline and all of a criterion's fine-tuning together. A criterion whose pruned
model does not beat this row has only chosen an architecture, which plain training finds as well.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

import prunebench
from prunebench import surgery
from prunebench.baseline import train_model
from prunebench.config import Budget, CellConfig
from prunebench.data.base import Data
from prunebench.plugins import PluginInfo
from prunebench.scenarios.base import Scenario

SCRATCH = "scratch"
INFO = PluginInfo(SCRATCH, "prunebench.scratch:train_scratch", "prunebench (reference)",
                  prunebench.__version__)


def scratch_epochs(budget: Budget) -> float:
    """The baseline's epochs plus every pruning step's fine-tuning."""
    return budget.baseline_epochs + budget.steps * budget.finetune_epochs


def reinitialise(model: nn.Module, groups: tuple[str, ...], widths: tuple[int, ...],
                 example: torch.Tensor, prune_root: str = "") -> None:
    """Narrow `model` to `widths`, then give every layer a fresh initialisation for its new shape
    (a slice of the wide model's initialisation would have the wrong fan-in scale)."""
    surgery.keep_first(model, groups, widths, example, prune_root)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def train_scratch(scenario: Scenario, data: Data, cell: CellConfig, device: torch.device,
                  on_epoch=None, resume: Path | None = None) -> tuple[nn.Module, dict]:
    """The cell's architecture trained from random initialisation: the model and its metrics.
    With `resume`, training checkpoints there every epoch and a killed cell continues."""
    example = torch.zeros(1, *data.input_shape)
    budget = replace(cell.budget, baseline_epochs=scratch_epochs(cell.budget))
    return train_model(scenario, data, budget, cell.seed, device, on_epoch,
                       init=lambda model: reinitialise(model, scenario.groups, cell.widths,
                                                       example, scenario.prune_root),
                       resume=resume)
