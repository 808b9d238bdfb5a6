"""Criteria that judge a filter by the activation it produces on calibration data."""

from __future__ import annotations

import torch
from torch import Tensor

from prunebench.criteria.calibration import feature_statistics
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


def channel_independence(activation: Tensor, _grad: Tensor | None) -> Tensor:
    """CHIP's eq. 5 for each sample and channel: ||A||_* - ||M_c (.) A||_*, A the sample's
    (C, H*W) matrix of feature maps and M_c the mask that zeroes row c. In float64: the
    differences are small against the norms."""
    maps = activation.double().flatten(2)  # (N, C, HW)
    total = torch.linalg.svdvals(maps).sum(-1)
    out = torch.empty(maps.shape[:2], dtype=torch.float64, device=maps.device)
    for c in range(maps.shape[1]):
        masked = maps.clone()
        masked[:, c] = 0
        out[:, c] = total - torch.linalg.svdvals(masked).sum(-1)
    return out


class CHIP(ScoreCriterion):
    """Channel independence (Sui et al., NeurIPS'21, eq. 5-6): how much the nuclear norm of a
    layer's feature-map matrix drops when a channel's map is removed, averaged over the
    calibration samples; the least independent channels are pruned. Maps are taken after the
    ReLU (the maps the next layer sees). Its cost is one SVD per channel, sample and layer."""

    needs = ("activations",)

    def prepare(self, ctx: PruneContext) -> None:
        self._independence = feature_statistics(ctx, channel_independence, after_activation=True)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._independence[group.name]
