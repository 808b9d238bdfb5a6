"""taylor and grad-mean-abs against values computed by hand.

The net is one 1x1 conv z_j = w_j * x, and the loss is L = sum_j c_j * sum(z_j), so
dL/dz_j = c_j everywhere and dL/dw_j = c_j * sum(x).
"""

import torch

from prunebench.criterion import ChannelGroup
from tests.criteria.helpers import context, make, pointwise_conv

W = [[1.0], [-2.0], [0.5]]
C = torch.tensor([1.0, 1.0, -8.0])


def setup():
    torch.manual_seed(0)
    conv = pointwise_conv(W)
    inputs = [torch.rand(2, 1, 3, 3) + 0.1, torch.rand(4, 1, 3, 3) - 0.7]
    loss = lambda model, batch: (model(batch[0]) * C.view(1, 3, 1, 1)).sum()  # noqa: E731
    group = ChannelGroup("conv", conv)
    return conv, group, inputs, context(conv, [group], inputs, loss=loss)


def test_taylor_is_mean_over_samples_of_abs_spatial_mean_of_activation_times_gradient():
    conv, group, inputs, ctx = setup()
    criterion = make("taylor")
    criterion.prepare(ctx)
    # |1/M sum_m c_j w_j x_m| = |c_j w_j| |mean(x_n)|, averaged over the 6 samples
    per_sample = torch.cat([x.mean(dim=(1, 2, 3)).abs() for x in inputs])
    expected = (C * torch.tensor([w[0] for w in W])).abs() * per_sample.mean()
    torch.testing.assert_close(criterion.score(group).float(), expected)
    assert criterion.select(group, 2).tolist() == [1, 2]  # |c w| = 1, 2, 4
    assert conv.weight.grad is None  # the calibration loop leaves no gradients behind


def test_grad_mean_abs_is_mean_over_batches_of_abs_weight_gradient():
    conv, group, inputs, ctx = setup()
    criterion = make("grad-mean-abs")
    criterion.prepare(ctx)
    per_batch = torch.stack([x.sum().abs() for x in inputs])
    expected = C.abs() * per_batch.mean()
    torch.testing.assert_close(criterion.score(group).float(), expected)
    assert criterion.select(group, 1).tolist() == [2]
