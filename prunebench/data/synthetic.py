"""Tiny copies of data sets in their exact on-disk formats, so tests exercise the real loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunebench.data.idx import write_idx
from prunebench.data.mnist import FILES


def write_mnist_like(folder: Path, n_train: int = 64, n_test: int = 32, seed: int = 0,
                     gz: bool = True) -> Path:
    """Four idx files of 28x28 images whose class is drawn into them as a bright horizontal bar
    at row 2 + 2*label, so a small net can learn them in a few steps."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for stem_images, stem_labels, n in ((FILES[0], FILES[1], n_train), (FILES[2], FILES[3], n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        write_idx(folder / (stem_images + suffix), images)
        write_idx(folder / (stem_labels + suffix), labels.astype(np.uint8))
    return folder
