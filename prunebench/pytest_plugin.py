"""prunebench's pytest plugin (entry point `pytest11`), loaded by pytest in any environment where
prunebench is installed: the `prunebench_contract` fixture. Importing prunebench's harness waits
until a test asks for the fixture, so other test suites do not pay for torch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def prunebench_contract(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """`prunebench_contract(name, settings=None)`: the contract checks of
    `prunebench.testing.check_criterion` for an installed criterion, inside this test."""
    from prunebench.testing import check_criterion

    def check(name: str, settings: dict | None = None) -> None:
        check_criterion(name, settings, tmp_path)
    yield check


@pytest.fixture
def prunebench_scenario_check(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """`prunebench_scenario_check(name, data_root=None)`: the checks of
    `prunebench.testing.check_scenario` for an installed scenario, inside this test."""
    from prunebench.testing import check_scenario

    def check(name: str, data_root: Path | None = None) -> None:
        check_scenario(name, data_root, tmp_path)
    yield check
