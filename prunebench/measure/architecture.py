"""Size of a model as the leaderboards report it, and of the architecture a target describes.

Parameters count the whole model. MACs and run-time memory count `scenario.measure_root`: the
whole model for classifiers, the backbone with its FPN for the detector, whose heads' cost depends
on how many proposals survive non-maximum suppression, and so on the weights, not on the widths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.measure.flops import count_macs
from prunebench.measure.memory import count_params, trm_bytes
from prunebench.models import surgery
from prunebench.protocol.config import Target
from prunebench.scenarios.base import Scenario

TRM_BATCH_SIZES = (1, 64)


def model_size(model: nn.Module, scenario: Scenario, input_shape: Sequence[int]) -> dict:
    """params, MACs in total and per layer (named from the model's root), and TRM (eq. 16) at
    batch sizes 1 and 64."""
    part = model.get_submodule(scenario.measure_root)
    macs, per_layer = count_macs(part, input_shape)
    prefix = f"{scenario.measure_root}." if scenario.measure_root else ""
    return {"params": count_params(model), "macs": macs,
            "macs_per_layer": {prefix + k: v for k, v in per_layer.items()},
            "trm_bytes": {str(b): trm_bytes(model, input_shape, b, part)
                          for b in TRM_BATCH_SIZES}}


def architecture(scenario: Scenario, target: Target | None) -> tuple[nn.Module, list[int]]:
    """The row's model (random weights, eval mode) at the target's widths, or unpruned.
    Which filters survive changes neither size nor speed, so the first `n` of each are kept."""
    if target is not None and target.macs_reduction is not None:
        raise PrunebenchError(f"target {target.name} has no widths of its own: each criterion "
                              "chooses them (the board lists them); give one row's with "
                              "--widths")
    model = scenario.model().eval()
    widths = list(surgery.widths(model, scenario.groups))
    if target is not None:
        widths = list(target.resolve(widths, scenario.groups))
        surgery.keep_first(model, scenario.groups, widths, torch.zeros(1, *scenario.input_shape),
                           scenario.prune_root)
    return model, widths


def architecture_size(scenario: Scenario, target: Target | None) -> dict:
    """The size of the target's architecture (or the unpruned one) at the row's nominal input."""
    model, widths = architecture(scenario, target)
    return {"scenario": scenario.name, "target": target.name if target else "baseline",
            "input_shape": list(scenario.input_shape), "widths": list(widths),
            **model_size(model, scenario, scenario.input_shape)}
