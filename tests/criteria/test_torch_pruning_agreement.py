"""Each criterion Torch-Pruning also implements keeps the same filters as Torch-Pruning's
importance class on the same single layer: its group reduced to the pruned conv's own entry
(`group_reduction="first"`, no normaliser but the criterion's own), so both score the same
weights. FPGM is not here: Torch-Pruning's FPGMImportance ranks by |w|^p distances, a known
departure from He et al. (see docs/criteria.md)."""

import pytest
import torch
import torch_pruning as tp
from torch import nn

from prunebench.criterion import ChannelGroup, PruneContext
from tests.criteria.helpers import context, make, make_with

KEEP = 7


def network():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
                        nn.Conv2d(12, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    with torch.no_grad():
        net[1].weight.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def tp_group(net):
    graph = tp.DependencyGraph().build_dependency(net, example_inputs=torch.randn(1, 3, 8, 8))
    return graph.get_pruning_group(net[0], tp.prune_conv_out_channels, idxs=list(range(12)))


def top(scores) -> list[int]:
    order = torch.argsort(-scores.double(), stable=True)
    return sorted(order[:KEEP].tolist())


def ours(name, net, inputs=(), loss=None) -> list[int]:
    group = ChannelGroup("0", net[0], net[1])
    criterion = make(name)
    criterion.prepare(context(net, [group], list(inputs), loss=loss))
    return criterion.select(group, KEEP).tolist()


@pytest.mark.parametrize(("name", "importance"), [
    ("l1", tp.importance.MagnitudeImportance(p=1, group_reduction="first", normalizer=None,
                                             target_types=[nn.Conv2d])),
    ("l2", tp.importance.MagnitudeImportance(p=2, group_reduction="first", normalizer=None,
                                             target_types=[nn.Conv2d])),
    ("lamp", tp.importance.LAMPImportance(p=2, group_reduction="first")),
    ("bn-scale", tp.importance.BNScaleImportance(group_reduction="first", normalizer=None)),
])
def test_data_free_criteria_keep_what_torch_pruning_keeps(name, importance):
    net = network()
    if name == "lamp":  # LAMPImportance scores every layer type; keep the conv's entry alone
        importance.target_types = [nn.Conv2d]
    expected = top(importance(tp_group(net)))
    assert ours(name, net) == expected
    if name == "lamp":  # within a layer LAMP orders filters as their L2 norm does
        assert expected == ours("l2", net)


def test_obd_hessian_keeps_what_torch_pruning_keeps():
    """Torch-Pruning 1.6's GroupHessianImportance.accumulate_grad keys its sums by parameter but
    tests for the parameter's name, so each sample overwrites the last: on one sample both are
    w^2 * g^2 summed over the filter."""
    net = network()
    x, y = torch.randn(1, 3, 8, 8), torch.tensor([2])
    loss = lambda model, batch: nn.functional.cross_entropy(model(batch[0]), y)  # noqa: E731
    scorer = tp.importance.GroupHessianImportance(group_reduction="first", normalizer=None,
                                                  target_types=[nn.Conv2d])
    group = tp_group(net)
    net.zero_grad()
    loss(net, (x, y)).backward()
    scorer.accumulate_grad(net)
    expected = top(scorer(group))
    net.zero_grad(set_to_none=True)
    assert ours("obd-hessian", net, [x], loss) == expected


@pytest.mark.filterwarnings("ignore:Full backward hook")
@pytest.mark.parametrize("fisher", ["sampled", "empirical"])
def test_obd_c_keeps_what_torch_pruning_keeps(fisher):
    """OBDCImportance takes each sample's gradient from its hooks on one batch; it is given the
    labels obd-c uses: the data's, or those drawn from the softmax with the context's generator
    (seed 0), one sample after another. Its convs must have no bias (with one, Torch-Pruning
    1.6 multiplies a Fisher with a bias column by weights without it)."""
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 4)).eval()
    x, data_labels = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    generator = torch.Generator().manual_seed(0)
    labels = data_labels if fisher == "empirical" else torch.cat([
        torch.multinomial(torch.softmax(net(x[i:i + 1]).detach().double(), 1), 1,
                          generator=generator)[0] for i in range(len(x))])
    scorer = tp.importance.OBDCImportance(group_reduction="first", normalizer=None,
                                          target_types=[nn.Conv2d])
    scorer.modules = [net[0]]
    handles = [net[0].register_forward_pre_hook(scorer._save_input),
               net[0].register_full_backward_hook(scorer._save_grad_output)]
    nn.functional.cross_entropy(net(x), labels).backward()
    scorer.step()
    for handle in handles:
        handle.remove()
    expected = top(scorer(tp_group(net)))
    net.zero_grad(set_to_none=True)
    criterion = make_with("obd-c", fisher=fisher)
    group = ChannelGroup("0", net[0], net[1])
    loss = lambda model, batch: nn.functional.cross_entropy(model(batch[0]), batch[1])  # noqa: E731
    criterion.prepare(PruneContext(net, [group], loss, torch.Generator().manual_seed(0),
                                   torch.device("cpu"), lambda: iter([(x, data_labels)])))
    assert criterion.select(group, KEEP).tolist() == expected


def groups_of(net):
    return [ChannelGroup("0", net[0], net[1], ("3",)), ChannelGroup("3", net[3], net[4], ("8",))]


def test_group_norm_sl_keeps_what_torch_pruning_group_magnitude_keeps():
    """Over the whole coupled group (conv filter, BN scale, the next layer's input slice): the
    sum of squares Torch-Pruning's GroupMagnitudeImportance(p=2) sums over the group."""
    net = network()
    importance = tp.importance.GroupMagnitudeImportance(p=2, group_reduction="sum",
                                                        normalizer=None)
    expected = top(importance(tp_group(net)))
    criterion = make("group-norm-sl")
    groups = groups_of(net)
    criterion.prepare(context(net, groups, []))
    assert criterion.select(groups[0], KEEP).tolist() == expected


def test_group_norm_sl_penalty_pulls_as_torch_pruning_group_norm_pruner_regularises():
    """The penalty's gradient on every coupled parameter equals what GroupNormPruner.regularize
    (reg = lam, alpha = 2^4) adds to the gradients, for both groups of the net."""
    net = network()
    pruner = tp.pruner.GroupNormPruner(
        net, torch.randn(1, 3, 8, 8), tp.importance.GroupMagnitudeImportance(p=2), reg=1e-4,
        ignored_layers=[net[8]])
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    pruner.regularize(net)
    expected = {name: p.grad.clone() for name, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)
    criterion = make_with("group-norm-sl", lam=1e-4)
    ctx = context(net, groups_of(net), [])
    criterion.prepare(ctx)
    criterion.penalty(ctx).backward()
    for name, p in net.named_parameters():
        if name.endswith("bias"):  # neither regularises biases
            continue
        torch.testing.assert_close(p.grad, expected[name], msg=name)
