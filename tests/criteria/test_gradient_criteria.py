"""taylor and grad-mean-abs against values computed by hand.

The net is one 1x1 conv z_j = w_j * x, and the loss is L = sum_j c_j * sum(z_j), so
dL/dz_j = c_j everywhere and dL/dw_j = c_j * sum(x).
"""

import pytest
import torch

from prunebench.criterion import ChannelGroup, NotApplicable
from tests.criteria.helpers import context, make, make_with, pointwise_conv

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
    # z = ReLU(w_j x) is what the next layer sees, dC/dz = c_j where z > 0: per sample
    # |c_j mean_m ReLU(w_j x_m)|, averaged over the 6 samples
    x = torch.cat(inputs)
    w = torch.tensor([row[0] for row in W]).view(1, 3, 1, 1)
    expected = (C.view(1, 3) * torch.relu(w * x).mean(dim=(2, 3))).abs().mean(0)
    torch.testing.assert_close(criterion.score(group).float(), expected)
    assert conv.weight.grad is None  # the calibration loop leaves no gradients behind


def test_taylor_does_not_change_when_a_conv_bias_and_the_bn_mean_shift_together():
    """BN(conv(x) + d) with running mean + d is the same function; Taylor on the map after BN
    and ReLU gives the same scores and kept set (on the conv's raw output it did not)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3, padding=1), torch.nn.BatchNorm2d(6),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(6 * 25, 3))
    with torch.no_grad():
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    inputs = [torch.randn(8, 2, 5, 5)]
    loss = lambda model, batch: torch.nn.functional.cross_entropy(  # noqa: E731
        model(batch[0]), torch.arange(len(batch[0])) % 3)

    def scores():
        group = ChannelGroup("0", net[0], net[1])
        criterion = make("taylor")
        criterion.prepare(context(net, [group], inputs, loss=loss))
        return criterion.score(group), criterion.select(group, 3).tolist()

    before, kept = scores()
    logits = net(inputs[0])
    shift = torch.tensor([5.0, -3.0, 8.0, 0.5, -6.0, 2.0])
    with torch.no_grad():
        net[0].bias += shift
        net[1].running_mean += shift
    torch.testing.assert_close(net(inputs[0]), logits, atol=1e-5, rtol=0)
    after, kept_after = scores()
    torch.testing.assert_close(after, before, atol=1e-9, rtol=1e-5)
    assert kept_after == kept


def test_grad_batch_mean_abs_is_mean_over_batches_of_abs_weight_gradient():
    conv, group, inputs, ctx = setup()
    criterion = make("grad-batch-mean-abs")
    criterion.prepare(ctx)
    per_batch = torch.stack([x.sum().abs() for x in inputs])
    expected = C.abs() * per_batch.mean()
    torch.testing.assert_close(criterion.score(group).float(), expected)
    assert criterion.select(group, 1).tolist() == [2]


def signed_setup():
    """z_j = w_j x with w = (1, 0.5) and one batch of two samples, x = +1 and -1. The loss
    L(x) = z_0 + z_1^2 / 2 gives dL/dw_0 = x (its sign flips between the samples) and
    dL/dw_1 = w_1 x^2 = 0.5 (it does not)."""
    conv = pointwise_conv([[1.0], [0.5]])
    group = ChannelGroup("conv", conv)
    loss = lambda model, batch: (lambda z: (z[:, 0] + z[:, 1] ** 2 / 2).sum())(  # noqa: E731
        model(batch[0]))
    ctx = context(conv, [group], [torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)], loss=loss)
    return group, ctx


def check_signed(name: str, scores: list[float], kept: list[int]) -> None:
    """`name` on the signed setup: its scores, the one filter it keeps, no gradient left."""
    group, ctx = signed_setup()
    criterion = make(name)
    criterion.prepare(ctx)
    torch.testing.assert_close(criterion.score(group).float(), torch.tensor(scores))
    assert criterion.select(group, 1).tolist() == kept
    assert group.conv.weight.grad is None


def test_grad_mean_abs_is_eq_13_the_mean_over_samples_of_each_samples_gradient():
    """Eq. 13, E_x[|dC(x)/dW|]: filter 0 scores (|1| + |-1|) / 2 = 1 and filter 1 0.5, so
    filter 0 is kept. The batch form sees filter 0's two gradients cancel (|1 - 1| = 0, filter
    1: 0.5 + 0.5 = 1) and keeps the other filter."""
    check_signed("grad-mean-abs", [1.0, 0.5], [0])
    check_signed("grad-batch-mean-abs", [0.0, 1.0], [1])


def test_obd_hessian_is_half_the_fisher_diagonal_times_the_squared_weights():
    """With the signed setup, per-sample gradients are dL/dw_0 = x, dL/dw_1 = w_1 x^2: the
    Fisher diagonal is E[x^2] = 1 and E[w_1^2 x^4] = 0.25, so the saliencies are
    1 * 1^2 / 2 = 0.5 and 0.25 * 0.5^2 / 2 = 0.03125."""
    check_signed("obd-hessian", [0.5, 0.03125], [0])


def test_obd_c_is_the_true_fisher_diagonal_of_weights_and_bias_times_their_squares():
    """A 1x1 conv whose three outputs are the logits, z_k = w_k x + b_k. For a label drawn from
    the softmax p, E_y[(dCE/dz_k)^2] = p_k (1 - p_k), so the true Fisher's diagonal is
    E_x[p_k (1 - p_k) x^2] for w_k and E_x[p_k (1 - p_k)] for b_k: C-OBD's score is their sum
    weighted by w_k^2 and b_k^2. With 3 classes obd-c takes that expectation exactly (to
    rounding); one sampled label per sample (`fisher="sampled"`, or more classes than
    `exact_classes`) puts it within 20% over 3000 samples (12% here). The empirical Fisher
    (the data's labels, all 0 here) gives another answer, (p_0 - 1)^2 for filter 0."""
    torch.manual_seed(0)
    conv = pointwise_conv([[1.0], [-2.0], [0.5]], bias=[0.5, 0.0, -1.0])
    net = torch.nn.Sequential(conv, torch.nn.Flatten())
    group = ChannelGroup("0", conv)
    inputs = [torch.randn(1000, 1, 1, 1) for _ in range(3)]
    x = torch.cat(inputs).flatten()
    p = torch.softmax(net(torch.cat(inputs)).detach().double(), dim=1)
    w, b = conv.weight.detach().double().flatten(), conv.bias.detach().double()
    variance = p * (1 - p)
    expected = (variance * x.double()[:, None] ** 2).mean(0) * w**2 + variance.mean(0) * b**2
    criterion = make("obd-c")  # 3 classes: the expectation over them, exactly
    criterion.prepare(context(net, [group], inputs))
    torch.testing.assert_close(criterion.score(group), expected)
    assert criterion.select(group, 1).tolist() == [1]
    assert conv.weight.grad is None
    sampled = make_with("obd-c", fisher="sampled")  # one drawn label per sample
    sampled.prepare(context(net, [group], inputs))
    torch.testing.assert_close(sampled.score(group), expected, rtol=0.2, atol=0)
    assert not torch.allclose(sampled.score(group), expected, rtol=1e-3)
    few = make_with("obd-c", exact_classes=2)  # more classes than that: sampled
    few.prepare(context(net, [group], inputs))
    torch.testing.assert_close(few.score(group), sampled.score(group))

    ce = lambda model, batch: torch.nn.functional.cross_entropy(model(batch[0]), batch[1])  # noqa: E731
    empirical = make_with("obd-c", fisher="empirical")
    empirical.prepare(context(net, [group], inputs, loss=ce))
    residual = p.clone()
    residual[:, 0] -= 1  # dCE/dz_k for the label 0
    expected = (residual**2 * x.double()[:, None] ** 2).mean(0) * w**2 \
        + (residual**2).mean(0) * b**2
    torch.testing.assert_close(empirical.score(group), expected)


def test_obd_c_refuses_a_model_without_class_logits():
    conv = pointwise_conv([[1.0], [2.0]])
    group = ChannelGroup("conv", conv)
    criterion = make("obd-c")
    with pytest.raises(NotApplicable, match="class logits"):
        criterion.prepare(context(conv, [group], [torch.ones(2, 1, 3, 3)]))
    with pytest.raises(ValueError, match="fisher must be one of"):
        make_with("obd-c", fisher="diagonal")
