"""Criteria that compare filters by a normalised magnitude or a second-order loss estimate."""

from __future__ import annotations

import torch
from torch import Tensor

from prunebench.calibration import mean_abs_sample_gradients
from prunebench.criterion import ChannelGroup, PruneContext, ScoreCriterion


def lamp_scores(norms: Tensor) -> Tensor:
    """LAMP (Lee et al., ICLR'21, eq. 2) of each entry of `norms` (squared magnitudes): its value
    over the sum of the values at least as large, counted in ascending sorted order (ties by
    position, as the paper's sorted indices u < v)."""
    order = torch.argsort(norms, stable=True)
    ordered = norms[order]
    tails = ordered.flip(0).cumsum(0).flip(0)  # sum of ordered[u:] for each u
    scores = torch.empty_like(norms)
    scores[order] = ordered / tails.clamp_min(1e-30)
    return scores


class LAMP(ScoreCriterion):
    """Layer-adaptive magnitude pruning (Lee et al., ICLR'21) on filters: a filter's squared L2
    norm over the summed squared norms of the filters of its layer that are at least as large.
    Within one layer its order is the L2 order; its scores are comparable across layers, which
    is what a global allocation needs."""

    def score(self, group: ChannelGroup) -> Tensor:
        norms = group.conv.weight.detach().double().flatten(1).pow(2).sum(1)
        return lamp_scores(norms)


class OBDHessian(ScoreCriterion):
    """Optimal Brain Damage (LeCun et al., NeurIPS'89) with the Hessian's diagonal estimated by
    the empirical Fisher, E_x[(dC(x)/dw)^2], over the calibration samples (as Torch-Pruning's
    GroupHessianImportance): a filter's saliency is sum_k h_kk w_k^2 / 2 over its weights."""

    needs = ("gradients",)

    def prepare(self, ctx: PruneContext) -> None:
        self._fisher = mean_abs_sample_gradients(ctx, power=2)

    def score(self, group: ChannelGroup) -> Tensor:
        w = group.conv.weight.detach().double()
        return (self._fisher[group.name] * w.pow(2)).flatten(1).sum(1) / 2
