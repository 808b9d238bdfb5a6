"""Tiny copies of data sets in their exact on-disk formats, so tests exercise the real loaders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from prunebench.data.idx import write_idx
from prunebench.data.known import TINY_MARKER
from prunebench.data.mnist import FILES


def write_mnist_like(folder: Path, n_train: int = 64, n_test: int = 32, seed: int = 0,
                     gz: bool = True, subfolder: str = "") -> Path:
    """Four idx files of 28x28 images whose class is drawn into them as a bright horizontal bar
    at row 2 + 2*label, so a small net can learn them in a few steps."""
    folder = folder / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for stem_images, stem_labels, n in ((FILES[0], FILES[1], n_train),
                                        (FILES[2], FILES[3], n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        write_idx(folder / (stem_images + suffix), images)
        write_idx(folder / (stem_labels + suffix), labels.astype(np.uint8))
    mark_tiny(folder)
    return folder


def mark_tiny(folder: Path) -> None:
    """Mark a folder as a synthetic copy: no published digest will match its files."""
    (folder / TINY_MARKER).write_text("written by prunebench's synthetic data writers: not a "
                                      "real data set\n")


def write_cifar_like(root: Path, variant: str = "cifar10", n_train: int = 40, n_test: int = 20,
                     seed: int = 0) -> Path:
    """torchvision's CIFAR folder (pickle batches, protocol 2 like the official files) whose
    images carry their class as a bright 3x3 block at grid cell (label % 10, label // 10)."""
    from prunebench.data.cifar import CIFAR10, CIFAR100

    spec = {"cifar10": CIFAR10, "cifar100": CIFAR100}[variant]
    folder = root / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = [(name, n_train // len(spec.train_files)) for name in spec.train_files]
    for name, n in [*files, (spec.test_file, n_test)]:
        labels = rng.integers(0, spec.num_classes, size=n)
        images = rng.integers(0, 60, size=(n, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            r, c = 3 * (label % 10) + 1, 3 * (label // 10) + 1
            images[i, :, r:r + 3, c:c + 3] = 255
        batch = {"batch_label": name, "data": images.reshape(n, -1),
                 spec.label_key: [int(v) for v in labels],
                 "filenames": [f"{name}_{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    mark_tiny(folder)
    return folder


def write_imagefolder_like(root: Path, classes: int = 4, per_class: tuple[int, int] = (8, 4),
                           size: int = 40, seed: int = 0) -> Path:
    """`train/` and `val/` trees of JPEGs; class k is a bright square in quadrant k % 4, tinted
    by class, over dark noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    half = size // 2
    for split, n in zip(("train", "val"), per_class):
        for k in range(classes):
            folder = root / split / f"class{k:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 50, size=(size, size, 3), dtype=np.uint8)
                r, c = half * ((k % 4) // 2), half * (k % 2)
                pixels[r + 2:r + half - 2, c + 2:c + half - 2] = (255, 80 + 40 * (k // 4) % 176, 40)
                Image.fromarray(pixels).save(folder / f"{split}_{k}_{i}.jpg", quality=90)
    return root


def write_coco_like(root: Path, n_train: int = 8, n_val: int = 4, size: int = 96,
                    seed: int = 0) -> Path:
    """`train2017/`, `val2017/` JPEGs and `annotations/instances_*.json`: each image holds one or
    two solid rectangles whose colour is their category (1 red, 2 green, 3 blue), and whose
    boxes are exactly the annotations."""
    import json

    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    colours = {1: (230, 30, 30), 2: (30, 230, 30), 3: (30, 30, 230)}
    categories = [{"id": k, "name": name, "supercategory": "shape"}
                  for k, name in ((1, "red"), (2, "green"), (3, "blue"))]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    next_id = 1
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        (root / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for i in range(n):
            image_id = 1000 * (split == "val2017") + i + 1
            pixels = rng.integers(0, 40, size=(size, size, 3), dtype=np.uint8)
            picture = Image.fromarray(pixels)
            draw = ImageDraw.Draw(picture)
            for _ in range(int(rng.integers(1, 3))):
                w, h = (int(v) for v in rng.integers(size // 5, size // 2, size=2))
                x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
                category = int(rng.integers(1, 4))
                draw.rectangle([x, y, x + w - 1, y + h - 1], fill=colours[category])
                annotations.append({"id": next_id, "image_id": image_id, "category_id": category,
                                    "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
                next_id += 1
            name = f"{image_id:012d}.jpg"
            picture.save(root / split / name, quality=95)
            images.append({"id": image_id, "file_name": name, "width": size, "height": size})
        instances = {"images": images, "annotations": annotations, "categories": categories}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(instances))
    return root
