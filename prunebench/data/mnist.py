"""MNIST and Fashion-MNIST from their idx files, found in a local folder or fetched on request.

Search order: `--data-root` alone when it is given (a folder the user names is used or refused,
never replaced by another); otherwise `$PRUNEBENCH_DATA`, then the folder of Debian's package (for
Fashion-MNIST, `dataset-fashion-mnist`). Each root may hold the four files directly, in a
sub-folder (`fashion-mnist/`, `mnist/`) or in torchvision's layout (`FashionMNIST/raw/`). Only with
`download=True` does torchvision fetch them (into the first root, or ~/.cache/prunebench/data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from prunebench.data.arrays import ArrayData, normalise
from prunebench.data.idx import read_idx
from prunebench.data.known import identify
from prunebench.data.roots import candidate_roots, download_root
from prunebench.errors import PrunebenchError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Family:
    """One member of the MNIST family and the places its files are usually kept."""

    title: str
    torchvision_class: str
    subdirs: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    how_to_get: str = ""


MNIST = Family("MNIST", "MNIST", ("MNIST/raw", "mnist"),
               how_to_get="put the four idx files under --data-root, or add --download")
FASHION_MNIST = Family(
    "Fashion-MNIST", "FashionMNIST", ("FashionMNIST/raw", "fashion-mnist", "fashion_mnist"),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    how_to_get="apt-get install dataset-fashion-mnist, put the four idx files under --data-root, "
               "or add --download",
)


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_files(family: Family, roots: list[Path], system: bool = True
               ) -> tuple[list[Path], list[Path]]:
    """The four idx files from the first folder that has them all, and every folder looked in
    (the system's folders too, with `system`)."""
    looked = []
    folders = [r / sub for r in roots for sub in ("", *family.subdirs)] + \
        (list(family.system_dirs) if system else [])
    for folder in folders:
        looked.append(folder)
        files = [_file(folder, stem) for stem in FILES]
        if all(files):
            return files, looked  # type: ignore[return-value]
    return [], looked


def _missing(family: Family, looked: list[Path], root: Path) -> str:
    """Why --data-root does not hold the data: the files its fullest folder lacks."""
    def lacks(folder: Path) -> list[str]:
        return [stem for stem in FILES if _file(folder, stem) is None]

    best = min(looked, key=lambda folder: (len(lacks(folder)), str(folder)))
    if len(lacks(best)) == len(FILES):
        return (f"--data-root {root} holds no {family.title} idx files (looked in "
                f"{', '.join(str(p) for p in looked)}); {family.how_to_get}")
    return (f"--data-root {root}: {best} lacks {', '.join(f'{s}[.gz]' for s in lacks(best))} "
            f"of {family.title}; add them, or point --data-root at a folder with all four")


def download(family: Family, root: Path) -> None:
    """Fetch the files with torchvision (needs internet); they land in root/<Class>/raw."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, family.torchvision_class)
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types
        raise PrunebenchError(f"downloading {family.title} into {root} failed: {exc}") from None


def load(family: Family, root: Path | None, fetch: bool) -> ArrayData:
    """The whole data set, images scaled to [0, 1] and normalised with training statistics."""
    roots = candidate_roots(root)
    files, looked = find_files(family, roots, system=root is None)
    if not files and fetch:
        target = download_root(root)
        download(family, target)
        files, looked = find_files(family, [target], system=False)
    if not files and root is not None:
        raise PrunebenchError(_missing(family, looked, root))
    if not files:
        where = ", ".join(str(p) for p in looked) or "nowhere (no --data-root given)"
        raise PrunebenchError(f"{family.title} not found; looked in {where}; {family.how_to_get}")
    train_x, train_y, test_x, test_y = (read_idx(f) for f in files)
    for images, labels, name in ((train_x, train_y, files[0]), (test_x, test_y, files[2])):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise PrunebenchError(f"{name}: {images.shape} images do not match {labels.shape} "
                                  "labels")
        if labels.max(initial=0) > 9:
            raise PrunebenchError(f"{name}: labels go up to {labels.max()}, expected classes 0-9")
    tx, vx = normalise(torch.from_numpy(train_x.copy()).float().div(255).unsqueeze(1),
                       torch.from_numpy(test_x.copy()).float().div(255).unsqueeze(1))
    return ArrayData(tx, torch.from_numpy(train_y.astype("int64")), vx,
                     torch.from_numpy(test_y.astype("int64")), 10, str(files[0].parent),
                     unknown=identify(family.title, files))
