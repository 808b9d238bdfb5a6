"""Filter-norm criteria: filters with small weights matter least."""

from __future__ import annotations

from torch import Tensor

from prunebench.criterion import ChannelGroup, ScoreCriterion


class L1Norm(ScoreCriterion):
    """Sum of absolute kernel weights per filter (Li et al., ICLR'17, s_j = sum |F_j|)."""

    def score(self, group: ChannelGroup) -> Tensor:
        return group.conv.weight.detach().abs().flatten(1).sum(1)


class L2Norm(ScoreCriterion):
    """Euclidean norm of each filter's kernel weights."""

    def score(self, group: ChannelGroup) -> Tensor:
        return group.conv.weight.detach().flatten(1).norm(dim=1)
