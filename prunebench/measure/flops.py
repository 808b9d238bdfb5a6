"""Multiply-accumulates per sample, counted by `torch.utils.flop_counter` (seed 001 eq. 6-8).

FlopCounterMode counts one multiply-add as two FLOPs; the seeds report fused multiply-adds, so
every figure here is FLOPs / 2, for conv and linear layers, per single input sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def probe_input(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """One sample of fixed uniform noise: a blank image would make a detector's proposal count,
    and so its MACs, an artefact of the blankness."""
    param = next(model.parameters())
    sample = torch.rand(1, *input_shape, generator=torch.Generator().manual_seed(0))
    return sample.to(device=param.device, dtype=param.dtype)


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, dict[str, int]]:
    """Total MACs of one forward pass of one sample, and MACs per conv/linear layer by name."""
    example = probe_input(model, input_shape)
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    model.train(was_training)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    per_layer = {
        name: sum(counts.get(f"{root}.{name}", {}).values()) // 2
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }
    return counter.get_total_flops() // 2, per_layer
