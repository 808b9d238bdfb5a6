"""Reader and writer of the idx format of MNIST and Fashion-MNIST, gzip-compressed or not.

torchvision's `read_sn3_pascalvincent_tensor` neither opens .gz files nor explains a bad file (it
asserts), so this reader checks magic number, dimensions and length and names the file it rejects.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """The unsigned-byte array stored in `path` (.gz or plain)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise PrunebenchError(f"cannot read {path}: {exc}; delete it and fetch the data "
                              "again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or not 1 <= raw[3] <= 3:
        raise PrunebenchError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise PrunebenchError(f"{path} is truncated inside its header")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise PrunebenchError(
            f"{path} holds {len(raw)} bytes but its header {dims} needs {expected}; the file is "
            "truncated or corrupt, fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte array as idx; gzip-compressed when `path` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
