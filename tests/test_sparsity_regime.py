"""The sparsity criteria reach their papers' regime within their phase (issue 37): the penalty
changes what is kept, and growing-reg drives what it removes to zero before removing it. Cells
of the `quick` budget of LeNet-5 with a BatchNorm after each conv (what slimming needs) on the
bundled digits, pruned in one step to the widths of `paper`'s first step; the `paper` run of the
same checks on Fashion-MNIST is in docs/criteria.md, "Sparsity criteria"
(`benchmarks/sparsity_regime.py`).
A baseline barely trained (the `smoke` budget, or random data) has filters of near-equal norms
that a penalty reorders at will: no test of a regime."""

from dataclasses import replace

import pytest

from prunebench import scenarios
from prunebench.harness.plan import RunPlan
from prunebench.harness.runner import RunOptions, run_matrix
from prunebench.models.lenet5 import LeNet5BN
from prunebench.protocol.config import CriterionSpec, Target
from prunebench.results.store import read_result
from prunebench.scenarios.base import ignoring_size

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

#: the widths after the first of `paper`'s four steps to prun1: a fifth of the filters removed
FIRST_STEP = Target("first-step", widths=(16, 41))


def compute(folder):
    scenario = replace(scenarios.registry()["lenet5-digits"], name="lenet5bn-digits",
                       build_model=ignoring_size(LeNet5BN))
    budget = replace(scenario.budget("quick"), seeds=(0,))
    specs = tuple(CriterionSpec(name) for name in
                  ("slimming", "group-lasso", "group-norm-sl", "growing-reg"))
    plan = RunPlan(scenario, specs, (FIRST_STEP,), (0,), budget, controls=())
    assert all(r.ok for r in run_matrix(plan, RunOptions(folder)).records)


@pytest.fixture(scope="session")
def records(shared_once):
    folder = shared_once("sparsity-regime", compute)
    return {r.criterion.name: r for r in map(read_result, (folder / "lenet5bn-digits").glob(
        "*.json"))}


def phase(record):
    assert record.ok, record.error
    (step,) = record.measured.criterion_report["steps"]
    # 45 iterations an epoch: 12 would make 500, but `quick` fine-tunes 1 epoch a step: 8
    assert record.measured.cost.sparsity_epochs == step["epochs"] == 8
    return step


# the first to need `records` runs early (marked longest) and computes them; the others keep
# their place, late, so that no worker waits for them
@pytest.mark.parametrize("name", [pytest.param("slimming", marks=pytest.mark.longest),
                                  "group-lasso", "group-norm-sl"])
def test_the_penalty_empties_what_is_removed(records, name):
    for layer in phase(records[name])["layers"].values():
        assert layer["removed_share_after"] <= layer["removed_share_before"] / 2, layer


@pytest.mark.parametrize("name", ["slimming", "group-lasso"])
def test_the_l1_penalties_change_what_is_kept_in_every_layer(records, name):
    for layer in phase(records[name])["layers"].values():
        assert layer["kept_as_unpenalised"] < layer["kept"], layer


def test_group_norm_sl_sharpens_its_own_order_instead_of_changing_it(records):
    """Its gamma_k pushes hardest the groups already smallest: what it removes is what the
    group norm alone would remove (docs/criteria.md, "Sparsity criteria")."""
    for layer in phase(records["group-norm-sl"])["layers"].values():
        assert layer["kept_as_unpenalised"] == layer["kept"], layer


def test_growing_reg_reaches_its_ceiling_and_removes_what_it_drove_to_zero(records):
    record = records["growing-reg"]
    step = phase(record)
    assert record.measured.criterion_report["lambda_reached"] == 1.0
    for layer in step["layers"].values():
        assert layer["removed_share_after"] < 0.02, layer
    (entry,) = record.measured.history
    assert abs(entry.before_removal - entry.metrics["top1_before_finetune"]) <= 1.0, entry
