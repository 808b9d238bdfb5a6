"""scikit-learn's bundled 8x8 digits, upsampled to 28x28 so LeNet-5 runs on them unchanged.

It ships with scikit-learn, so `prunebench run` works on a fresh machine with no download. The
train/test split is fixed (75/25, stratified, random_state 0) and does not depend on the run seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from prunebench.data.arrays import ArrayData, normalise

SIZE = 28


def load() -> ArrayData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div(16).unsqueeze(1)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    labels = torch.from_numpy(digits.target).long()
    train_idx, test_idx = train_test_split(range(len(labels)), test_size=0.25,
                                           stratify=labels.numpy(), random_state=0)
    train_x, test_x = normalise(images[train_idx], images[test_idx])
    return ArrayData(train_x, labels[train_idx], test_x, labels[test_idx], 10,
                     "sklearn.datasets.load_digits")
