"""Every installed criterion, through the real harness, on LeNet-5 and on a small conv net with
BatchNorm: it answers n_keep unique in-range indices (the harness checks), reaches the target
widths, and is deterministic under a fixed seed. A new plugin is tested without a new test."""

import pytest
import torch
from torch import nn

from prunebench import plugins, scenarios
from prunebench.config import Budget, Target
from prunebench.data.arrays import ArrayData
from prunebench.plan import RunOptions, RunPlan
from prunebench.runner import run_matrix
from prunebench.scenarios.base import Scenario, ignoring_size
from prunebench.tasks import Classification

CRITERIA = sorted(plugins.discover())


class SmallBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(12 * 2 * 2, 4)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(x.flatten(1))


def _stripes(_root, _fetch, _size) -> ArrayData:
    """Class k lights up row pair k of an 8x8 RGB image."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 3, 8, 8, generator=g) * 0.2
    y = torch.arange(96) % 4
    for i, k in enumerate(y.tolist()):
        x[i, :, 2 * k: 2 * k + 2] += 1
    return ArrayData(x[:64], y[:64], x[64:], y[64:], 4, "synthetic stripes")


BUDGET = Budget("smoke", baseline_epochs=2, baseline_lr=0.05, finetune_epochs=1, finetune_lr=0.01,
                steps=2, batch_size=16, calibration_batches=2, seeds=(0,))
BN_SCENARIO = Scenario("small-bn", "small conv net with BatchNorm", ignoring_size(SmallBN), _stripes,
                       Classification(), ("conv1", "conv2"), (3, 8, 8),
                       {"t": Target("t", widths=(3, 5))},
                       {"smoke": BUDGET}, "t")
LENET = scenarios.get("lenet5-digits")
ROWS = {
    "lenet5": (LENET, LENET.target("prun1"), LENET.budget("smoke")),
    "small-bn": (BN_SCENARIO, BN_SCENARIO.target("t"), BUDGET),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("contract")  # baselines are trained once and shared


def run(row, criterion, results):
    scenario, target, budget = ROWS[row]
    plan = RunPlan(scenario, (criterion,), (target,), (0,), budget, scratch=False)
    return run_matrix(plan, RunOptions(results, force=True)).records[0]


@pytest.mark.parametrize("row", sorted(ROWS))
@pytest.mark.parametrize("criterion", CRITERIA)
def test_criterion_honours_the_contract(criterion, row, results):
    first = run(row, criterion, results)
    if first["status"] == "not-applicable":  # only allowed where a layer has no BatchNorm
        assert row == "lenet5" and "BatchNorm" in first["error"]
        return
    assert first["status"] == "ok", first["error"]
    scenario, target, _ = ROWS[row]
    assert first["widths"]["pruned"] == list(target.widths)
    for step in first["history"]:
        for layer, kept in step["kept"].items():
            assert kept == sorted(set(kept)) and len(kept) == step["widths"][scenario.groups.index(layer)]
    again = run(row, criterion, results)
    assert again["history"] == first["history"] and again["pruned"] == first["pruned"]
