"""Model size and total run-time memory (TRM) by seed 001's eq. 16: TRM = MPS + FM * 4 * BS.

MPS is the bytes of the model's parameters; FM is the number of feature-map elements that the
conv and linear layers produce for one sample (eq. 9, summed over layers as in eq. 11).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from prunebench.measure.flops import probe_input

BYTES_PER_ELEMENT = 4  # eq. 9-10 assume float32


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def feature_map_elements(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Output elements of every conv and linear layer for a single sample."""
    total = 0

    def count(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel()

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(count) for m in layers]
    example = probe_input(model, input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def trm_bytes(model: nn.Module, input_shape: Sequence[int], batch_size: int,
              part: nn.Module | None = None) -> int:
    """Eq. 16 of seed 001, in bytes: the model's parameters plus the feature maps of `part`
    (the whole model unless given)."""
    fm = feature_map_elements(model if part is None else part, input_shape)
    return parameter_bytes(model) + fm * BYTES_PER_ELEMENT * batch_size
