"""Exact reuse (issue 40): a fine-tuning phase whose every input is bit-identical to one already
computed in the same results folder is not trained again. At fixed widths `lamp` keeps `l2`'s
filters, so after each removal its model is `l2`'s to the last bit, and the rest of the phase
(the same seed's data order, the same rates) would give the same bits again.

The key is a digest of all the phase depends on: the model's state after the removal (weights
and buffers, names, shapes and dtypes), the torch random state and thread count, the row, the
budget (its configuration hash's part), the seed, the phase, the device and the data. The
entry keeps the model after the phase, its per-epoch curve, the evaluation after it, and the
random state, so a cell that reuses it goes on exactly as if it had trained. Not under
torchrun, whose ranks each hold a share of the batches.

Entries live in `RESULTS/reuse/<row>/seed<k>--<key>.pt` while their seed's cells run (the run
goes seed by seed, and only cells of one seed can share a phase); `forget` removes a seed's once
every cell of the seed (of its shard) has its record, so the folder holds the phases of the
seeds still being computed (a few MB a cell for LeNet-5, a model's size per phase and cell in
general): a job of `--jobs` that ends its share of a seed leaves them to the cells still
running in the other jobs, and a run stopped and resumed goes on reusing them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.protocol.config import Budget
from prunebench.results.checkpoints import load_checkpoint, save_checkpoint
from prunebench.runtime import distributed

#: the folder under the results that holds the phases made once and reused
REUSE = "reuse"
_KEYS = {"model", "curve", "after", "torch_rng", "made_by"}


def phase_key(model: nn.Module, scenario: str, budget: Budget, seed: int, phase: str,
              device: torch.device, data: str) -> str:
    """The digest of everything a fine-tuning phase's outcome depends on."""
    digest = hashlib.sha256(json.dumps([scenario, budget.hashed(), seed, phase, str(device),
                                        data, torch.get_num_threads()], sort_keys=True,
                                       default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(torch.get_rng_state().numpy().tobytes())
    return digest.hexdigest()[:32]


def _folder(results: Path, scenario: str) -> Path:
    return results / REUSE / scenario


def reused_or_run(results: Path, scenario: str, seed: int, key: str, model: nn.Module,
                  made_by: str, run: Callable[[], tuple[list[float], dict[str, Any]]]
                  ) -> tuple[list[float], dict[str, Any], str | None]:
    """The phase's curve and the evaluation after it, and who computed them: `run()` here
    (None), its outcome then kept under `key`, or an earlier cell whose phase had this key (its
    name), its model state and random state taken over."""
    path = _folder(results, scenario) / f"seed{seed}--{key}.pt"
    if distributed.active():
        curve, after = run()
        return curve, after, None
    try:
        saved = load_checkpoint(path, _KEYS) if path.is_file() else None
    except PrunebenchError:  # removed by `forget` meanwhile, or damaged: compute it
        saved = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        torch.set_rng_state(saved["torch_rng"])
        return list(saved["curve"]), dict(saved["after"]), str(saved["made_by"])
    curve, after = run()
    save_checkpoint(path, {"model": model.state_dict(), "curve": list(curve), "after": after,
                           "torch_rng": torch.get_rng_state(), "made_by": made_by})
    return curve, after, None


def forget(results: Path, scenario: str, seed: int) -> None:
    """Remove a seed's phases once its cells are done."""
    for path in _folder(results, scenario).glob(f"seed{seed}--*.pt"):
        path.unlink(missing_ok=True)
