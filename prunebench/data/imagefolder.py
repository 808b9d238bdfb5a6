"""ImageNet-style data: `train/` and `val/` ImageFolder trees of images, read through
torchvision's ImageFolder and a DataLoader whose shuffling and augmentation follow the run's
generator. Training: random-resized crop and flip; test: resize to 8/7 of the crop, centre crop.
An image that will not decode stops the run with an error naming the file."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Subset

from prunebench.criterion import Batch
from prunebench.data.base import ImagesOnDisk
from prunebench.data.roots import candidate_roots, locate, looked_in
from prunebench.errors import PrunebenchError
from prunebench.runtime import distributed

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_rgb(path: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise PrunebenchError(f"cannot decode image {path} ({exc}); replace or delete it") from None


def _transforms(size: int, train: bool):
    from torchvision import transforms as T

    if train:
        steps = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize(round(size * 8 / 7)), T.CenterCrop(size)]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(MEAN, STD)])


def _subset(dataset: Dataset, limit: int | None) -> Dataset:
    """A fixed random subset (seed 0, never the run's seed) so a limit still spans the classes."""
    size = len(cast(Sized, dataset))
    if limit is None or limit >= size:
        return dataset
    order = torch.randperm(size, generator=torch.Generator().manual_seed(0))[:limit]
    return Subset(dataset, sorted(order.tolist()))


@dataclass(frozen=True)
class FolderData(ImagesOnDisk):
    train_set: Any  # torch Datasets that know their length
    test_set: Any
    num_classes: int
    source: str
    image_size: int
    workers: int = 0

    def limited(self, train_limit: int | None, test_limit: int | None) -> "FolderData":
        return replace(self, train_set=_subset(self.train_set, train_limit),
                       test_set=_subset(self.test_set, test_limit))

    def _batches(self, dataset: Dataset, batches: list[list[int]], device: torch.device,
                 generator: torch.Generator | None) -> Iterator[Batch]:
        loader = DataLoader(dataset, batch_sampler=batches, generator=generator,
                            num_workers=self.workers, pin_memory=device.type == "cuda")
        for images, labels in loader:
            yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[Batch]:
        # without workers the augmentation draws from the global generator: seed it from the
        # phase's, so the crops do not depend on what ran before (workers are seeded by the loader)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        order = torch.randperm(len(self.train_set), generator=generator).tolist()
        return self._batches(self.train_set, distributed.rank_batches(order, batch_size), device,
                             generator)

    def test_batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]:
        batches = distributed.rank_test_batches(list(range(len(self.test_set))), batch_size)
        return self._batches(self.test_set, batches, device, None)


def load(root: Path | None, _fetch: bool, image_size: int | None) -> FolderData:
    """ImageNet cannot be downloaded automatically (its licence needs an account)."""
    from torchvision.datasets import ImageFolder

    roots = candidate_roots(root)
    folder = locate(roots, "imagenet", lambda f: (f / "train").is_dir() and (f / "val").is_dir())
    if folder is None:
        raise PrunebenchError(f"ImageNet not found; looked for train/ and val/ in "
                              f"{looked_in(roots)}; get it from image-net.org and pass --data-root "
                              "(val/ sorted into class folders)")
    try:
        train = ImageFolder(str(folder / "train"), transform=_transforms(image_size or 224, True),
                            loader=load_rgb)
        test = ImageFolder(str(folder / "val"), transform=_transforms(image_size or 224, False),
                           loader=load_rgb)
    except (FileNotFoundError, OSError) as exc:
        raise PrunebenchError(f"ImageNet folder {folder} is not usable: {exc}") from None
    if train.classes != test.classes:
        raise PrunebenchError(f"{folder}: train/ and val/ have different class folders")
    workers = min(8, os.cpu_count() or 1) if len(train) > 10_000 else 0
    return FolderData(train, test, len(train.classes), str(folder), image_size or 224, workers)
