"""What every kind of cell is: a configuration, where its code comes from, the training epochs
it will run (for the time left), and how it runs itself into the measured part of a record.

The runner treats every kind alike: it builds the record's header, runs the cell (in a worker
process), and files the record. Which kinds a matrix holds is decided when it is built.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from prunebench.data.base import Data
from prunebench.harness.baseline import Baseline
from prunebench.protocol.config import CellConfig
from prunebench.registry.providers import Provider
from prunebench.results.record import Measured
from prunebench.runtime.worker import Progress
from prunebench.scenarios.base import Scenario

#: a cell's progress checkpoints, beside its result: after each pruning step, at each epoch of
#: a fine-tuning, at each epoch of a scratch training
STEP_CHECKPOINT, EPOCH_CHECKPOINT, SCRATCH_CHECKPOINT = ".step.pt", ".epoch.pt", ".partial.pt"


def discard_progress(files: Path) -> None:
    """Delete a failed cell's progress checkpoints. They hold the state that led to its failure
    (a criterion's bad answer, a time limit); a rerun, after a fix, starts from the baseline. A
    killed run writes no record and keeps them, so it resumes."""
    for suffix in (STEP_CHECKPOINT, EPOCH_CHECKPOINT, SCRATCH_CHECKPOINT):
        files.with_suffix(suffix).unlink(missing_ok=True)


@dataclass(frozen=True)
class CellEnv:
    """What a running cell works with: the row, its data, the baseline of its seed, the device,
    where its progress checkpoints go (`<result>.pt` beside the result file), and its progress."""

    scenario: Scenario
    data: Data
    baseline: Baseline
    device: torch.device
    files: Path  # the result path with the suffix .pt: checkpoints are `files.with_suffix(...)`
    progress: Progress
    save_models: bool = False


class Cell(abc.ABC):
    """One cell of a matrix."""

    config: CellConfig
    info: Provider

    @abc.abstractmethod
    def epochs(self) -> float:
        """The training epochs it will run."""

    @abc.abstractmethod
    def run(self, env: CellEnv) -> Measured:
        """The measured part of its record (widths, baseline and pruned measures, speed,
        history, cost, ...). Raises CriterionError or NotApplicable when the criterion fails or does
        not apply."""


@dataclass(frozen=True)
class Matrix:
    """The cells of a run by seed (this process's shard of them), and how the baseline every
    cell of a seed starts from is had: `baseline(seed, data, on_epoch)`."""

    cells: dict[int, list[Cell]]
    baseline: Callable[[int, Data, Callable[[], None]], Baseline]

    @property
    def total_epochs(self) -> float:
        """Training epochs of the whole matrix: every seed's baseline and every cell's."""
        return sum(self.baseline_epochs + sum(c.epochs() for c in cells)
                   for cells in self.cells.values())

    @property
    def baseline_epochs(self) -> float:
        first = next((c for cells in self.cells.values() for c in cells), None)
        return first.config.budget.baseline_epochs if first is not None else 0.0
