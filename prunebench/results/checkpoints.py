"""Checkpoints (baselines, a cell's steps and epochs): written atomically, read with
`weights_only=True`, because a checkpoint is data, never code."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from prunebench.errors import PrunebenchError
from prunebench.results.store import write_atomically


def save_checkpoint(path: Path, state: dict) -> None:
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, required: set[str]) -> dict:
    try:
        with warnings.catch_warnings():  # torch's own warnings about a bad file add nothing
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refuses foreign objects in many ways
        raise PrunebenchError(
            f"checkpoint {path} is not a prunebench checkpoint or is damaged "
            f"({type(exc).__name__}); "
            "delete it to retrain"
        ) from None
    if not isinstance(state, dict) or not required <= state.keys():
        raise PrunebenchError(f"checkpoint {path} lacks {sorted(required)}; delete it to retrain")
    return state
