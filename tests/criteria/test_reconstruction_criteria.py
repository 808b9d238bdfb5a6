"""thinet and cp, and the rows of a consuming layer they work on, against hand computations;
through the harness their refit must lower each consuming layer's reconstruction error."""

import copy

import pytest
import torch
from torch import nn

from prunebench.cli import main
from prunebench.criteria import reconstruction
from prunebench.criterion import ChannelGroup, Criterion, LayerRows
from prunebench.errors import CriterionError
from prunebench.harness.cells.refit import refit_consumers
from prunebench.results.store import read_results
from prunebench_classic.reconstruct import greedy_removal, lasso_order
from tests.criteria.helpers import context


def network():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 5, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5 * 4 * 4, 3)).eval()


def test_rows_of_a_conv_and_of_a_linear_consumer_reproduce_the_layer():
    """The rows hold each channel's patch (conv: 3x3, stride 2, padding 1) or its flattened
    features (the linear after Flatten): with the layer's own weight they give its outputs
    less its bias exactly, at `locations` positions per image (all of them when fewer)."""
    net = network()
    groups = [ChannelGroup("0", net[0], net[1], ("3",)), ChannelGroup("3", net[3], None, ("6",))]
    ctx = context(net, groups, [torch.randn(4, 3, 8, 8), torch.randn(3, 3, 8, 8)])
    conv_rows = reconstruction.consumer_rows(ctx, groups[0], locations=10)
    assert conv_rows.inputs.shape == (7 * 10, 6, 9) and conv_rows.targets.shape == (70, 5)
    linear_rows = reconstruction.consumer_rows(ctx, groups[1], locations=10)
    assert linear_rows.inputs.shape == (7, 5, 16) and linear_rows.targets.shape == (7, 3)
    for rows in (conv_rows, linear_rows):
        assert rows.error() < 1e-10
        assert rows.error(torch.zeros_like(rows.weight)) == 1.0


def test_channel_gram_is_the_contributions_inner_products():
    torch.manual_seed(1)
    rows = LayerRows(torch.randn(20, 4, 3), torch.randn(20, 5), torch.randn(5, 4, 3))
    z = torch.einsum("rcb,ocb->roc", rows.inputs.double(), rows.weight.double()).reshape(-1, 4)
    gram, b = reconstruction.channel_gram(rows)
    torch.testing.assert_close(gram, z.T @ z)
    torch.testing.assert_close(b, z.T @ rows.targets.double().reshape(-1))


def test_least_squares_refits_a_layer_to_the_outputs_it_should_give():
    """Rows that determine the fit: the answer is the true weight, up to the ridge's pull
    towards the layer's weight now (zeros here), about 1e-3 of it."""
    torch.manual_seed(2)
    inputs, truth = torch.randn(50, 3, 2), torch.randn(4, 3, 2)
    targets = torch.einsum("rcb,ocb->ro", inputs, truth)
    rows = LayerRows(inputs, targets, torch.zeros(4, 3, 2))
    torch.testing.assert_close(reconstruction.least_squares(rows).float(), truth,
                               rtol=0, atol=1e-2)
    torch.testing.assert_close(reconstruction.least_squares(rows, ridge=0).float(), truth)


def test_least_squares_with_a_ridge_by_hand():
    """One input, one output: w = (sum x y + lambda w0) / (sum x^2 + lambda) with lambda =
    ridge x sum x^2 (the mean diagonal of a 1 x 1 X'X): x = (1, 2), y = (3, 4), w0 = 1 and
    ridge 0.5 give lambda 2.5 and w = (11 + 2.5) / (5 + 2.5) = 1.8."""
    rows = LayerRows(torch.tensor([[[1.0]], [[2.0]]]), torch.tensor([[3.0], [4.0]]),
                     torch.ones(1, 1, 1))
    assert reconstruction.least_squares(rows, ridge=0.5).item() == pytest.approx(1.8)


def test_least_squares_keeps_the_weight_the_rows_do_not_see():
    """Channel 1's input is zero on every row, so the rows say nothing about its weights: they
    stay what they were (the minimum-norm fit would zero them); channel 0 is fitted."""
    torch.manual_seed(4)
    inputs = torch.randn(40, 2, 3)
    inputs[:, 1] = 0
    truth, now = torch.randn(2, 2, 3), torch.randn(2, 2, 3)
    rows = LayerRows(inputs, torch.einsum("rcb,ocb->ro", inputs, truth), now)
    fitted = reconstruction.least_squares(rows).float()
    torch.testing.assert_close(fitted[:, 1], now[:, 1])
    torch.testing.assert_close(fitted[:, 0], truth[:, 0], rtol=0, atol=1e-2)


def test_thinet_greedily_removes_the_channels_whose_sum_changes_the_output_least():
    """Alone channel 1 adds least (1); with it removed, channel 2 adds 1.5 - 2 * 1 = -0.5, as
    the two nearly cancel, less than channel 0's 4: ThiNet removes 1, then 2."""
    gram = torch.tensor([[4.0, 0.0, 0.0], [0.0, 1.0, -1.0], [0.0, -1.0, 1.5]], dtype=torch.float64)
    assert greedy_removal(gram, 2) == [1, 2]
    assert greedy_removal(torch.eye(3, dtype=torch.float64), 2) == [0, 1]  # ties: lower index


def test_cp_lasso_keeps_the_channels_the_output_is_made_of():
    """y = 2 Z_0 + 0.5 Z_2: as the penalty grows the other channels' coefficients go first,
    then Z_2's (the smaller weight), and Z_0 is kept longest. Channel 4 is dead (Z_4 = 0, so
    the Gram matrix is singular) and comes last."""
    torch.manual_seed(3)
    z = torch.randn(200, 5, dtype=torch.float64)
    z[:, 4] = 0
    y = 2 * z[:, 0] + 0.5 * z[:, 2]
    order = lasso_order(z.T @ z, z.T @ y)
    assert order[:2] == [0, 2] and order[-1] == 4


def test_the_refit_lowers_every_consuming_layers_reconstruction_error(tmp_path):
    """Through the harness on lenet5-digits: each group's consuming layer (conv2, then fc1 after
    the flatten) is refitted; the step's history records the error before and after."""
    assert main(["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--seeds", "0",
                 "--criteria", "thinet,cp", "--no-scratch", "--results", str(tmp_path)]) == 0
    records = [r for r in read_results(tmp_path) if r.criterion.name in ("thinet", "cp")]
    assert len(records) == 2
    for record in records:
        assert record.measured is not None and record.measured.cost.refit_seconds
        errors = record.measured.history[0].refit_error
        assert set(errors) == {"conv1", "conv2"}
        for before, after in errors.values():
            assert after < before


class Refits(Criterion):
    refits = True

    def __init__(self, answer):
        self.answer = answer

    def select(self, group, n_keep):
        return torch.arange(n_keep)

    def refit(self, group, rows):
        return self.answer(group, rows)


def refit(answer):
    net = network()
    groups = [ChannelGroup("0", net[0], net[1], ("3",))]
    ctx = context(net, groups, [torch.randn(4, 3, 8, 8)])
    errors = refit_consumers("mine", Refits(answer), ctx, copy.deepcopy(net), {},
                             torch.Generator().manual_seed(0))
    return net, errors


def test_the_harness_writes_a_refit_and_records_its_error():
    net, errors = refit(lambda group, rows: torch.zeros_like(rows.weight))
    assert net[3].weight.abs().sum() == 0
    assert errors["0"][0] < 1e-10 and errors["0"][1] == 1.0  # the layer was exact, now nothing


@pytest.mark.parametrize(("answer", "message"), [
    (lambda group, rows: torch.zeros(3), r"refit\(\) on 0 returned \(3,\), expected a Tensor "
                                         r"of shape \(5, 6, 9\)"),
    (lambda group, rows: rows.weight * float("nan"), "NaN/inf weights"),
    (lambda group, rows: group.conv.weight.data.zero_(), "changed the model's 0.weight"),
])
def test_a_bad_refit_fails_with_what_is_wrong(answer, message):
    with pytest.raises(CriterionError, match=message):
        refit(answer)


def test_cp_keeps_the_first_channels_of_its_lasso_order_on_unit_norm_weights():
    """Input channel A is 2 on every position of image 1 and 0 on image 2, B is 1 on image 2
    only (disjoint, so orthogonal); the consumer is y = 1 x A + 3 x B. With each channel's
    consumer weights scaled to unit norm (CP eq. 1-3), A's column correlates with y by
    sum A^2 = 4 per row of image 1 against B's 1 x 3 = 3 per row of image 2, so the LASSO keeps
    A longest; without the scaling B's column 3B would win (9 against 4); keeping the order's
    last channel instead of its first would keep B too."""
    conv = nn.Conv2d(2, 2, 1, bias=False)
    consumer = nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2)[:, :, None, None])
        consumer.weight.copy_(torch.tensor([1.0, 3.0])[None, :, None, None])
    model = nn.Sequential(conv, nn.ReLU(), consumer).eval()
    image = torch.zeros(2, 2, 4, 4)
    image[0, 0], image[1, 1] = 2.0, 1.0
    group = ChannelGroup("0", conv, consumers=("2",))
    from tests.criteria.helpers import make

    criterion = make("cp")
    criterion.prepare(context(model, [group], [image]))
    assert criterion.select(group, 1).tolist() == [0]
