"""Shared helpers: fake installed distributions, tiny layers with known filters."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from torch import nn

from prunebench.criterion import ChannelGroup

# The tests read what a user's pipe gets: 160 columns (prunebench/cli/console.py). A size set
# in the environment, by a terminal or by pytest-xdist's workers (80 x 24), would fold it; the
# consoles are made when prunebench.cli is first imported, after this.
for _size in ("COLUMNS", "LINES"):
    os.environ.pop(_size, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="also run the end-to-end tests marked slow (what CI runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fast loop: without --slow, the end-to-end tests (marked `slow`) are left out, and the
    summary counts them as deselected. With --slow, the few longest tests (marked `longest`)
    go first, so that pytest-xdist's workers, which take tests in this order, end together
    rather than one finishing the longest test alone, and a shared fixture's first user makes
    it before the other worker would wait for it."""
    if config.getoption("--slow"):
        items.sort(key=lambda item: item.get_closest_marker("longest") is None)
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="session")
def shared_once(tmp_path_factory: pytest.TempPathFactory,
                worker_id: str) -> Callable[[str, Callable[[Path], None]], Path]:
    """`shared_once(name, make)`: a folder `make` fills once per test session, whichever
    pytest-xdist worker asks first; the others wait for it and read it (pytest-xdist's recipe
    for a session fixture that runs once, with filelock)."""
    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent  # the workers' common folder

    def get(name: str, make: Callable[[Path], None]) -> Path:
        folder = root / name
        with FileLock(root / f"{name}.lock"):
            if not (root / f"{name}.done").exists():
                shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
                folder.mkdir()
                make(folder)
                (root / f"{name}.done").touch()
        return folder

    return get


def _train_paper_baseline(folder: Path) -> None:
    from prunebench.cli import main

    assert main(["run", "--budget", "paper", "--track", "one-shot", "--criteria", "random",
                 "--target", "prun1", "--seeds", "0", "--controls", "none",
                 "--results", str(folder)]) == 0


@pytest.fixture(scope="session")
def paper_baseline(shared_once: Callable[[str, Callable[[Path], None]], Path]) -> Path:
    """A trained `baselines/` folder of lenet5-digits at `paper`, seed 0 (40 epochs), for the
    tests about what comes after a baseline: trained once per session by a real run that
    trains nothing else (the one-shot track, over the same baselines); copy it into the test's
    results folder."""
    return shared_once("paper-baseline", _train_paper_baseline) / "baselines"


@pytest.fixture
def install_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install a distribution the way pip leaves it on disk: modules plus a .dist-info folder
    whose entry_points.txt registers criteria (or `group`'s plugins). Call it before the first
    discovery in a test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist: str, entries: dict[str, str], modules: dict[str, str],
                version: str = "1.0", group: str = "prunebench.criteria") -> None:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()

    yield install
    for name in [m for m, mod in sys.modules.items()
                 if str(site) in str(getattr(mod, "__file__", "") or "")]:
        del sys.modules[name]


def conv_group(filters: list[list[float]], name: str = "conv") -> ChannelGroup:
    """A 1x1 conv with one filter per row of `filters` (one weight per input channel)."""
    weight = torch.tensor(filters, dtype=torch.float32)
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight[:, :, None, None])
    return ChannelGroup(name=name, conv=conv)
