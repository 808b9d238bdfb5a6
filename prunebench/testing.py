"""The contract kit for plugin authors: the checks prunebench runs over every criterion, for
yours, in your own test suite (and `check_scenario` for a scenario plugin's row).

    # tests/test_contract.py of your package (the fixture comes with prunebench)
    def test_contract(prunebench_contract):
        prunebench_contract("mean-weight")          # or ("stability", {"lam": 5e-6})

or, without pytest, `prunebench.testing.check_criterion("mean-weight")`. Each check runs the
real harness (baseline, prepare, sparsity epochs, select, surgery, fine-tuning) on two small
rows: LeNet-5 on the bundled digits, and a conv net with BatchNorm on synthetic stripes. It
asserts that the cells succeed (or that a criterion needing BatchNorm says it does not apply to
LeNet-5), reach the target widths, keep sorted unique in-range filters, give the same answer
twice under the same seed, and that `prepare` and `select` leave the model as they found it:
no weight, buffer, training mode or hook changed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from prunebench import scenarios
from prunebench.criteria import registry
from prunebench.data.arrays import ArrayData
from prunebench.harness.cells.checks import select_all
from prunebench.harness.cells.context import criterion_context
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.harness.runner import prepare, run_matrix
from prunebench.models import surgery
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget, CriterionSpec, Target
from prunebench.scenarios.base import Scenario, ignoring_size


class SmallBN(nn.Module):
    """Two conv + BatchNorm layers: what criteria that read BatchNorm need."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(12 * 2 * 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(x.flatten(1))


def stripes(_root: Path | None, _fetch: bool, _size: int | None) -> ArrayData:
    """Class k lights up row pair k of an 8x8 RGB image."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 3, 8, 8, generator=g) * 0.2
    y = torch.arange(96) % 4
    for i, k in enumerate(y.tolist()):
        x[i, :, 2 * k: 2 * k + 2] += 1
    return ArrayData(x[:64], y[:64], x[64:], y[64:], 4, "synthetic stripes")


BN_BUDGET = Budget("smoke", baseline_epochs=2, baseline_lr=0.05, finetune_epochs=1,
                   finetune_lr=0.01, steps=2, batch_size=16, calibration_batches=2, seeds=(0,))
SMALL_BN = Scenario("small-bn", "small conv net with BatchNorm", ignoring_size(SmallBN), stripes,
                    Classification(), ("conv1", "conv2"), (3, 8, 8),
                    {"t": Target("t", widths=(3, 5))}, {"smoke": BN_BUDGET}, "t")


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    target: Target
    budget: Budget


def rows() -> dict[str, Row]:
    lenet = scenarios.get("lenet5-digits")
    return {"lenet5": Row(lenet, lenet.target("prun1"), lenet.budget("smoke")),
            "small-bn": Row(SMALL_BN, SMALL_BN.target("t"), BN_BUDGET)}


def check_criterion(name: str, settings: dict | None = None, results: Path | None = None,
                    row: str | None = None) -> None:
    """Raise AssertionError naming the first broken promise of criterion `name` (installed, with
    `settings`) on every row (or on `row`); baselines go to `results` (a temporary folder)."""
    loaded = registry.load(name)
    spec = registry.bind_settings(loaded, tuple((k, str(v)) for k, v in (settings or {}).items()))
    with tempfile.TemporaryDirectory() as scratch:
        folder = results or Path(scratch)
        for key, chosen in rows().items():
            if row is None or row == key:
                _check_row(spec, loaded, chosen, folder, key)


def _check_row(spec: CriterionSpec, loaded: registry.LoadedCriterion, row: Row, results: Path,
               key: str) -> None:
    plan = RunPlan(row.scenario, (spec,), (row.target,), (0,), row.budget, controls=())
    options = RunOptions(results, force=True)
    first = run_matrix(plan, options).records[0]
    where = f"criterion '{spec.label}' on {key}"
    if first.status == "not-applicable":
        assert key == "lenet5" and "BatchNorm" in str(first.error), \
            f"{where} is not applicable: {first.error}"
        return
    assert first.measured is not None, f"{where} failed: {first.error}"
    scenario, measured = row.scenario, first.measured
    widths = row.target.resolve(measured.original_widths, scenario.groups)
    assert measured.pruned_widths == widths, f"{where} missed the widths"
    for step in measured.history:
        for layer, kept in (step.kept or {}).items():
            width = (step.widths or ())[scenario.groups.index(layer)]
            assert kept == sorted(set(kept)) and len(kept) == width, \
                f"{where} kept {kept} on {layer} at step {step.step}"
    again = run_matrix(plan, options).records[0].measured
    assert again is not None and (again.history, again.pruned) == (measured.history,
                                                                    measured.pruned), \
        f"{where} is not deterministic under a fixed seed"
    _check_leaves_model_alone(spec, loaded, row, results, where)


def _state(model: nn.Module) -> tuple[dict, list[bool], int]:
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                for m in model.modules())
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()], hooks)


def _check_leaves_model_alone(spec: CriterionSpec, loaded: registry.LoadedCriterion, row: Row,
                              results: Path, where: str) -> None:
    """One pruning step by hand, outside a worker: `prepare` and `select` must leave weights,
    buffers, modes and hooks as they found them."""
    scenario, budget = row.scenario, row.budget
    data = scenario.load_data(None, False, None).limited(budget.train_limit, budget.test_limit)
    torch.manual_seed(0)
    model = scenario.model(budget)
    widths = row.target.resolve(surgery.widths(model, scenario.groups), scenario.groups)
    ctx = criterion_context(scenario, data, budget, model, 0, 1, torch.device("cpu"), [0],
                            widths)
    criterion = loaded.cls(**spec.kwargs())
    before = _state(model)
    criterion.prepare(ctx)
    select_all(spec.label, criterion, list(ctx.groups), widths)
    after = _state(model)
    changed = [k for k, v in before[0].items() if not torch.equal(v, after[0][k])]
    assert not changed, f"{where}: prepare()/select() changed {changed[:3]}"
    assert before[1] == after[1], f"{where}: prepare()/select() left a module's mode changed"
    assert before[2] == after[2], f"{where}: prepare()/select() left hooks on the model"


def check_scenario(name: str, data_root: Path | None = None, results: Path | None = None,
                   criterion: str = "l1") -> None:
    """Raise AssertionError naming the first broken promise of installed scenario `name`: it
    is registered and usable (its model builds, has convs, every group is one of them), its data
    loads (from `data_root`, or a tiny copy its `tiny_data` writes), its MACs are positive and
    drop at its default target, and a smoke cell of `criterion` runs to the target's widths."""
    from prunebench.errors import PrunebenchError
    from prunebench.harness.allocation import scenario_macs
    from prunebench.scenarios.check import usable

    try:
        scenario = usable(name)
    except PrunebenchError as exc:
        raise AssertionError(str(exc)) from None
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        root = data_root
        if root is None and scenario.tiny_data is not None:
            scenario.tiny_data(folder / "data")
            root = folder / "data"
        budget = scenario.budget("smoke")
        target = scenario.target(scenario.default_target)
        plan = RunPlan(scenario, (CriterionSpec(criterion),), (target,), (budget.seeds[0],),
                       budget, controls=(), data_root=root)
        options = RunOptions(results or folder / "results")
        try:
            prepared = prepare(plan, options)
        except PrunebenchError as exc:
            raise AssertionError(f"scenario '{name}' cannot run: {exc}") from None
        full = surgery.widths(scenario.model(budget), scenario.groups)
        widths = target.resolve(full, scenario.groups)
        macs_of = scenario_macs(scenario)
        assert macs_of(tuple(full)) > 0, f"scenario '{name}' counts no MACs"
        assert macs_of(widths) < macs_of(tuple(full)), \
            f"scenario '{name}': MACs do not drop at its target '{target.name}' ({widths})"
        record = run_matrix(plan, options, prepared=prepared).records[0]
        assert record.measured is not None, \
            f"scenario '{name}': a smoke cell of {criterion} failed: {record.error}"
        assert record.measured.pruned_widths == widths, \
            f"scenario '{name}': the smoke cell missed the widths {widths}"
