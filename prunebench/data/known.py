"""The published files of the matrix's data sets, by digest, so a folder is recognised for what
it holds (issue 39): MNIST's files given to a Fashion-MNIST row, or a corrupt copy, are refused
naming what they look like instead of being trained on under the row's name.

A file is known when its MD5 is one the data set's authors published (torchvision lists them:
`MNIST.resources`, `FashionMNIST.resources`, `CIFAR10.train_list` ...), or, for the idx files,
when the SHA-256 of its decompressed content is known (Debian recompresses Fashion-MNIST's .gz
files, so their MD5s differ from upstream's while their content is the same; the digests below
were computed from Debian's dataset-fashion-mnist 0.0~git20200523). Copies written by
`prunebench tiny-data` carry a marker file and are known as such.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

#: written beside the files of every synthetic copy (`prunebench tiny-data`, the tests' data)
TINY_MARKER = "PRUNEBENCH-TINY-DATA"

#: per data set, per file stem: the published MD5s of the file (.gz for idx files) and the
#: SHA-256s of its decompressed content
KNOWN: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "MNIST": {
        "train-images-idx3-ubyte": ({"f68b3c2dcbeaaa9fbdd348bbdeb94873"}, set()),
        "train-labels-idx1-ubyte": ({"d53e105ee54ea40749a09fcbcd1e9432"}, set()),
        "t10k-images-idx3-ubyte": ({"9fb629c4189551a2d022fa330f9573f3"}, set()),
        "t10k-labels-idx1-ubyte": ({"ec29112dd5afa0611ce80d1b7f02629c"}, set()),
    },
    "Fashion-MNIST": {
        "train-images-idx3-ubyte": (
            {"8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
            {"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"}),
        "train-labels-idx1-ubyte": (
            {"25c81989df183df01b3e8a0aad5dffbe"},
            {"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"}),
        "t10k-images-idx3-ubyte": (
            {"bef4ecab320f06d8554ea6380940ec79"},
            {"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"}),
        "t10k-labels-idx1-ubyte": (
            {"bb300cfdad3c16e7a12a480ee83cd310"},
            {"0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}),
    },
    "CIFAR-10": {
        "data_batch_1": ({"c99cafc152244af753f735de768cd75f"}, set()),
        "data_batch_2": ({"d4bba439e000b95fd0a9bffe97cbabec"}, set()),
        "data_batch_3": ({"54ebc095f3ab1f0389bbae665268c751"}, set()),
        "data_batch_4": ({"634d18415352ddfa80567beed471001a"}, set()),
        "data_batch_5": ({"482c414d41f54cd18b22e5b47cb7c3cb"}, set()),
        "test_batch": ({"40351d587109b95175f43aff81a1287e"}, set()),
    },
    "CIFAR-100": {
        "train": ({"16019d7e3df5f24257cddd939b257f8d"}, set()),
        "test": ({"f0ef6b0ae62326f3e7ffdfab6717acfc"}, set()),
    },
}


def _digests(path: Path) -> tuple[str, str | None]:
    """The file's MD5, and the SHA-256 of its content decompressed (None: not gzip)."""
    data = path.read_bytes()
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if path.suffix != ".gz":
        return md5, hashlib.sha256(data).hexdigest()
    try:
        return md5, hashlib.sha256(gzip.decompress(data)).hexdigest()
    except (OSError, EOFError, zlib.error):
        return md5, None


def stem(path: Path) -> str:
    return path.name[:-3] if path.suffix == ".gz" else path.name


def matches(path: Path) -> set[str]:
    """The data sets one of whose published files `path` is."""
    md5, content = _digests(path)
    found = set()
    for title, files in KNOWN.items():
        md5s, contents = files.get(stem(path), (set(), set()))
        if md5 in md5s or (content is not None and content in contents):
            found.add(title)
    return found


def identify(title: str, files: list[Path]) -> str | None:
    """None when every file is one of `title`'s published files (or the folder is a marked
    synthetic copy); otherwise one clause saying what the files are instead."""
    if files and (files[0].parent / TINY_MARKER).exists():
        return None
    seen = [matches(path) for path in files]
    if all(title in found for found in seen):
        return None
    others = sorted(set().union(*seen) - {title})
    wrong = [p.name for p, found in zip(files, seen) if title not in found]
    if others:
        return (f"the files in {files[0].parent} are {' and '.join(others)}'s, not "
                f"{title}'s ({', '.join(wrong)})")
    return (f"{', '.join(wrong)} in {files[0].parent} match{'es' if len(wrong) == 1 else ''} "
            f"none of {title}'s published files (another data set, a corrupt or an edited "
            "copy)")
