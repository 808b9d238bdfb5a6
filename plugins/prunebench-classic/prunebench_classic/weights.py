"""Data-free criteria that read the weights: BatchNorm scale and the geometric median."""

from __future__ import annotations

import torch
from torch import Tensor

from prunebench.criterion import ChannelGroup, NotApplicable, ScoreCriterion


class BNScale(ScoreCriterion):
    """|gamma| of the BatchNorm after the conv (Network Slimming, Liu et al., ICCV'17), without
    its sparsity training; a layer with no BatchNorm is reported as not applicable."""

    def score(self, group: ChannelGroup) -> Tensor:
        if group.bn is None or group.bn.weight is None:
            raise NotApplicable(f"layer {group.name} has no BatchNorm scale to rank by")
        return group.bn.weight.detach().abs()


class FPGM(ScoreCriterion):
    """Filter Pruning via Geometric Median (He et al., CVPR'19): the filters nearest the
    geometric median of their layer are the most replaceable. A filter's score is its summed
    Euclidean distance to all filters of the layer; the smallest sums are pruned."""

    def score(self, group: ChannelGroup) -> Tensor:
        filters = group.conv.weight.detach().flatten(1).double()
        return torch.cdist(filters, filters).sum(1)
