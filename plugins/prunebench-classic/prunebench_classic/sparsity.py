"""Sparsity-training criteria: a penalty during the sparsity epochs drives unimportant filters
towards zero, then the smallest are pruned. Their sparsity epochs are their cost."""

from __future__ import annotations

from typing import cast

from torch import Tensor

from prunebench.criterion import ChannelGroup, NotApplicable, PruneContext, ScoreCriterion


class _Penalised(ScoreCriterion):
    """A criterion that trains one sparsity epoch with a penalty of weight `lam`."""

    sparsity_epochs = 1.0
    needs = ("training",)

    def __init__(self, lam: float = 1e-4) -> None:
        self.lam = lam

    def report(self) -> dict:
        return {"lambda": self.lam, "sparsity_epochs": self.sparsity_epochs}


class Slimming(_Penalised):
    """Network Slimming (Liu et al., ICCV'17): an L1 penalty lam * sum |gamma| on the scales of
    the BatchNorms after the pruned convs during the sparsity epoch (the paper's lambda for
    VGGNet, 1e-4, by default; setting `lam`), then the smallest |gamma| are pruned. A layer
    without BatchNorm is not applicable."""

    def prepare(self, ctx: PruneContext) -> None:
        for g in ctx.groups:
            if g.bn is None or g.bn.weight is None:
                raise NotApplicable(f"layer {g.name} has no BatchNorm scale to make sparse")

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = sum(cast(Tensor, g.bn.weight).abs().sum() for g in ctx.groups if g.bn is not None)
        return self.lam * cast(Tensor, total)

    def score(self, group: ChannelGroup) -> Tensor:
        assert group.bn is not None and group.bn.weight is not None
        return group.bn.weight.detach().abs()


class GroupLasso(_Penalised):
    """Group lasso on filters (structured sparsity learning, Wen et al., NeurIPS'16): the
    penalty lam * sum_j ||W_j||_2 over every filter of the pruned convs during the sparsity
    epoch (setting `lam`, 1e-4 by default), then the filters of smallest L2 norm are pruned."""

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = sum(g.conv.weight.flatten(1).norm(dim=1).sum() for g in ctx.groups)
        return self.lam * cast(Tensor, total)

    def score(self, group: ChannelGroup) -> Tensor:
        return group.conv.weight.detach().double().flatten(1).norm(dim=1)
