"""What every data set of the matrix offers the harness, whatever its storage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch

from prunebench.criterion import Batch


class Data(Protocol):
    @property
    def num_classes(self) -> int: ...

    @property
    def source(self) -> str:
        """Where the data was read from, recorded in every result."""
        ...

    @property
    def n_train(self) -> int: ...

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    def limited(self, train_limit: int | None, test_limit: int | None) -> "Data": ...

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[Batch]:
        """One epoch of (augmented) training batches in the order `generator` fixes."""
        ...

    def test_batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]: ...


class ImagesOnDisk:
    """What the data sets read image by image from disk (ImageFolder trees, COCO) share: sizes
    from their `train_set` and `image_size`, and, under torchrun, each rank decoding only the
    images it uses (see `distributed.RankShare`)."""

    reads_rank_share = True
    train_set: Any
    image_size: int

    @property
    def n_train(self) -> int:
        return len(self.train_set)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)
