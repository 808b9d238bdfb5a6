"""A pruned model as files: its weights and the per-layer widths that rebuild its architecture,
and the deployable exports of its measured part, each checked for parity.

Loading rebuilds the scenario's model, narrows every prunable layer to the stored width, then
loads the weights strictly, so a file that does not fit the architecture is refused rather than
half loaded. Files are read with `weights_only=True`.
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import torch
from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.export import parity
from prunebench.export.formats import FORMATS, ExportError, export, file_for, load
from prunebench.models import surgery
from prunebench.protocol.config import Budget
from prunebench.results.checkpoints import load_checkpoint, save_checkpoint
from prunebench.results.store import write_atomically
from prunebench.scenarios.base import Scenario

FORMAT = 1
EXAMPLE_BATCH = 2  # the batch size exports are traced at; parity checks others


def save_pruned(path: Path, model: nn.Module, scenario: Scenario, input_shape,
                original: nn.Module | None = None) -> dict[str, dict]:
    """`path` gets the weights and widths; for deployment without prunebench, the measured part
    (the whole classifier, the detector's backbone) goes beside it in every deployable format
    (`formats.FORMATS`: `<stem>.onnx`, `<stem>.pt2`, `<stem>.torchscript.pt`), each checked
    for parity with the model. Returns what `write_exports` returns, `original` (the unpruned
    model) giving each format's size before pruning."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(path, {"format": FORMAT, "scenario": scenario.name,
                           "groups": list(scenario.groups),
                           "widths": list(surgery.widths(model, scenario.groups)),
                           "state_dict": state})
    root = scenario.measure_root
    return write_exports(path, model.get_submodule(root), input_shape, FORMATS,
                         original.get_submodule(root) if original is not None else None)


def write_exports(weights: Path, part: nn.Module, input_shape, wanted=FORMATS,
                  original: nn.Module | None = None, folder: Path | None = None,
                  tolerance: float = parity.TOLERANCE) -> dict[str, dict]:
    """Export `part` in each format of `wanted` to `folder` (default: beside `weights`, named
    after it), read every file back and check it against `part`. Per format: the file's name,
    its bytes (and the unpruned `original`'s), the exporter and the parity; or the error that
    stopped the export (no file is left then)."""
    part = copy.deepcopy(part).cpu().eval()
    unpruned = copy.deepcopy(original).cpu().eval() if original is not None else None
    example = torch.randn(EXAMPLE_BATCH, *input_shape)
    done: dict[str, dict] = {}
    for fmt in wanted:
        target = file_for(weights, fmt) if folder is None else folder / file_for(weights,
                                                                                  fmt).name
        try:
            exported = export(part, example, fmt)
        except ExportError as exc:
            target.unlink(missing_ok=True)
            done[fmt] = {"error": str(exc)}
            continue
        write_atomically(target, partial(_write_bytes, exported.data))
        done[fmt] = checked_file(target, fmt, part, input_shape, tolerance, exported.exporter)
        if unpruned is not None:
            done[fmt]["bytes_original"] = len(export(unpruned, example, fmt).data)
    return done


def checked_file(path: Path, fmt: str, part: nn.Module, input_shape, tolerance: float,
                 exporter: str) -> dict:
    """The file `path` of format `fmt` read back and checked against `part`: its name, bytes,
    exporter and parity, as a result's `exports` records them."""
    checked = parity.check(part, load(path, fmt), input_shape, tolerance)
    return {"file": path.name, "bytes": path.stat().st_size, "exporter": exporter,
            "parity": checked.to_json()}


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)


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
