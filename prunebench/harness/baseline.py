"""The unpruned starting point: trained once per scenario, seed and schedule, cached, and shared
by every criterion so they all start from identical weights."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunebench.data.base import Data
from prunebench.errors import PrunebenchError
from prunebench.harness.train import phase_generator, train
from prunebench.measure.architecture import model_size
from prunebench.protocol.config import Budget
from prunebench.results.checkpoints import load_checkpoint, save_checkpoint
from prunebench.results.locks import exclusive, lock_path
from prunebench.results.record import Measures, Record, lost_baseline, made_on
from prunebench.results.store import baseline_path
from prunebench.runtime import distributed
from prunebench.scenarios.base import Scenario

CHECKPOINT_FORMAT = 2  # bump when what a baseline checkpoint holds changes
WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Baseline:
    state: dict[str, torch.Tensor]
    metrics: dict  # the task's metrics and the model's size (measure.architecture.model_size)
    path: Path

    @property
    def measures(self) -> Measures:
        """The metrics as a record holds them."""
        return Measures.of_flat(self.metrics)

    @cached_property
    def digest(self) -> str:
        """Which weights these are (`weights_digest`), for the records of the cells they
        start."""
        return weights_digest(self.state)


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of every tensor's name, dtype, shape and bytes, in name order (16 hex digits).

    Two runs of one schedule agree on it only on CPUs with the same instruction set: training
    is not bit-reproducible between, e.g., AVX2 and AVX-512 (their kernels add in other orders)."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu()
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        h.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch draws depend on `seed` alone from here on."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cache_key(scenario: Scenario, budget: Budget, data: Data, device: torch.device,
              init_key: str = "") -> str:
    """Everything that decides the baseline weights, hashed."""
    payload = {"format": CHECKPOINT_FORMAT, "scenario": scenario.name, "init": init_key,
               "schedule": budget.baseline_part(), "train_samples": data.n_train,
               "data": data.source, "device": device.type}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_model(scenario: Scenario, data: Data, budget: Budget, seed: int, device: torch.device,
                on_epoch: Callable[[], None] | None = None,
                init: Callable[[nn.Module], None] | None = None,
                resume: Path | None = None, label: str = "training") -> tuple[nn.Module, dict]:
    """The row's baseline schedule from a fresh model (or one `init` prepared); the trained
    model and its metrics and size. `label` names it if it diverges."""
    seed_everything(seed)
    model = scenario.model(budget)
    if init is not None:
        init(model)
    model.to(device)
    train(model, data, scenario.task, budget, epochs=budget.baseline_epochs, lr=budget.baseline_lr,
          generator=phase_generator(seed, "baseline"), device=device, cosine=True,
          on_epoch=on_epoch, resume=resume, label=label)
    return model, {**scenario.task.evaluate(model, data, device),
                   **model_size(model, scenario, data.input_shape)}


def get_baseline(scenario: Scenario, data: Data, budget: Budget, seed: int, results: Path,
                 device: torch.device, on_epoch: Callable[[], None] | None = None,
                 init: Callable[[nn.Module], None] | None = None, init_key: str = "") -> Baseline:
    """Load the cached baseline for this seed, or train and cache it. `init_key` names what
    `init` starts from, so a different starting point is a different baseline.

    Training holds a lock, so processes sharing a results folder train each baseline once (the
    others wait for it), and checkpoints every epoch, so a killed run resumes where it stopped."""
    path = baseline_path(results, scenario.name, seed,
                         cache_key(scenario, budget, data, device, init_key))
    lock = partial(exclusive, lock_path(results, f"baseline--{path.stem}"))
    while True:
        if distributed.from_main(path.exists):  # under torchrun rank 0 reads, and decides
            saved = distributed.from_main(lambda: load_checkpoint(path, {"state_dict", "metrics"}))
            _check_fits(scenario, budget, saved["state_dict"], path, init)
            return Baseline(saved["state_dict"], saved["metrics"], path)
        with distributed.held_by_main(lock) as mine:
            if mine and not distributed.from_main(path.exists):
                return _train_and_save(scenario, data, budget, seed, device, on_epoch, init, path)
        time.sleep(WAIT_SECONDS)  # another process is training it


def check_same_weights(baseline: Baseline, finished: Iterable[Record], results: Path,
                       here: str) -> None:
    """Refuse to pair new cells with finished ones of the same seed that started from other
    weights: a resumed run on another CPU retrains a missing baseline checkpoint, and training
    is not bit-reproducible across CPUs (seen: AVX2 gives 92.16% where AVX-512 gave 92.18%, and
    an AVX-512 AMD EPYC 91.84% where an AVX-512 Intel Xeon gave 92.18%). Records compare by
    `baseline_digest`; older ones, without it, by the baseline's metrics they recorded. `here`
    names this machine's CPU."""
    name = str(baseline.path.relative_to(results))
    metrics = json.dumps(baseline.measures.metrics, sort_keys=True)  # NaN equals NaN here
    differ = [r for r in finished if r.baseline_checkpoint == name and r.measured is not None
              and (r.baseline_digest != baseline.digest if r.baseline_digest
                   else json.dumps(r.measured.baseline.metrics, sort_keys=True) != metrics)]
    if not differ:
        return
    headline = differ[0].headline
    theirs = sorted({f"{r.measured.baseline.metrics.get(headline)}" for r in differ
                     if r.measured})
    raise PrunebenchError(
        f"baseline {baseline.path} ({headline} {baseline.measures.metrics.get(headline)}, "
        f"here on {here}) is not the one {len(differ)} finished cells in {results} started "
        f"from ({headline} {', '.join(theirs)}, on {', '.join(made_on(differ))}); training is "
        "not bit-reproducible across CPUs, so pairing them would be wrong: put their checkpoint "
        "at that path (commit a board's baselines with its results), or delete it and run on "
        "a CPU like theirs, or leave this seed out with --seeds")


def check_retrainable(made_from: Iterable[Record], results: Path, here: str) -> None:
    """Refuse, before its whole schedule runs, to retrain a missing baseline checkpoint that
    finished cells (`made_from`, those of the seed about to start) started from, when none of
    them was made on this CPU (`here`, its name and instruction set, `Environment.machine`):
    the weights would differ and `check_same_weights` would refuse them only after the
    training. A record that does not say its instruction set, or one made on a CPU like this
    one, lets the training go ahead."""
    missing = lost_baseline(made_from, lambda name: (results / name).exists())
    if not missing or any(r.environment.cpu_capability == "unknown"
                          or r.environment.machine == here for r in missing):
        return
    path = results / str(missing[0].baseline_checkpoint)
    raise PrunebenchError(
        f"baseline {path} is missing and would be retrained here on {here}, but the "
        f"{len(missing)} finished cells that started from it were made on "
        f"{', '.join(made_on(missing))}; training is not bit-reproducible across CPUs, so the "
        "new cells would start from other weights: put their checkpoint at that path (commit "
        "a board's baselines with its results), or run on a CPU like theirs, or leave this "
        "seed out with --seeds")


def _check_fits(scenario: Scenario, budget: Budget, state: dict, path: Path, init) -> None:
    """Refuse a checkpoint whose weights do not fit the row's model (a file from elsewhere)."""
    if init is not None:  # a transfer row's detector: its backbone is narrowed by `init`
        return
    model = scenario.model(budget)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise PrunebenchError(f"checkpoint {path} does not fit {scenario.name}'s model "
                              f"({str(exc).splitlines()[0][:120]}); delete it to retrain") \
            from None


def _train_and_save(scenario: Scenario, data: Data, budget: Budget, seed: int,
                    device: torch.device, on_epoch, init, path: Path) -> Baseline:
    model, metrics = train_model(scenario, data, budget, seed, device, on_epoch, init,
                                 resume=path.with_suffix(".partial.pt"),
                                 label=f"seed {seed}'s baseline training")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if distributed.is_main():
        save_checkpoint(path, {"state_dict": state, "metrics": metrics})
    distributed.barrier()
    return Baseline(state, metrics, path)
