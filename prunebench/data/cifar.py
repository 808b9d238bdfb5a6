"""CIFAR-10 and CIFAR-100 from torchvision's on-disk form: the python pickle batches in
`cifar-10-batches-py/` or `cifar-100-python/` under --data-root or $PRUNEBENCH_DATA.

torchvision's own CIFAR classes insist on the official files' MD5 sums, so this module reads the
batches itself; it unpickles them with an allow-list (plain containers and NumPy arrays only), so a
tampered batch cannot run code. torchvision still does the download, when asked for.
Training batches get the standard augmentation: random crop with 4 pixels of zero padding and a
horizontal flip, drawn from the run's generator.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from prunebench.data.arrays import ArrayData
from prunebench.data.known import identify
from prunebench.data.roots import candidate_roots, download_root, locate, looked_in
from prunebench.errors import PrunebenchError


@dataclass(frozen=True)
class Variant:
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    num_classes: int
    torchvision_class: str


CIFAR10 = Variant("CIFAR-10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
                  "test_batch", "labels", 10, "CIFAR10")
CIFAR100 = Variant("CIFAR-100", "cifar-100-python", ("train",), "test", "fine_labels", 100,
                   "CIFAR100")

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) of one pickle batch."""
    try:
        with open(path, "rb") as fh:
            batch = _SafeUnpickler(fh, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise PrunebenchError(f"cannot read CIFAR batch {path} ({exc}); fetch it again") from None
    if not isinstance(batch, dict):
        raise PrunebenchError(f"{path} is not a CIFAR batch (a {type(batch).__name__}, not a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise PrunebenchError(f"{path} lacks 'data' or '{label_key}'; is it the right CIFAR "
                              "variant?")
    data, labels = np.asarray(batch["data"], dtype=np.uint8), np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise PrunebenchError(f"{path}: data of shape {data.shape} does not fit {len(labels)} "
                              "labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def find_folder(variant: Variant, roots: list[Path]) -> Path | None:
    return locate(roots, variant.folder, lambda f: (f / variant.test_file).is_file())


def random_crop_flip(images: Tensor, generator: torch.Generator, padding: int = 4) -> Tensor:
    """Per image: a random 32x32 crop of the zero-padded image, flipped with probability 1/2."""
    n, _, h, w = images.shape
    padded = F.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return out


def load(variant: Variant, root: Path | None, fetch: bool,
         _image_size: int | None = None) -> ArrayData:
    roots = candidate_roots(root)
    folder = find_folder(variant, roots)
    if folder is None and fetch:
        import torchvision.datasets

        target = download_root(root)
        try:
            getattr(torchvision.datasets, variant.torchvision_class)(str(target), download=True)
        except Exception as exc:  # network errors come in many types
            raise PrunebenchError(f"downloading {variant.title} into {target} failed: "
                                  f"{exc}") from None
        folder = find_folder(variant, [target])
    if folder is None:
        raise PrunebenchError(f"{variant.title} not found; looked in {looked_in(roots)}; put "
                              f"torchvision's '{variant.folder}' folder under --data-root, or add "
                              "--download")
    missing = [f for f in variant.train_files if not (folder / f).is_file()]
    if missing:
        raise PrunebenchError(f"{folder} lacks {', '.join(missing)}; fetch {variant.title} again")
    parts = [read_batch(folder / f, variant.label_key) for f in variant.train_files]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read_batch(folder / variant.test_file, variant.label_key)
    for labels, name in ((train_y, "training"), (test_y, "test")):
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= variant.num_classes:
            raise PrunebenchError(f"{folder}: {name} labels outside 0..{variant.num_classes - 1}")
    train = torch.from_numpy(train_x).float().div(255)
    test = torch.from_numpy(test_x).float().div(255)
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return ArrayData((train - mean) / std, torch.from_numpy(train_y), (test - mean) / std,
                     torch.from_numpy(test_y), variant.num_classes, str(folder),
                     augment=random_crop_flip, unknown=identify(
                         variant.title, [folder / f for f in (*variant.train_files,
                                                              variant.test_file)]))
