"""apoz and hrank on feature maps whose zeros and ranks are known."""

import torch
from torch import nn

from prunebench.criterion import ChannelGroup
from tests.criteria.helpers import context, make, pointwise_conv


def test_apoz_drops_the_filter_whose_output_is_always_zero():
    # filter 0: x > 0 stays positive; filter 1: 0*x - 1 is always cut by ReLU; filter 2: half
    conv = pointwise_conv([[1.0], [0.0], [1.0]], bias=[0.0, -1.0, -0.5])
    x = torch.linspace(0.01, 0.99, 50).view(2, 1, 5, 5)
    group = ChannelGroup("conv", conv)
    criterion = make("apoz")
    criterion.prepare(context(conv, [group], [x]))
    zeros = -criterion.score(group)
    assert zeros[0] == 0.0 and zeros[1] == 1.0 and 0.4 < zeros[2] < 0.6
    assert criterion.select(group, 2).tolist() == [0, 2]


def test_apoz_reads_the_activation_after_batchnorm():
    conv = pointwise_conv([[1.0], [1.0]])
    bn = nn.BatchNorm2d(2).eval()
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([0.0, -10.0]))  # BN shifts filter 1 below zero
    model = nn.Sequential(conv, bn, nn.ReLU())
    group = ChannelGroup("0", conv, bn)
    criterion = make("apoz")
    criterion.prepare(context(model, [group], [torch.rand(3, 1, 4, 4)]))
    assert (-criterion.score(group)).tolist() == [0.0, 1.0]


def test_hrank_is_the_average_rank_of_the_feature_maps():
    torch.manual_seed(0)
    full_rank = torch.rand(3, 1, 6, 6) + 0.1
    rank_one = torch.stack([torch.outer(torch.rand(6) + 0.1, torch.rand(6) + 0.1)
                            for _ in range(3)])
    x = torch.cat([full_rank, rank_one.unsqueeze(1)], dim=1)  # 2 input channels
    conv = pointwise_conv([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    group = ChannelGroup("conv", conv)
    criterion = make("hrank")
    criterion.prepare(context(conv, [group], [x]))
    assert criterion.score(group).tolist() == [6.0, 1.0, 0.0]
    assert criterion.select(group, 1).tolist() == [0]


def test_chip_is_the_nuclear_norm_lost_without_each_channel():
    """Maps [1, 0], [0, 2], [1, 0]: the nuclear norm is 2 + sqrt(2); without channel 0 (or its
    copy, channel 2) it is 2 + 1, without channel 1 it is sqrt(2). Independence: sqrt(2) - 1,
    2, sqrt(2) - 1; channel 1 is kept, then the lower index of the tied copies."""
    from prunebench_classic.activations import channel_independence

    maps = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]]]).view(1, 3, 1, 2)
    root2 = 2 ** 0.5
    expected = torch.tensor([[root2 - 1, 2.0, root2 - 1]], dtype=torch.float64)
    torch.testing.assert_close(channel_independence(maps, None), expected)
    conv = pointwise_conv([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    group = ChannelGroup("conv", conv)
    criterion = make("chip")
    criterion.prepare(context(conv, [group], [x, x]))  # two samples, both the same
    torch.testing.assert_close(criterion.score(group), expected[0])
    assert criterion.select(group, 2).tolist() == [0, 1]


def test_chip_reads_the_maps_after_the_relu():
    """Maps [1, 0], [0, 2], [-1, 0]: after the ReLU the third is zero, so removing it changes
    no singular value (independence 0) and the others' are 3 - 2 = 1 and 3 - 1 = 2. Before the
    ReLU (a wrong tap) the third would mirror the first: sqrt(2) - 1 each, and sqrt(2)."""
    conv = pointwise_conv([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    model = nn.Sequential(conv, nn.ReLU())
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    group = ChannelGroup("0", conv)
    criterion = make("chip")
    criterion.prepare(context(model, [group], [x]))
    torch.testing.assert_close(criterion.score(group),
                               torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64))
