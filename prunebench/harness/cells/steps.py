"""A pruning cell's progress between its steps: saved after every step but the last beside the
cell's result, so a killed cell resumes at the next step with the same weights, random state and
cost so far; and, under torchrun, the decisions rank 0 takes for every rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from prunebench.criterion import ChannelGroup, Criterion
from prunebench.harness.cells.checks import select_all
from prunebench.models import surgery
from prunebench.results.checkpoints import load_checkpoint, save_checkpoint
from prunebench.results.record import Cost, Step
from prunebench.runtime import distributed
from prunebench.scenarios.base import Scenario

_KEYS = {"step", "widths", "state_dict", "history", "cost", "torch_rng"}


@dataclass
class Tally:
    """What a criterion has spent so far: its own wall time (its refit's included), sparsity
    epochs, calibration samples (the context bumps the counter) and its refit's wall time."""

    criterion_seconds: float = 0.0
    sparsity_epochs: float = 0.0
    calibration: list[int] = field(default_factory=lambda: [0])  # a counter the context bumps
    refit_seconds: float = 0.0

    def as_record(self) -> Cost:
        return Cost(self.criterion_seconds, self.sparsity_epochs, self.calibration[0],
                    refit_seconds=self.refit_seconds or None)


@dataclass
class StepLog:
    """The steps done so far, and where they are checkpointed (None: not checkpointed)."""

    path: Path | None
    history: list[dict] = field(default_factory=list)
    cost: Tally = field(default_factory=Tally)
    done: int = 0
    #: the criterion's `state()` after the last finished step, for `restore` on a resume
    criterion_state: dict = field(default_factory=dict)

    @classmethod
    def resume(cls, path: Path | None, model: nn.Module, scenario: Scenario,
               example: Tensor) -> StepLog:
        """The log of a killed cell, with `model` narrowed and loaded to where it stopped; a
        fresh log when there is none."""
        log = cls(path)
        if path is None or not distributed.from_main(path.exists):
            return log
        saved = distributed.from_main(lambda: load_checkpoint(path, _KEYS))
        surgery.keep_first(model, scenario.groups, saved["widths"], example, scenario.prune_root)
        model.load_state_dict(saved["state_dict"])
        torch.set_rng_state(saved["torch_rng"])
        seconds, epochs, samples, *refit = saved["cost"]
        log.history, log.done = saved["history"], saved["step"]
        log.criterion_state = dict(saved.get("criterion_state") or {})
        log.cost = Tally(seconds, epochs, [samples], *refit)
        return log

    def steps(self) -> tuple[Step, ...]:
        """The history so far, typed (the checkpoint keeps it as the file will: JSON values)."""
        return tuple(Step.from_json(entry) for entry in self.history)

    def step_done(self, entry: dict, model: nn.Module, scenario: Scenario, last: bool,
                  criterion_state: dict | None = None) -> None:
        self.history.append(entry)
        self.criterion_state = criterion_state or {}
        self.done = entry["step"]
        if self.path is None or last or not distributed.is_main():
            return
        c = self.cost
        save_checkpoint(self.path, {
            "step": self.done, "widths": list(surgery.widths(model, scenario.groups)),
            "state_dict": model.state_dict(), "history": self.history,
            "cost": [c.criterion_seconds, c.sparsity_epochs, c.calibration[0], c.refit_seconds],
            "torch_rng": torch.get_rng_state(),
            **({"criterion_state": self.criterion_state} if self.criterion_state else {})})

    def finish(self) -> None:
        if self.path is not None and distributed.is_main():
            self.path.unlink(missing_ok=True)


def choose(name: str, criterion: Criterion, groups: list[ChannelGroup],
           widths: tuple[int, ...]) -> dict[str, Tensor]:
    """The filters to keep per group: under torchrun rank 0 chooses for every rank, and its
    error, if any, stops them all."""
    return distributed.from_main(partial(select_all, name, criterion, groups, widths))


def check_ranks_agree(model: nn.Module, scenario: Scenario) -> None:
    """Under torchrun: fail unless every rank ends with the same pruned model."""
    if distributed.active():
        weights = sum(float(p.detach().double().sum()) for p in model.parameters())
        distributed.check_same("the pruned model", (surgery.widths(model, scenario.groups),
                                                    weights))
