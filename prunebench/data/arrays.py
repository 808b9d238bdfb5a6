"""Small image-classification data held in memory as tensors, batched in a seeded order.

MNIST-sized data fits in memory many times over; slicing whole tensors is far faster on a CPU than
a DataLoader collating one sample at a time, and the order depends only on the generator's seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from prunebench.criterion import Batch


@dataclass(frozen=True)
class ArrayData:
    """Normalised float images (N, C, H, W) and int64 labels (N,) for both splits."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    source: str  # where the data was read from, recorded in every result
    #: applied to every training batch: augment(images, generator) -> images
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None
    #: why the files are not the data set's published ones (data/known.py); None: they are
    unknown: str | None = None

    def limited(self, train_limit: int | None, test_limit: int | None) -> "ArrayData":
        """The first `train_limit` / `test_limit` samples of each split (None keeps all)."""
        return replace(self, train_x=self.train_x[:train_limit], train_y=self.train_y[:train_limit],
                       test_x=self.test_x[:test_limit], test_y=self.test_y[:test_limit])

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[Batch]:
        """One epoch of shuffled training batches; the order is fixed by `generator`'s state."""
        order = torch.randperm(len(self.train_y), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            images = self.train_x[idx]
            if self.augment is not None:
                images = self.augment(images, generator)
            yield images.to(device), self.train_y[idx].to(device)

    def test_batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]:
        for start in range(0, len(self.test_y), batch_size):
            yield (self.test_x[start:start + batch_size].to(device),
                   self.test_y[start:start + batch_size].to(device))


def normalise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    """Scale both splits with the training split's mean and standard deviation. An empty
    training split is left as it is, for the plan's check to name (`plan.py`)."""
    if not train.numel():
        return train, test
    mean, std = train.mean(), train.std().clamp_min(1e-8)
    return (train - mean) / std, (test - mean) / std
