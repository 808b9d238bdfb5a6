"""Stability-based pruning (seed 001, Singh et al.), sec. 3.2.

Per pruning step: snapshot F (the filters after training), train `sparsity_epochs` with the total
loss of eq. 2, L = C + lambda * sum_i S_Li, giving M, then rank by eq. 3, FI = |m_j| / |f_j|
(sums of absolute values): a high ratio means the filter yielded to the auxiliary loss and is
unimportant. The harness keeps the trained weights M and fine-tunes them, as in the seed's Fig. 1.

Eq. 1 as printed, (-1 - f) for f < 0 and (1 - f) for f >= 0, has the gradient -1 everywhere and
would push every weight upwards; the text says the loss "forces the negative filter values to -1
and positive filter values to +1", so the terms are taken as distances: |-1 - f| and |1 - f|.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from prunebench.criterion import ChannelGroup, Limits, PruneContext, ScoreCriterion

DEFAULT_LAMBDA = 1e-5  # seed 001 sec. 4.1-4.2 (LeNet-5, VGG-16); 5e-6 for ResNet-50 (sec. 4.4)
EPSILON = 1e-12


def auxiliary_loss(weight: Tensor) -> Tensor:
    """S_L of eq. 1 for one layer: every value's distance to -1 (if negative) or +1."""
    target = torch.where(weight < 0, -1.0, 1.0)
    return (target - weight).abs().sum()


def importance_ratio(before: Tensor, after: Tensor) -> Tensor:
    """Eq. 3 per filter: |m_j| / |f_j|, with |.| the sum of absolute values, in float64: at a
    small learning rate M differs from F in the last bits of float32, and a float32 sum rounds
    them away (a filter's ratio ties, or flips, with its neighbour's)."""
    f = before.double().flatten(1).abs().sum(1)
    m = after.double().flatten(1).abs().sum(1)
    return m / f.clamp_min(EPSILON)


class Stability(ScoreCriterion):
    """Stability under an auxiliary loss driving weights to +-1 (seed 001, eq. 1-3); setting
    `lam`, eq. 2's lambda (default 1e-5; the seed uses 5e-6 for ResNet-50)."""

    sparsity_epochs = 1.0  # seed 001: "we use 1-3 epochs for optimizing equation-2"
    needs = ("training",)
    limits = {"lam": Limits(low=0, high=1e3)}

    def __init__(self, lam: float = DEFAULT_LAMBDA) -> None:
        self.lam = lam
        self._before: dict[str, Tensor] = {}

    def prepare(self, ctx: PruneContext) -> None:
        self._before = {g.name: g.conv.weight.detach().clone() for g in ctx.groups}

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = sum(auxiliary_loss(g.conv.weight) for g in ctx.groups)  # in the order it always had
        return self.lam * cast(Tensor, total)

    def score(self, group: ChannelGroup) -> Tensor:
        return -importance_ratio(self._before[group.name], group.conv.weight.detach())

    def report(self) -> dict:
        return {"lambda": self.lam, "sparsity_epochs": self.sparsity_epochs}
