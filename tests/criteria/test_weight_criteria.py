"""fpgm, bn-scale and stability on hand-made weights."""

import json

import pytest
import torch
from torch import nn

from prunebench.criterion import ChannelGroup, NotApplicable, SparsityPhase
from prunebench_stability.stability import auxiliary_loss, importance_ratio
from tests.conftest import conv_group
from tests.criteria.helpers import context, make, make_with


def test_fpgm_drops_the_filter_at_the_geometric_median():
    # four points around the origin and the origin itself: the median is filter 4
    group = conv_group([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.0, 0.0]])
    criterion = make("fpgm")
    scores = criterion.score(group)
    assert scores[4] == 4.0
    torch.testing.assert_close(scores[0], torch.tensor(3.0 + 2 * 2 ** 0.5, dtype=torch.float64))
    assert criterion.select(group, 4).tolist() == [0, 1, 2, 3]


def test_bn_scale_follows_the_magnitude_of_gamma():
    conv = nn.Conv2d(1, 4, 1)
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -3.0, 0.1, 2.0]))
    assert make("bn-scale").select(ChannelGroup("c", conv, bn), 2).tolist() == [1, 3]


def test_bn_scale_without_batchnorm_is_not_applicable():
    with pytest.raises(NotApplicable, match="layer conv has no BatchNorm"):
        make("bn-scale").select(conv_group([[1.0], [2.0]]), 1)


def test_stability_auxiliary_loss_is_eq_1_by_hand():
    # |1 - 0.5| + |-1 - (-0.25)| + |1 - 0| + |1 - 2|
    assert auxiliary_loss(torch.tensor([0.5, -0.25, 0.0, 2.0])).item() == 3.25


def test_stability_penalty_pulls_values_towards_plus_minus_one():
    group = conv_group([[0.5, -0.5, 1.5, -1.5]])
    criterion = make("stability")
    ctx = context(group.conv, [group], [])
    criterion.prepare(ctx)
    criterion.penalty(ctx).backward()
    lam = criterion.lam
    # descent moves 0.5 up, -0.5 down, 1.5 down, -1.5 up: towards +1 / -1
    assert group.conv.weight.grad.flatten().tolist() == pytest.approx([-lam, lam, lam, -lam])


def test_stability_ratio_is_eq_3_by_hand():
    before = torch.tensor([[1.0, -1.0], [0.5, 0.5]])
    after = torch.tensor([[1.5, -1.5], [0.5, 0.6]])
    torch.testing.assert_close(importance_ratio(before, after),
                               torch.tensor([1.5, 1.1], dtype=torch.float64))
    group = conv_group(before.tolist())
    criterion = make("stability")
    criterion.prepare(context(group.conv, [group], []))
    with torch.no_grad():  # what the sparsity epochs would have done
        group.conv.weight.copy_(after[:, :, None, None])
    # filter 0 yielded more to the auxiliary loss (ratio 1.5 > 1.1): it is the one pruned
    assert criterion.select(group, 1).tolist() == [1]
    assert criterion.report() == {"lambda": 1e-5, "sparsity_epochs": 1.0}


def test_stability_ratio_keeps_changes_below_float32_rounding():
    """Filter 0 moved one float32 ulp on one of 1000 weights, filter 1 not at all. A float32 sum
    of 1000 ones cannot hold the ulp (its own ulp is 6e-5): both ratios would be exactly 1 and
    the tie would keep filter 0. In float64 filter 0's ratio is above 1: it yielded, it goes."""
    before = torch.ones(2, 1000)
    after = before.clone()
    after[0, 0] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    assert after.sum(1)[0] == after.sum(1)[1]  # what float32 sees
    ratio = importance_ratio(before, after)
    assert ratio.dtype == torch.float64 and ratio[0] > ratio[1] == 1.0
    group = conv_group(before.tolist())
    criterion = make("stability")
    criterion.prepare(context(group.conv, [group], []))
    with torch.no_grad():
        group.conv.weight.copy_(after[:, :, None, None])
    assert criterion.select(group, 1).tolist() == [1]


def test_lamp_is_eq_2_by_hand():
    """Squared norms 4, 1, 9, 4 sorted ascending: 1, 4 (filter 0), 4 (filter 3), 9. LAMP:
    1/18, 4/17, 4/13, 9/9."""
    from prunebench_classic.saliency import lamp_scores

    scores = lamp_scores(torch.tensor([4.0, 1.0, 9.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(scores, torch.tensor([4 / 17, 1 / 18, 1.0, 4 / 13],
                                                    dtype=torch.float64))
    group = conv_group([[2.0, 0.0], [1.0, 0.0], [-3.0, 0.0], [0.0, 2.0]])
    assert make("lamp").select(group, 2).tolist() == [2, 3]


def test_slimming_penalises_bn_scales_and_needs_batchnorm():
    group = conv_group([[1.0], [1.0], [1.0]])
    group = ChannelGroup(group.name, group.conv, nn.BatchNorm2d(3))
    with torch.no_grad():
        group.bn.weight.copy_(torch.tensor([0.5, -2.0, 0.1]))
    criterion = make_with("slimming", lam=1e-4, epochs=1.0)
    ctx = context(group.conv, [group], [])
    criterion.prepare(ctx)
    criterion.penalty(ctx).backward()
    lam = criterion.lam
    assert lam == 1e-4 and criterion.sparsity_epochs == 1.0
    assert group.bn.weight.grad.tolist() == pytest.approx([lam, -lam, lam])  # d|g|/dg = sign
    assert group.conv.weight.grad is None
    assert criterion.select(group, 2).tolist() == [0, 1]
    bare = conv_group([[1.0], [2.0]])
    with pytest.raises(NotApplicable, match="no BatchNorm"):
        make("slimming").prepare(context(bare.conv, [bare], []))


def test_group_lasso_penalty_is_the_sum_of_filter_norms():
    group = conv_group([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    criterion = make_with("group-lasso", lam=1e-4)
    ctx = context(group.conv, [group], [])
    penalty = criterion.penalty(ctx)
    assert penalty.item() == pytest.approx(1e-4 * (5 + 1 + 1))
    penalty.backward()  # d||w||/dw = w / ||w||
    assert group.conv.weight.grad.flatten().tolist() == pytest.approx(
        [1e-4 * v for v in (0.6, 0.8, 0.0, 1.0, 1.0, 0.0)])
    assert criterion.select(group, 1).tolist() == [0]
    # L2 and L1 disagree here: [3, 0] has the larger L2 norm (3 > 2.83), [2, 2] the larger L1
    assert criterion.select(conv_group([[3.0, 0.0], [2.0, 2.0]]), 1).tolist() == [0]


def test_lamp_allocates_by_its_own_scores_across_layers():
    """LAMP's scores are comparable across layers (Lee et al., sec. 3), so a global target takes
    one threshold on them, not the harness's mean normalisation. Layer A has 2 equal filters
    (LAMP 1/2, 1), layer B 10 (1/10, 1/9, ..., 1/2, 1); MACs = filters kept; remove 6: the six
    lowest raw scores are all B's (1/10 ... 1/5), widths (2, 4). Normalised by the layer means
    (0.75 and 0.293), A's 1/2 (0.67) would come before B's 1/5 (0.68): widths (1, 5)."""
    from prunebench.harness.cells.allocate import step_allocation

    a = conv_group([[1.0]] * 2, name="a")
    b = conv_group([[1.0]] * 10, name="b")
    criterion = make("lamp")
    chosen = step_allocation("lamp", criterion, context(a.conv, [a, b], []),
                             lambda widths: sum(widths), 12, 2.0, (1, 1), 1, 1)
    assert chosen.widths == (2, 4) and chosen.own


def test_growing_reg_fixes_the_l1_smallest_and_penalises_them_more_and_more():
    """Filters by L1: 7, 1, 3, 0.5. Keeping 2 fixes {1, 3} for removal before the sparsity
    epoch; only they are penalised, with lam = delta per `interval` iterations, capped."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0], [1.0, 2.0], [0.5, 0.0]])
    criterion = make_with("growing-reg", delta=0.1, interval=2, ceiling=0.25)
    ctx = context(group.conv, [group], [])
    ctx.widths = {group.name: 2}
    criterion.prepare(ctx)
    lams = []
    for _ in range(7):
        group.conv.weight.grad = None
        criterion.penalty(ctx).backward()
        lams.append(criterion.lam)
    assert lams == pytest.approx([0, 0, 0.1, 0.1, 0.2, 0.2, 0.25])
    grad = group.conv.weight.grad.view(4, 2)  # d(lam/2 ||w||^2)/dw = lam w on the removed
    torch.testing.assert_close(grad, 0.25 * torch.tensor([[0, 0], [0, 1.0], [0, 0], [0.5, 0]]))
    assert criterion.select(group, 2).tolist() == [0, 2]
    assert criterion.report()["lambda_reached"] == 0.25
    with pytest.raises(ValueError, match="sparsity epochs were run for 2"):
        criterion.select(group, 3)
    ctx.widths = {}
    with pytest.raises(NotApplicable, match="no width is fixed"):
        criterion.prepare(ctx)


PHASE = SparsityPhase(lr=1e-2, momentum=0.5, iterations_per_epoch=250)  # step 0.02


def test_default_phase_runs_whole_epochs_of_at_least_500_iterations_and_settings_replace_it():
    """250 iterations an epoch: 2 epochs reach 500; 7 iterations: 72 (504), unless the budget
    fine-tunes 3 epochs per step (at most 8 x 3 = 24) or 0.1 (at least one); a setting wins."""
    group = conv_group([[1.0], [2.0]])
    for per_epoch, finetune, epochs, given in ((250, 1, 2.0, 0.0), (7, 10, 72.0, 0.0),
                                               (7, 3, 24.0, 0.0), (7, 0.1, 1.0, 0.0),
                                               (250, 1, 0.5, 0.5)):
        criterion = make_with("group-lasso", epochs=given)
        ctx = context(group.conv, [group], [])
        ctx.sparsity = SparsityPhase(1e-2, 0.5, per_epoch, finetune)
        criterion.prepare(ctx)
        assert criterion.sparsity_epochs == epochs


def test_l1_rule_moves_the_median_score_to_zero_over_the_phase():
    """|gamma| = 0.5, 2, 0.1: median 0.5. The phase: step 0.02, 2 epochs of 250 iterations.
    lambda = 0.5 / (0.02 x 500) = 0.05; group lasso's norms 5, 1, 1: 1 / 10 = 0.1."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    bn_group = ChannelGroup(group.name, group.conv, nn.BatchNorm2d(3))
    with torch.no_grad():
        bn_group.bn.weight.copy_(torch.tensor([0.5, -2.0, 0.1]))
    for name, g, lam in (("slimming", bn_group, 0.05), ("group-lasso", group, 0.1)):
        criterion = make(name)
        ctx = context(g.conv, [g], [])
        ctx.sparsity = PHASE
        criterion.prepare(ctx)
        assert criterion.lam == pytest.approx(lam)
        assert criterion.report()["steps"][0]["lambda"] == pytest.approx(lam)
        assert make_with(name, lam=0.3).lam == 0.3


def test_group_norm_sl_l2_rule_shrinks_the_most_pushed_group_e4_fold():
    """gamma_max = 2^4 = 16: lambda = 4 / (16 x 0.02 x 500) = 0.025."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0]])
    criterion = make("group-norm-sl")
    ctx = context(group.conv, [group], [])
    ctx.sparsity = PHASE
    criterion.prepare(ctx)
    assert criterion.lam == pytest.approx(0.025)


def test_growing_reg_rule_reaches_the_ceiling_halfway_through_the_phase():
    """500 iterations, interval 10, ceiling 1: delta = 10 / 250 = 0.04; lambda reaches 1 at
    iteration 250 and holds."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0]])
    criterion = make("growing-reg")
    ctx = context(group.conv, [group], [])
    ctx.sparsity, ctx.widths = PHASE, {group.name: 1}
    criterion.prepare(ctx)
    assert criterion.delta == pytest.approx(0.04)
    lams = []
    for _ in range(500):
        criterion.penalty(ctx)
        lams.append(criterion.lam)
    assert lams[249] < 1.0 and lams[250] == 1.0 == lams[-1]


def test_penalised_report_says_what_the_phase_changed():
    """Norms 5, 1, 1.2 before the phase; the phase moves filter 2 to 0.1 and filter 1 to 2:
    the unpenalised rule would keep {0, 2}, the penalised keeps {0, 1}. The removed filter's
    share of the norm mass: 1.2 / 7.2 before, 0.1 / 7.1 after."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0], [1.2, 0.0]])
    criterion = make_with("group-lasso", lam=1e-4)
    ctx = context(group.conv, [group], [])
    criterion.prepare(ctx)
    with torch.no_grad():
        moved = torch.tensor([[3.0, 4.0], [0.0, 2.0], [0.1, 0.0]])
        group.conv.weight.copy_(moved[:, :, None, None])
    assert criterion.select(group, 2).tolist() == [0, 1]
    layer = criterion.report()["steps"][0]["layers"][group.name]
    assert layer["kept_as_unpenalised"] == 1 and layer["kept"] == 2
    assert layer["removed_share_before"] == pytest.approx(1.2 / 7.2)
    assert layer["removed_share_after"] == pytest.approx(0.1 / 7.1)


def test_growing_reg_pulls_the_removed_filters_bias_and_batchnorm_to_zero_too():
    """Filter 1 (L1 1) is removed: lam * p on its weight, bias, BN scale and shift; filter 0's
    parameters get nothing."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0]])
    conv = nn.Conv2d(2, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(group.conv.weight)
        conv.bias.copy_(torch.tensor([0.5, -0.25]))
    bn = nn.BatchNorm2d(2)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0]))
        bn.bias.copy_(torch.tensor([0.1, 0.3]))
    group = ChannelGroup(group.name, conv, bn)
    criterion = make_with("growing-reg", delta=0.5, interval=1, ceiling=0.5)
    ctx = context(conv, [group], [])
    ctx.widths = {group.name: 1}
    criterion.prepare(ctx)
    criterion.penalty(ctx)  # iteration 0: lam 0
    criterion.penalty(ctx).backward()
    assert criterion.lam == 0.5
    assert conv.weight.grad.flatten().tolist() == pytest.approx([0, 0, 0, 0.5])
    assert conv.bias.grad.tolist() == pytest.approx([0, -0.125])
    assert bn.weight.grad.tolist() == pytest.approx([0, 1.0])
    assert bn.bias.grad.tolist() == pytest.approx([0, 0.15])


def test_group_norm_sl_scores_the_whole_coupled_group():
    """Channel k's group: its conv filter, its BN scale and the next conv's input slice k. The
    filters alone rank 0 > 1 > 2; the BN and the consumer turn it round."""
    first = nn.Conv2d(1, 3, 1, bias=False)
    bn, after = nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1, bias=False)
    net = nn.Sequential(first, bn, after)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([3.0, 2.0, 1.0]).view(3, 1, 1, 1))
        bn.weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
        after.weight.copy_(torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]).view(2, 3, 1, 1))
    group = ChannelGroup("0", first, bn, ("2",))
    criterion = make("group-norm-sl")
    criterion.prepare(context(net, [group], []))
    squares = torch.tensor([9.0 + 0 + 0, 4 + 1 + 2, 1 + 4 + 8], dtype=torch.float64)
    torch.testing.assert_close(criterion.score(group), squares.sqrt())
    assert criterion.select(group, 1).tolist() == [2]


def test_a_resumed_cell_holds_the_lambda_its_first_step_chose():
    """Step 1 sets lambda from the median (0.1, as above); step 2's filters have shrunk. An
    uninterrupted criterion keeps 0.1; a new one restored from step 1's state() does too,
    where a fresh one would choose again from the shrunk median."""
    group = conv_group([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    first = make("group-lasso")
    ctx = context(group.conv, [group], [])
    ctx.sparsity = PHASE
    first.prepare(ctx)
    first.select(group, 2)
    saved = json.loads(json.dumps(first.state()))
    with torch.no_grad():
        group.conv.weight.mul_(0.1)
    first.prepare(ctx)
    resumed = make("group-lasso")
    resumed.restore(saved)
    resumed.prepare(ctx)
    fresh = make("group-lasso")
    fresh.prepare(ctx)
    assert first.lam == resumed.lam == pytest.approx(0.1) != pytest.approx(fresh.lam)
    assert resumed.report()["steps"][0] == first.report()["steps"][0]
