"""The size of the architecture a target describes, without data or training: which filters
survive does not change MACs or parameters, so the first `n` of each layer are kept."""

from __future__ import annotations

import torch

from prunebench import surgery
from prunebench.config import Target
from prunebench.measure.flops import count_macs
from prunebench.measure.memory import count_params
from prunebench.scenarios.base import Scenario


def architecture_size(scenario: Scenario, target: Target | None) -> dict:
    """MACs (total, per layer) and params of the unpruned model, or of the target's widths."""
    model = scenario.model().eval()
    widths = surgery.widths(model, scenario.groups)
    if target is not None:
        widths = target.resolve(widths, scenario.groups)
        example = torch.zeros(1, *scenario.input_shape)
        surgery.remove_filters(model, example, {g: torch.arange(w) for g, w in
                                                zip(scenario.groups, widths)}, scenario.prune_root)
    macs, per_layer = count_macs(model, scenario.input_shape)
    return {"scenario": scenario.name, "target": target.name if target else "baseline",
            "input_shape": list(scenario.input_shape), "widths": list(widths), "macs": macs,
            "params": count_params(model), "macs_per_layer": per_layer}
