"""The one training loop: baseline training, sparsity epochs and fine-tuning all go through it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from prunebench.data.base import Data
from prunebench.errors import TrainingDiverged
from prunebench.models.tasks import Task
from prunebench.protocol.config import Budget
from prunebench.protocol.schedule import Rate
from prunebench.results.checkpoints import load_checkpoint, save_checkpoint
from prunebench.runtime import distributed
from prunebench.runtime.memory_format import cpu_channels_last


def phase_generator(seed: int, *tags: object) -> torch.Generator:
    """A generator whose state depends only on the seed and the phase, never on the criterion,
    so every criterion sees the same data order in the same phase."""
    digest = hashlib.sha256(repr((seed, *tags)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def train(model: nn.Module, data: Data, task: Task, budget: Budget, *, epochs: float,
          lr: float, generator: torch.Generator, device: torch.device, cosine: bool = False,
          extra_loss: Callable[[], Tensor | None] | None = None,
          on_epoch: Callable[[], None] | None = None, resume: Path | None = None,
          label: str = "training", rate: Rate | None = None,
          curve: Callable[[], float] | None = None) -> list[float]:
    """SGD (the budget's batch size, momentum and weight decay) for `epochs` (fractions allowed).

    `extra_loss` is added to the task's loss at every step (a criterion's penalty); with `cosine`
    the learning rate decays to zero over the whole phase; `rate` (schedule.py) sets it at every
    step instead. `curve` is called after every epoch (an evaluation): the values are returned,
    and kept with the phase's state across a resume. With `resume`, the phase saves its
    whole state there at every epoch boundary and, if the file exists, continues from it with the
    same data order and random state, so an interrupted phase ends as an uninterrupted one would.
    Weights that become NaN or infinite stop it at the next epoch boundary with
    TrainingDiverged, named by `label`, before they are checkpointed.
    Under torchrun the step runs through DistributedDataParallel on this rank's share of each
    batch, its loss weighted by that share, so the averaged gradient is the whole batch's.
    """
    batch_size = budget.batch_size
    per_epoch = math.ceil(data.n_train / batch_size)
    total_steps = round(epochs * per_epoch)
    if total_steps == 0:
        return []
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=budget.momentum,
                                weight_decay=budget.weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps) if cosine
                 else None)
    model.train()
    # a criterion's penalty reads the weights while training: those stay in the standard layout
    with cpu_channels_last(model, device, allowed=extra_loss is None):
        step, values = 0, list[float]()
        if resume is not None and distributed.from_main(resume.exists):
            step, values = _restore(resume, model, optimizer, scheduler, generator)
        net = distributed.parallel(model, device)
        while step < total_steps:
            for batch in data.train_batches(batch_size, generator, device):
                if rate is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = rate(step, total_steps)
                loss = task.loss(net, batch)
                if distributed.active():  # this rank's share of the batch, weighted by its size
                    loss = loss * distributed.share_weight(len(batch[1]))
                if extra_loss is not None:
                    extra = extra_loss()
                    if extra is not None:
                        loss = loss + extra
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                if step == total_steps:
                    break
            if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                if resume is not None and distributed.is_main():
                    resume.unlink(missing_ok=True)  # a rerun starts the phase again
                raise TrainingDiverged(
                    f"{label} diverged: the weights became NaN or infinite by step {step} of "
                    f"{total_steps} (learning rate {lr:g}); a lower learning rate may keep "
                    "them finite")
            if curve is not None:
                values.append(curve())
            if resume is not None and step < total_steps and distributed.is_main():
                _save(resume, step, model, optimizer, scheduler, generator, values)
            if on_epoch is not None:
                on_epoch()
        if resume is not None and distributed.is_main():
            resume.unlink(missing_ok=True)
    return values


def _save(path: Path, step: int, model: nn.Module, optimizer, scheduler,
          generator: torch.Generator, values: list[float]) -> None:
    save_checkpoint(path, {
        "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
        "curve": values})


def _restore(path: Path, model: nn.Module, optimizer, scheduler,
             generator: torch.Generator) -> tuple[int, list[float]]:
    saved = distributed.from_main(lambda: load_checkpoint(
        path, {"step", "model", "optimizer", "scheduler", "generator", "torch_rng"}))
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    return int(saved["step"]), list(saved.get("curve", []))
