"""What a row of the matrix is: model, data, task, prunable layers, targets and schedules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from prunebench.data.base import Data
from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.models import surgery
from prunebench.models.tasks import Task
from prunebench.protocol.config import BUDGETS, Budget, Setting, Target


def ignoring_size(factory: Callable[..., nn.Module], *args) -> Callable[[int | None], nn.Module]:
    """A model factory for rows whose model does not depend on the image size."""
    return lambda _image_size: factory(*args)


def automatic_groups(build_model: Callable[[int | None], nn.Module],
                     input_shape: tuple[int, ...], prune_root: str = "") -> tuple[str, ...]:
    """A row's prunable groups found automatically: every conv whose filters the dependency
    graph removes on their own, not coupled to another conv's output through a residual add
    (`surgery.independent_convs`), traced on one sample of `input_shape`."""
    model = build_model(None).eval()
    return surgery.independent_convs(model, torch.zeros(1, *input_shape), prune_root)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build_model: Callable[[int | None], nn.Module]  # (image size of the budget, or None)
    load_data: Callable[[Path | None, bool, int | None], Data]  # (root, download?, image size)
    task: Task
    groups: tuple[str, ...]  # names of the convs whose filters are pruned, in forward order
    input_shape: tuple[int, ...]  # one sample at the row's nominal size (what `flops` counts)
    targets: Mapping[str, Target]
    budgets: Mapping[str, Budget]
    default_target: str
    #: the submodule the dependency graph is traced on ("" = the whole model); its input is
    #: (1, *input_shape). Detection prunes inside the backbone, whose input is a plain tensor.
    prune_root: str = ""
    #: the submodule whose MACs and feature maps are reported (see measure/architecture.py)
    measure_root: str = ""
    #: writes a tiny copy of the row's data, in its real on-disk format, under a folder
    tiny_data: Callable[[Path], Path] | None = None
    #: a row whose cells start from the pruned models another row saved (see transfer.py)
    backbone_source: str | None = None
    #: criteria settings a paper prescribes for this row (seed 001 sec. 4.4: stability's lambda
    #: 5e-6 on ResNet-50), used when `--criteria` is left out; the row name shows them
    paper_settings: Mapping[str, tuple[Setting, ...]] = field(default_factory=dict)
    #: the distribution and version that registered it (set by `scenarios.registry`)
    source: str = ""

    def model(self, budget: Budget | None = None) -> nn.Module:
        return self.build_model(budget.image_size if budget is not None else None)

    def target(self, name: str) -> Target:
        if name not in self.targets:
            raise PrunebenchError(f"unknown target '{name}' for {self.name}"
                                  f"{did_you_mean(name, self.targets)}; choose one of "
                                  f"{', '.join(self.targets)}, or give --widths / --ratio")
        return self.targets[name]

    def budget(self, name: str) -> Budget:
        if name not in self.budgets:
            raise PrunebenchError(f"unknown budget '{name}'{did_you_mean(name, BUDGETS)}; "
                                  f"choose one of {', '.join(BUDGETS)}")
        return self.budgets[name]
