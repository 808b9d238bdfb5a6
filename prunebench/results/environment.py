"""What made a result: the versions, the hardware and the commit, recorded in every record."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

import prunebench

#: what decides the numbers: the package and its first-party criteria, not the result files and
#: boards a run rewrites in the same checkout
SOURCE_PATHS = ("prunebench", "plugins", "pyproject.toml")


def git_commit(source: Path | None = None) -> str:
    """The commit of the prunebench source tree, with '+dirty' for uncommitted changes to it."""
    source = source or Path(prunebench.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *SOURCE_PATHS], cwd=source, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """Versions, hardware and commit, recorded in every result."""
    return {
        "prunebench": prunebench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": {d: _version(d) for d in
                     ("torch", "torchvision", "torch-pruning", "numpy", "scikit-learn")},
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX512, AVX2, ...
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
