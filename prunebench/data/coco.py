"""COCO detection data: images plus an instances JSON, read through pycocotools.

Looked for under --data-root or $PRUNEBENCH_DATA (directly or in `coco/`) in the standard layout:
`annotations/instances_{train,val}2017.json` with the images in `train2017/` and `val2017/`.
Crowd boxes and boxes under one pixel are left out of the training targets (as torchvision's
reference scripts do); evaluation uses the JSON as it is. Training images are flipped with
probability 1/2, drawn from the run's generator, so every criterion sees the same data.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from prunebench.criterion import Batch
from prunebench.data.base import ImagesOnDisk
from prunebench.data.imagefolder import load_rgb
from prunebench.data.roots import candidate_roots, locate, looked_in
from prunebench.errors import PrunebenchError
from prunebench.runtime import distributed

NUM_CLASSES = 91  # COCO category ids run to 90; torchvision's detectors keep them as labels
SPLITS = {"train": "train2017", "val": "val2017"}


def read_instances(path: Path):
    """A pycocotools COCO index of `path`, after checking the keys it must have."""
    from pycocotools.coco import COCO

    try:
        dataset = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PrunebenchError(f"cannot read COCO annotations {path} ({exc})") from None
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(dataset, dict) or k not in dataset]
    if missing:
        raise PrunebenchError(f"{path} has no {', '.join(repr(m) for m in missing)}; "
                              "it is not a COCO instances file")
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco


class CocoImages(Dataset):
    """(image tensor, target dict) per (image id position, flip) request."""

    def __init__(self, coco, folder: Path, ids: list[int]) -> None:
        self.coco, self.folder, self.ids = coco, folder, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, request: tuple[int, bool]) -> tuple[Tensor, dict]:
        from torchvision.transforms.functional import to_tensor

        position, flip = request
        image_id = self.ids[position]
        info = self.coco.imgs[image_id]
        image = to_tensor(load_rgb(str(self.folder / info["file_name"])))
        boxes, labels = [], []
        for ann in self.coco.imgToAnns.get(image_id, []):
            x, y, w, h = ann["bbox"]
            if ann.get("iscrowd", 0) or w < 1 or h < 1:
                continue
            boxes.append([x, y, x + w, y + h])
            labels.append(ann["category_id"])
        target: dict[str, Any] = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64), "image_id": image_id}
        if flip:
            image = image.flip(-1)
            width = image.shape[-1]
            target["boxes"][:, [0, 2]] = width - target["boxes"][:, [2, 0]]
        return image, target


def _collate(samples: list) -> tuple[list, list]:
    return tuple(zip(*samples))  # type: ignore[return-value]


@dataclass(frozen=True)
class CocoData(ImagesOnDisk):
    train_set: CocoImages
    test_set: CocoImages
    source: str
    image_size: int
    num_classes: int = NUM_CLASSES

    @property
    def test_coco(self):
        return self.test_set.coco

    def limited(self, train_limit: int | None, test_limit: int | None) -> "CocoData":
        def cut(images: CocoImages, limit: int | None) -> CocoImages:
            return CocoImages(images.coco, images.folder, images.ids[:limit])
        return replace(self, train_set=cut(self.train_set, train_limit),
                       test_set=cut(self.test_set, test_limit))

    def _batches(self, dataset: CocoImages, requests: list, batch_size: int,
                 device: torch.device, train: bool = False) -> Iterator[Any]:
        batches = (distributed.rank_batches(requests, batch_size) if train
                   else distributed.rank_test_batches(requests, batch_size))
        loader = DataLoader(dataset, batch_sampler=batches, collate_fn=_collate)
        for images, targets in loader:
            yield ([im.to(device) for im in images],
                   [{k: v.to(device) if isinstance(v, Tensor) else v for k, v in t.items()}
                    for t in targets])

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[Batch]:
        order = torch.randperm(self.n_train, generator=generator).tolist()
        flips = (torch.rand(self.n_train, generator=generator) < 0.5).tolist()
        return self._batches(self.train_set, list(zip(order, flips)), batch_size, device,
                             train=True)

    def test_batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]:
        requests = [(i, False) for i in range(len(self.test_set))]
        return self._batches(self.test_set, requests, batch_size, device)


def load(root: Path | None, _fetch: bool, image_size: int | None) -> CocoData:
    """COCO is not downloaded automatically (fetch it from cocodataset.org)."""
    roots = candidate_roots(root)
    folder = locate(roots, "coco",
                    lambda f: (f / "annotations" / "instances_val2017.json").is_file())
    if folder is None:
        raise PrunebenchError(f"COCO not found; looked for annotations/instances_val2017.json in "
                              f"{looked_in(roots)}; get train2017/, val2017/ and annotations/ from "
                              "cocodataset.org and pass --data-root")
    sets = {}
    for split, images in SPLITS.items():
        coco = read_instances(folder / "annotations" / f"instances_{images}.json")
        sets[split] = CocoImages(coco, folder / images, sorted(coco.imgs))
    return CocoData(sets["train"], sets["val"], str(folder), image_size or 800)
