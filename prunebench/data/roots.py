"""Where data sets are looked for: --data-root alone when given (a folder the user names is used
or refused, never replaced by another), else $PRUNEBENCH_DATA."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

DEFAULT_DOWNLOAD_ROOT = Path.home() / ".cache" / "prunebench" / "data"


def candidate_roots(root: Path | None) -> list[Path]:
    """The user's roots in the order they are searched: --data-root alone, else the
    environment's."""
    if root is not None:
        return [root]
    env = os.environ.get("PRUNEBENCH_DATA")
    return [Path(env)] if env else []


def locate(roots: list[Path], subfolder: str, holds: Callable[[Path], bool]) -> Path | None:
    """The first `<root>/<subfolder>` or `<root>` itself, root by root, that `holds` the data."""
    for root in roots:
        for folder in (root / subfolder, root):
            if holds(folder):
                return folder
    return None


def looked_in(roots: list[Path]) -> str:
    """The searched roots, for a "not found" message."""
    return ", ".join(str(r) for r in roots) or "nowhere (no --data-root given)"


def download_root(root: Path | None) -> Path:
    """Where a download lands: the first root the user named, else a per-user cache."""
    roots = candidate_roots(root)
    return roots[0] if roots else DEFAULT_DOWNLOAD_ROOT
