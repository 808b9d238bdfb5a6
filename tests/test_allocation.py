"""Global allocation (the second track): known answers on a two-layer net, the MACs target met
through the real surgery on VGG-16 and ResNet-50, the uniform allocation, and `--target macs-Fx`
through `prunebench run`."""

import json

import pytest
import torch
from torch import nn

from prunebench import scenarios
from prunebench.cli import main
from prunebench.cli.options import make_plan
from prunebench.criterion import ChannelGroup, ScoreCriterion
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.harness import allocation
from prunebench.harness.cells.allocate import _own
from prunebench.harness.matrix import uniform_widths
from prunebench.models import surgery
from prunebench.results.store import read_results
from tests.criteria.helpers import context


def two_layers():
    return nn.Sequential(nn.Conv2d(3, 10, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(10, 20, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(20, 4))


MACS = allocation.macs_counter(two_layers, ["0", "2"], (3, 8, 8))


def test_a_layer_whose_filters_all_score_low_loses_them_first_down_to_its_floor():
    """Scores are normalised by their layer's mean, so a layer loses filters first when they
    score low against its own mean: layer 0 scores 1 (x9) and 100, normalised ~0.11 and ~10.9,
    below every filter of layer 1 (100..119, normalised 0.84..1.16). Its nine low filters go
    first, down to its floor of 1 (10% of 10), and only then layer 1's."""
    scores = [torch.tensor([1.0] * 9 + [100.0]), torch.arange(100.0, 120.0)]
    full = MACS((10, 20))
    light = allocation.allocate(scores, MACS, round(full * 0.8))
    assert light.widths[1] == 20 and light.widths[0] < 10
    deep = allocation.allocate(scores, MACS, full // 12)
    assert deep.widths == (1, 16) and deep.at_floor == (0,)  # 1728 + 580 * 16 = 11008 MACs
    assert abs(deep.gap) <= 0.01


def test_widths_more_than_1_percent_off_are_settled_by_the_fewest_filters_moved():
    """MACs of the two-layer net at widths (a, b): 1728a + 576ab + 4b. For a target of 38,048
    the threshold's (5, 10) gives 37,480 (-1.5%); no move of one or two filters lands within 1%
    ((5, 11) 40,364; (4, 12) 34,608; (6, 9) 41,508 ...), three do: (6, 8) is 38,048 exactly."""
    settled = allocation.settle((5, 10), MACS, 38_048, (1, 2), (10, 20))
    assert (settled.widths, settled.macs, settled.moved) == ((6, 8), 38_048, 3)
    kept = allocation.settle((5, 10), MACS, 37_480, (1, 2), (10, 20))
    assert (kept.widths, kept.moved) == ((5, 10), 0)
    # the ceiling (each layer's width now) bounds the moves: from (5, 10) under a ceiling of
    # (5, 10) only removals are left, and (5, 9) is the one within 1% of 34,596
    assert allocation.settle((5, 10), MACS, 34_700, (1, 2), (5, 10)).widths == (5, 9)


def test_identical_scores_in_every_layer_give_the_uniform_allocation():
    """Every layer scoring its filters 1..n alike: normalised, the same spread in each layer, so
    the threshold removes the same fraction of each, within a filter of rounding per layer (on
    VGG-16, where one filter is well under 1% of the MACs and nothing needs settling)."""
    scenario = scenarios.get("vgg16-cifar10")
    macs_of = allocation.scenario_macs(scenario)
    full = tuple(surgery.widths(scenario.model(), scenario.groups))
    target = macs_of(full) // 2
    scores = [torch.arange(1.0, n + 1.0) for n in full]
    result = allocation.allocate(scores, macs_of, target)
    assert result.widths == allocation.allocate(allocation.uniform_scores(full), macs_of,
                                                target).widths
    assert result.moved == 0 and abs(result.gap) <= 0.01
    kept = [w / n for w, n in zip(result.widths, full)]
    for i in range(len(full)):
        for j in range(len(full)):
            assert abs(kept[i] - kept[j]) <= 1 / full[i] + 1 / full[j]


def test_floors_that_cannot_reach_the_target_are_refused():
    scores = [torch.arange(1.0, 11.0), torch.arange(1.0, 21.0)]
    with pytest.raises(PrunebenchError, match="floors leave .* ask for a smaller reduction"):
        allocation.allocate(scores, MACS, MACS((10, 20)) // 1000)


@pytest.mark.parametrize("row", ["lenet5-digits", "vgg16-cifar10", "resnet50-imagenet"])
def test_a_classifiers_macs_counted_on_the_meta_device_are_its_real_count(row):
    """The bisection counts a classifier's MACs from shapes alone: the same numbers as cutting
    and running the real model, unpruned and at uneven widths."""
    scenario = scenarios.get(row)
    assert scenario.task.macs_from_shapes
    full = tuple(surgery.widths(scenario.model(), scenario.groups))
    uneven = tuple(max(1, w * 3 // 7) for w in full)
    real = allocation.macs_counter(scenario.model, scenario.groups, scenario.input_shape,
                                   scenario.prune_root, scenario.measure_root)
    from_shapes = allocation.scenario_macs(scenario)
    assert [from_shapes(w) for w in (full, uneven)] == [real(w) for w in (full, uneven)]
    assert real(uneven) < real(full)  # the cut is real


@pytest.mark.slow
@pytest.mark.parametrize("row", ["vgg16-cifar10", "resnet50-imagenet"])
def test_the_bisection_meets_the_macs_target_at_2x_3x_4x(row):
    """L1 scores of the seeded model; every answer within 1% of the unpruned MACs / F, counted on
    the architecture the surgery makes (ResNet-50: the coupled bottleneck convs stay whole)."""
    scenario = scenarios.get(row)
    torch.manual_seed(0)
    model = scenario.model()
    groups = surgery.channel_groups(model, scenario.groups, torch.zeros(1, *scenario.input_shape),
                                    scenario.prune_root)
    scores = [g.conv.weight.detach().abs().flatten(1).sum(1) for g in groups]
    macs_of = allocation.scenario_macs(scenario)
    full = macs_of(tuple(g.n_filters for g in groups))
    for factor in (2, 3, 4):
        result = allocation.allocate(scores, macs_of, round(full / factor))
        assert abs(result.gap) <= 0.01
        assert all(w >= f for w, f in zip(result.widths, allocation.floors(
            [g.n_filters for g in groups])))


@pytest.mark.slow
def test_a_global_target_runs_every_scoring_criterion_and_says_what_widths_it_chose(tmp_path,
                                                                                   capsys):
    """`--target macs-2x,macs-4x` on lenet5-digits: l1 and lamp choose their own widths (each
    layer at least its floor), their MACs within 1% of the target (settled: one conv2 filter is
    3.5% of half LeNet-5's MACs); kmeans-raw only selects, so it is not applicable;
    the controls `uniform (l1)`, `scratch-e` and `scratch-b` share the widths one ratio gives
    (`unpruned-ft` keeps every filter, once per seed); records
    keep the reduction and the floor, and the board lists the widths."""
    assert main(["run", "--scenario", "lenet5-digits", "--target", "macs-2x,macs-4x", "--budget",
                 "smoke", "--seeds", "0", "--criteria", "l1,lamp,kmeans-raw", "--results",
                 str(tmp_path)]) == 0
    records = read_results(tmp_path)
    assert sorted(r.label for r in records) == sorted(
        ["l1", "lamp", "kmeans-raw", "uniform (l1)", "scratch-e", "scratch-b"] * 2
        + ["unpruned-ft"])
    plan = make_plan(scenario="lenet5-digits", budget="smoke")
    for r in records:
        if r.label == "unpruned-ft":
            assert r.macs_reduction is None and r.measured.pruned_widths == (20, 50)
            continue
        assert r.macs_reduction in (2.0, 4.0) and r.floor == allocation.FLOOR
        if r.criterion.name == "kmeans-raw":
            assert r.status == "not-applicable" and "global allocation" in (r.error or "")
            continue
        m = r.measured
        assert m is not None and m.pruned_widths >= (2, 5)  # the floors of 20 and 50 filters
        assert abs(m.pruned.macs * r.macs_reduction / m.baseline.macs - 1) <= 0.01
        if r.label in ("uniform (l1)", "scratch-e", "scratch-b"):
            assert r.widths == m.pruned_widths == uniform_widths(plan, (20, 50), r.macs_reduction)
        else:
            assert r.widths == ()
    board = (tmp_path / "leaderboards" / "lenet5-digits.md").read_text()
    assert "MACs / 4, widths chosen by each criterion's scores" in board
    assert "`lamp` seed 0 (**its own allocation**):" in board  # LAMP's global threshold
    assert "`l1` seed 0:" in board and "| uniform (l1) |" in board
    assert "(lenet5-digits-macs-4x-smoke-kept-per-layer.png)" in board
    assert (tmp_path / "leaderboards" / "lenet5-digits-macs-4x-smoke-kept-per-layer.png").exists()
    # `prunebench flops --result` measures the architecture a row's criterion chose
    lamp = next(r for r in records if r.label == "lamp" and r.macs_reduction == 2.0)
    capsys.readouterr()
    assert main(["flops", "--json", "--result", str(next(
        (tmp_path / "lenet5-digits").glob(f"lamp--*{lamp.config_hash}*.json")))]) == 0
    size = json.loads(capsys.readouterr().out)
    assert lamp.measured is not None
    assert tuple(size["widths"]) == lamp.measured.pruned_widths
    assert size["macs"] == lamp.measured.pruned.macs


def test_a_reduction_the_floors_cannot_reach_is_refused_before_any_work(tmp_path, capsys):
    assert main(["run", "--scenario", "lenet5-digits", "--macs-reduction", "40", "--results",
                 str(tmp_path)]) == 2
    assert "ask for at most macs-25.5x" in capsys.readouterr().err
    assert main(["run", "--macs-reduction", "0.5", "--results", str(tmp_path)]) == 2
    assert "must be more than 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    # the size and speed commands measure fixed widths: a global target has none of its own
    assert main(["flops", "--target", "macs-2x"]) == 2
    assert "has no widths of its own" in capsys.readouterr().err


class Allocating(ScoreCriterion):
    def __init__(self, answer):
        self.answer = answer

    def score(self, group):
        return torch.arange(float(group.n_filters))

    def allocate(self, ctx, macs_of, target_macs, floors):
        return self.answer


def own(answer, target):
    net = two_layers()
    groups = [ChannelGroup("0", net[0], None, ("2",)), ChannelGroup("2", net[2], None, ("6",))]
    return _own("mine", Allocating(answer), context(net, groups, []), MACS, target, (1, 2))


def test_a_criterions_own_allocation_is_checked_against_the_budget_and_the_floors():
    full = MACS((10, 20))
    chosen = own([6, 16], full // 2)  # 65,728 MACs, 0.8% under 66,280
    assert chosen is not None and chosen.own and (chosen.widths, chosen.moved) == ((6, 16), 0)
    settled = own([5, 10], 38_048)  # 1.5% under: settled as the harness's widths are
    assert settled is not None and settled.own and (settled.widths, settled.moved) == ((6, 8), 3)
    assert own(None, full) is None  # the harness's rule then
    for answer, message in (([5], "one integer width per layer"),
                            ([5.5, 10], "one integer width per layer"),
                            ([0, 10], "0 widths outside their floor"),
                            ([5, 21], "2 widths outside"),
                            ([10, 20], "more than 1% over the target")):
        with pytest.raises(CriterionError, match=message):
            own(answer, full // 2)


def test_raw_scores_are_compared_across_layers_as_they_are():
    """Without the mean normalisation layer 0's scores (1..10) all lie below layer 1's
    (100..119): it goes to its floor first; with it the two layers lose filters alike."""
    scores = [torch.arange(1.0, 11.0), torch.arange(100.0, 120.0)]
    raw = allocation.allocate(scores, MACS, MACS((10, 20)) // 12, by_mean=False)
    assert raw.widths[0] == 1 and raw.at_floor == (0,)
    shared = allocation.allocate(scores, MACS, MACS((10, 20)) // 12)
    assert shared.widths[0] > 1
