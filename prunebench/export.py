"""A pruned model as a file: its weights and the per-layer widths that rebuild its architecture.

Loading rebuilds the scenario's model, narrows every prunable layer to the stored width, then
loads the weights strictly, so a file that does not fit the architecture is refused rather than
half loaded. Files are read with `weights_only=True`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from prunebench import surgery
from prunebench.config import Budget
from prunebench.errors import PrunebenchError
from prunebench.scenarios.base import Scenario
from prunebench.store import load_checkpoint, save_checkpoint, write_atomically

FORMAT = 1


def save_pruned(path: Path, model: nn.Module, scenario: Scenario, input_shape) -> Path:
    """`path` gets the weights and widths; for deployment without prunebench, the measured part
    (the whole classifier, the detector's backbone) goes to `<stem>.torchscript.pt` as a traced
    TorchScript and to `<stem>.pt2` as a `torch.export` program (TorchScript's successor, which
    torch 2.15 deprecates it for), each where the model traces or exports."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(path, {"format": FORMAT, "scenario": scenario.name,
                           "groups": list(scenario.groups),
                           "widths": list(surgery.widths(model, scenario.groups)),
                           "state_dict": state})
    part = model.get_submodule(scenario.measure_root)
    was_training = part.training
    part.eval()
    example = torch.randn(2, *input_shape, device=next(part.parameters()).device)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in 2.15
            traced = torch.jit.trace(part, example, strict=False)
        write_atomically(torchscript_path(path), lambda tmp: torch.jit.save(traced, str(tmp)))
    except Exception:  # a model that does not trace keeps its weights file alone
        torchscript_path(path).unlink(missing_ok=True)
    try:
        with torch.no_grad():
            program = torch.export.export(part, (example,),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},))
        write_atomically(exported_path(path), lambda tmp: torch.export.save(program, str(tmp)))
    except Exception:  # nor does one that torch.export cannot capture
        exported_path(path).unlink(missing_ok=True)
    finally:
        part.train(was_training)
    return path


def torchscript_path(path: Path) -> Path:
    return path.with_name(path.stem + ".torchscript.pt")


def exported_path(path: Path) -> Path:
    return path.with_suffix(".pt2")


def narrow(model: nn.Module, scenario: Scenario, widths: list[int], input_shape) -> None:
    """Give every prunable layer of `model` its width in `widths` (keeping the first filters)."""
    surgery.keep_first(model, scenario.groups, widths, torch.zeros(1, *input_shape),
                       scenario.prune_root)


def read_pruned(path: Path, scenario: Scenario) -> dict:
    saved = load_checkpoint(path, {"format", "scenario", "groups", "widths", "state_dict"})
    if saved["scenario"] != scenario.name or saved["groups"] != list(scenario.groups):
        raise PrunebenchError(f"{path} holds a {saved['scenario']} model, not a "
                              f"{scenario.name} one")
    return saved


def load_pruned(path: Path, scenario: Scenario, budget: Budget | None = None) -> nn.Module:
    """The pruned model a `--save-models` run wrote to `path`, rebuilt at its widths: the row's
    architecture (`scenario`, e.g. `prunebench.scenarios.get("vgg16-cifar10")`; at `budget`'s
    image size where the row has one) narrowed to the saved widths, then its weights. A file of
    another row, or whose weights do not fit those widths, is refused (PrunebenchError)."""
    saved = read_pruned(path, scenario)
    model = scenario.model(budget)
    narrow(model, scenario, saved["widths"], scenario.input_shape)
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise PrunebenchError(f"{path} does not fit {scenario.name} at widths "
                              f"{saved['widths']}: {str(exc).splitlines()[0]}") from None
    return model
