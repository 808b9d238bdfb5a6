"""Criteria that judge a filter by the activation it produces on calibration data."""

from __future__ import annotations

import torch
from torch import Tensor

from prunebench.calibration import feature_statistics
from prunebench.criterion import ChannelGroup, PruneContext, ScoreCriterion


def _zero_fraction(activation: Tensor, _grad: Tensor | None) -> Tensor:
    return (activation <= 0).double().mean(dim=(2, 3))


def _rank(activation: Tensor, _grad: Tensor | None) -> Tensor:
    # the tolerance must match the maps' own precision: in float64, float32 rounding noise
    # would count as rank and make every map look full-rank
    return torch.linalg.matrix_rank(activation).double()


class APoZ(ScoreCriterion):
    """Average Percentage of Zeros of a filter's output after ReLU (Hu et al., 2016);
    a filter that is mostly zero is pruned first."""

    needs = ("activations",)

    def prepare(self, ctx: PruneContext) -> None:
        self._apoz = feature_statistics(ctx, _zero_fraction, after_activation=True)

    def score(self, group: ChannelGroup) -> Tensor:
        return -self._apoz[group.name]

    def report(self) -> dict:
        return {"mean_apoz": {k: float(v.mean()) for k, v in self._apoz.items()}}


class HRank(ScoreCriterion):
    """Average rank of a filter's output feature maps after ReLU over the calibration images
    (Lin et al., CVPR'20); low-rank maps carry less information and are pruned first."""

    needs = ("activations",)

    def prepare(self, ctx: PruneContext) -> None:
        self._rank = feature_statistics(ctx, _rank, after_activation=True)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._rank[group.name]
