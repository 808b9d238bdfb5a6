"""Channels-last memory for training and evaluation on a CPU, where it is faster.

oneDNN's CPU convolutions and PyTorch's CPU max-pooling run faster on channels-last tensors
(measured, 1 thread: a LeNet-5 training step 10-40% faster at most widths a pruning schedule
passes through; VGG-16 on CIFAR 10% and ResNet-50 20% faster; evaluation of LeNet-5 up to 2x).
A conv that takes fewer than 4 channels from a pruned layer runs slower that way (LeNet-5 with 2 or
3 conv1 filters: 0-35% slower on 2 threads, 24-55% at 2; from 4 on, 0-35% faster, whatever conv2
keeps; measured on AVX-512 with torch 2.14), so the layout is chosen by the architecture alone
(`suits_channels_last`), never by a timing: the same cell always computes in the same layout,
and its numbers stay reproducible. The model goes back to the standard layout afterwards, so
criteria, calibration hooks and surgery only ever see ordinary contiguous tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: A model with a conv past the first taking fewer input channels than this runs contiguous.
FEWEST_CHANNELS_LAST_INPUTS = 4


def suits_channels_last(model: nn.Module) -> bool:
    """Whether every conv but the first (which sees the image's 1 or 3 channels) takes at least
    `FEWEST_CHANNELS_LAST_INPUTS` channels."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return all(m.in_channels >= FEWEST_CHANNELS_LAST_INPUTS
               for m in convs[1:])


@contextmanager
def cpu_channels_last(model: nn.Module, device: torch.device,
                      allowed: bool = True) -> Iterator[None]:
    """Hold `model` channels-last inside the block when it runs on a CPU, `allowed`, and its
    architecture suits it. A block inside another (an evaluation between training epochs)
    leaves the layout to the outer one, so the training goes on in the layout it started in."""
    if device.type != "cpu" or not allowed or not suits_channels_last(model) \
            or getattr(model, _HELD, False):
        yield
        return
    model.to(memory_format=torch.channels_last)
    setattr(model, _HELD, True)
    try:
        yield
    finally:
        delattr(model, _HELD)
        model.to(memory_format=torch.contiguous_format)


#: set on a model while a `cpu_channels_last` block holds it
_HELD = "_prunebench_channels_last"
