"""Scenario plugins for the registry's tests: one good row, and rows each wrong in one way."""

from dataclasses import replace

from torch import nn

from prunebench import scenarios
from prunebench.scenarios.base import Scenario, ignoring_size


def _digits() -> Scenario:
    return scenarios.get("lenet5-digits")


def good() -> Scenario:
    return replace(_digits(), name="my-lenet", source="")


def no_convs() -> Scenario:
    return replace(_digits(), name="no-convs", source="",
                   build_model=ignoring_size(lambda: nn.Sequential(nn.Flatten(),
                                                                   nn.Linear(784, 10))))


def missing_group() -> list[Scenario]:
    return [replace(_digits(), name="no-group", groups=("conv1", "conv9"), source="")]


def duplicate() -> Scenario:
    return replace(_digits(), source="")


def not_a_scenario() -> str:
    return "lenet5"
