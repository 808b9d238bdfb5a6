"""Random filter choice: the floor any criterion must clear to be worth its cost."""

from __future__ import annotations

import torch
from torch import Tensor

from prunebench.criterion import ChannelGroup, PruneContext, ScoreCriterion


class Random(ScoreCriterion):
    """Keeps a uniformly random subset of filters, drawn from the run's seeded generator."""

    def __init__(self) -> None:
        self._generator: torch.Generator | None = None

    def prepare(self, ctx: PruneContext) -> None:
        self._generator = ctx.generator

    def score(self, group: ChannelGroup) -> Tensor:
        if self._generator is None:
            raise RuntimeError("prepare() was not called before score()")
        return torch.rand(group.n_filters, generator=self._generator)
