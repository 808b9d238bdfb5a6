"""The `scratch-e` and `scratch-b` control rows of every target and seed: does a criterion add
anything over the architecture it ends with?

Liu et al., "Rethinking the value of network pruning" (ICLR'19): the pruned architecture (the
cell's target widths), every layer re-initialised by its own `reset_parameters()`, trained with
the baseline's schedule (learning rate, cosine decay). `scratch-e` trains as many epochs as the
baseline and all of a criterion's fine-tuning together (epoch-matched to the whole pipeline;
Liu et al.'s Scratch-E matches the baseline's alone); `scratch-b` as many as the unpruned
baseline's training MACs buy at the pruned MACs, capped (`schedule.scratch_b_epochs`). A
criterion whose pruned model does not beat them has only chosen an architecture, which plain
training finds as well. Result files of the first two editions name `scratch-e` `scratch`.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

import prunebench
from prunebench.harness import allocation
from prunebench.harness.baseline import train_model
from prunebench.harness.cells.base import SCRATCH_CHECKPOINT, Cell, CellEnv
from prunebench.harness.cells.measures import eager_speed
from prunebench.models import surgery
from prunebench.protocol.config import SCRATCH_B, CellConfig
from prunebench.protocol.schedule import scratch_b_epochs, scratch_e_epochs
from prunebench.registry.providers import Provider
from prunebench.results.record import Cost, Measured, Measures
from prunebench.scenarios.base import Scenario


def control_info(name: str, entry: str) -> Provider:
    """A control row's provenance: prunebench itself."""
    return Provider(name, entry, "prunebench (control)", prunebench.__version__)


def reinitialise(model: nn.Module, groups: tuple[str, ...], widths: tuple[int, ...],
                 example: torch.Tensor, prune_root: str = "") -> None:
    """Narrow `model` to `widths`, then give every layer a fresh initialisation for its new shape
    (a slice of the wide model's initialisation would have the wrong fan-in scale)."""
    surgery.keep_first(model, groups, widths, example, prune_root)
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()


class ScratchCell(Cell):
    """The target architecture trained from random weights, checkpointed every epoch."""


    def __init__(self, config: CellConfig, scenario: Scenario) -> None:
        self.config = config
        self.info = control_info(config.criterion, "prunebench.harness.cells.scratch:ScratchCell")
        budget = config.budget
        if config.criterion == SCRATCH_B:
            macs_of = allocation.scenario_macs(scenario)
            full = surgery.widths(scenario.model(budget), scenario.groups)
            self._epochs = scratch_b_epochs(budget, macs_of(full), macs_of(config.widths))
        else:
            self._epochs = scratch_e_epochs(budget)

    def epochs(self) -> int:
        return self._epochs

    def run(self, env: CellEnv) -> Measured:
        cell, scenario, data = self.config, env.scenario, env.data
        env.progress.phase(f"{cell.criterion}, seed {cell.seed}", self.epochs())
        example = torch.zeros(1, *data.input_shape)
        model, metrics = train_model(
            scenario, data, replace(cell.budget, baseline_epochs=self.epochs()), cell.seed,
            env.device, env.progress.epoch,
            init=lambda model: reinitialise(model, scenario.groups, cell.widths, example,
                                            scenario.prune_root),
            resume=env.files.with_suffix(SCRATCH_CHECKPOINT), label="training from scratch")
        base, pruned = env.baseline.measures, Measures.of_flat(metrics)
        return Measured(
            original_widths=surgery.widths(scenario.model(cell.budget), scenario.groups),
            pruned_widths=tuple(cell.widths), baseline=base,
            pruned=pruned.with_metrics(**{f"{scenario.task.headline}_before_finetune": None}),
            cost=Cost(training_epochs=self.epochs()),
            speed=eager_speed(scenario, cell.budget, model, (base.macs, pruned.macs),
                              data.input_shape, env.device))
