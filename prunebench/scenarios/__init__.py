"""The rows of the matrix. `registry()` builds a fresh name -> Scenario dict on every call."""

from __future__ import annotations

from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.scenarios.base import Scenario

DEFAULT = "lenet5-digits"


def registry() -> dict[str, Scenario]:
    from prunebench.scenarios import detection, lenet5, resnet, vgg

    found: dict[str, Scenario] = {}
    rows = [*lenet5.scenarios(), *vgg.scenarios(), *resnet.scenarios(), *detection.scenarios()]
    for scenario in rows:
        if scenario.name in found:
            raise RuntimeError(f"scenario '{scenario.name}' is defined twice")
        found[scenario.name] = scenario
    return found


def get(name: str) -> Scenario:
    known = registry()
    if name not in known:
        raise PrunebenchError(f"unknown scenario '{name}'{did_you_mean(name, known)}; choose "
                              f"one of {', '.join(known)} "
                              "(see `prunebench list --scenarios`)")
    return known[name]
