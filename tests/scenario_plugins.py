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


def missing_group() -> Scenario:
    return replace(_digits(), name="no-group", groups=("conv1", "conv9"), source="")


def duplicate() -> Scenario:
    return replace(_digits(), source="")


def not_a_scenario() -> str:
    return "lenet5"


class _Raises(nn.Module):
    """LeNet-5's layers, whose forward fails as a plugin's model might."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)

    def forward(self, x):
        raise ValueError("this model cannot run")


def _failing_loader(_root, _download, _size):
    raise OSError("the disk is on fire")


def _failing_writer(_folder):
    raise PermissionError("no writing today")


def bad_loader() -> Scenario:
    """Rows whose own code fails at run time: the data loader raises (here) or returns nothing,
    the model's forward raises, the tiny-data writer raises."""
    return replace(_digits(), name="bad-loader", source="", load_data=_failing_loader)


def none_loader() -> Scenario:
    return replace(_digits(), name="none-loader", source="",
                   load_data=lambda _root, _download, _size: None)


def bad_forward() -> Scenario:
    return replace(_digits(), name="bad-forward", source="", build_model=ignoring_size(_Raises))


def bad_writer() -> Scenario:
    return replace(_digits(), name="bad-writer", source="", tiny_data=_failing_writer)
