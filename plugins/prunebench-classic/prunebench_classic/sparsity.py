"""Sparsity-training criteria: a penalty during the sparsity epochs drives unimportant filters
towards zero, then the smallest are pruned. Their sparsity epochs are their cost."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

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
    without BatchNorm is not applicable. On a global target, one threshold on |gamma| over
    every pruned layer is the paper's own rule (sec. 4)."""

    scores_comparable_across_layers = True

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


def coupled_squares(model: nn.Module, group: ChannelGroup) -> Tensor:
    """Per channel, the summed squares of every parameter the surgery removes with it: the
    conv's filter, its BatchNorm's scale and each consuming layer's input slice (a linear after
    a flatten: the channel's block of features). Differentiable."""
    squares = group.conv.weight.pow(2).flatten(1).sum(1)
    if group.bn is not None and group.bn.weight is not None:
        squares = squares + group.bn.weight.pow(2)
    for name in group.consumers:
        weight = cast(Tensor, model.get_submodule(name).weight)
        squares = squares + weight.reshape(weight.shape[0], group.n_filters, -1).pow(2).sum((0, 2))
    return squares


class GroupNormSL(_Penalised):
    """DepGraph's group-level sparse learning (Fang et al., CVPR'23, sec. 3.3, eq. 6, as
    Torch-Pruning's GroupNormPruner): during the sparsity epoch the penalty
    lam / 2 * sum_k gamma_k * I_k, with I_k the summed squares of channel k's whole coupled group
    (`coupled_squares`) and gamma_k = 2^(alpha (I_max - I_k) / (I_max - I_min)) on the groups'
    L2 norms, recomputed at every step and held constant in the gradient, so the least important
    channels are pushed hardest; then the channels of smallest group norm are pruned. Settings
    `lam` (1e-4, Torch-Pruning's default reg) and `alpha` (4)."""

    def __init__(self, lam: float = 1e-4, alpha: float = 4.0) -> None:
        super().__init__(lam)
        self.alpha = alpha

    def prepare(self, ctx: PruneContext) -> None:
        self._model = ctx.model

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = torch.zeros((), device=ctx.device)
        for g in ctx.groups:
            squares = coupled_squares(ctx.model, g)
            norms = squares.detach().sqrt()
            spread = norms.max() - norms.min()
            scale = 2 ** (self.alpha * (norms.max() - norms) / spread) if spread > 0 \
                else torch.ones_like(norms)
            total = total + (scale * squares).sum()
        return self.lam / 2 * total

    def score(self, group: ChannelGroup) -> Tensor:
        return coupled_squares(self._model, group).detach().double().sqrt()

    def report(self) -> dict:
        return {**super().report(), "alpha": self.alpha}


class GrowingReg(_Penalised):
    """GReg-1 (Wang et al., ICLR'21, "Neural Pruning via Growing Regularization", sec. 3.2):
    before the sparsity epoch the filters to remove are fixed by L1 norm (as many as the step
    removes); during it only they get the L2 penalty lam / 2 * ||W_j||^2, its lam raised by
    `delta` every `interval` iterations up to `ceiling` (the paper's 1e-4, 10 and 1); then they
    are removed. With prunebench's one sparsity epoch the penalty reaches only iterations /
    interval * delta; the result records the lam reached."""

    def __init__(self, delta: float = 1e-4, interval: int = 10, ceiling: float = 1.0) -> None:
        super().__init__(lam=0.0)
        self.delta, self.interval, self.ceiling = delta, interval, ceiling
        self._iterations = 0

    def prepare(self, ctx: PruneContext) -> None:
        self._keep: dict[str, Tensor] = {}
        for g in ctx.groups:
            if g.name not in ctx.widths:
                raise NotApplicable(f"no width is fixed for {g.name} before selection (a global "
                                    "target); growing-reg fixes the filters it removes before "
                                    "its sparsity epoch")
            l1 = g.conv.weight.detach().double().abs().flatten(1).sum(1)
            order = torch.argsort(-l1, stable=True)
            self._keep[g.name] = order[:ctx.widths[g.name]].sort().values
        self._iterations = 0

    def penalty(self, ctx: PruneContext) -> Tensor:
        self.lam = min(self.ceiling, self.delta * (self._iterations // self.interval))
        self._iterations += 1
        total = torch.zeros((), device=ctx.device)
        for g in ctx.groups:
            removed = torch.ones(g.n_filters, dtype=torch.bool)
            removed[self._keep[g.name]] = False
            total = total + g.conv.weight[removed.to(g.conv.weight.device)].pow(2).sum()
        return self.lam / 2 * total

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        kept = self._keep[group.name]
        if len(kept) != n_keep:
            raise ValueError(f"asked to keep {n_keep} filters of {group.name}, but the "
                             f"sparsity epoch was run for {len(kept)}")
        return kept

    def score(self, group: ChannelGroup) -> Tensor:  # select() answers; the L1 order
        return group.conv.weight.detach().double().abs().flatten(1).sum(1)

    def report(self) -> dict:
        return {"lambda_reached": self.lam, "delta": self.delta, "interval": self.interval,
                "ceiling": self.ceiling, "sparsity_epochs": self.sparsity_epochs}
