"""A hand-built PruneContext around a tiny model, so a criterion can be run outside the harness."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prunebench.criteria import registry
from prunebench.criterion import ChannelGroup, PruneContext


def make(name: str):
    return registry.load(name).cls()


def make_with(name: str, **settings):
    return registry.load(name).cls(**settings)


def context(model: nn.Module, groups: list[ChannelGroup], inputs: list[Tensor], loss=None,
            seed: int = 0) -> PruneContext:
    """Calibration batches are `inputs` (labels are zeros); the loss defaults to the output sum."""
    batches = [(x, torch.zeros(len(x), dtype=torch.long)) for x in inputs]
    return PruneContext(model=model, groups=groups,
                        loss=loss or (lambda m, batch: m(batch[0]).sum()),
                        generator=torch.Generator().manual_seed(seed),
                        device=torch.device("cpu"), batches=lambda: iter(batches))


def pointwise_conv(weights: list[list[float]], bias: list[float] | None = None) -> nn.Conv2d:
    """A 1x1 conv with filter j = weights[j] (one value per input channel)."""
    w = torch.tensor(weights, dtype=torch.float32)
    conv = nn.Conv2d(w.shape[1], w.shape[0], kernel_size=1, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
        if bias is not None:
            conv.bias.copy_(torch.tensor(bias))
    return conv
