"""Protocol v3 (issue 36) with known answers: the fine-tuning rates, scratch-b's epochs, the
unpruned-ft control, the one-shot track, and the second edition's cells keeping their hashes."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from prunebench import scenarios
from prunebench.cli import main
from prunebench.cli.options import make_options, make_plan
from prunebench.harness import allocation
from prunebench.harness.baseline import get_baseline
from prunebench.harness.matrix import build_matrix
from prunebench.harness.plan import RunOptions, RunPlan, plan_of_record
from prunebench.harness.runner import run_matrix
from prunebench.harness.train import phase_generator, train
from prunebench.protocol.config import SCRATCH_B, UNPRUNED_FT, Budget
from prunebench.protocol.schedule import cosine, finetune_rate, scratch_b_epochs, scratch_e_epochs
from prunebench.results.record import Record
from prunebench.scenarios.lenet5 import DIGITS_BUDGETS, TARGETS

REPO = Path(__file__).resolve().parent.parent
DIGITS = scenarios.get("lenet5-digits")
DECAY = Budget("t", baseline_epochs=10, baseline_lr=0.05, finetune_epochs=3, finetune_lr=1e-3,
               steps=4, batch_size=64, calibration_batches=2, seeds=(0,),
               finetune_schedule="cosine", finetune_lr_end=1e-4, final_epochs=12)


def test_fine_tuning_rates_at_known_steps():
    step = finetune_rate(DECAY, 2)  # restarts at every step: 1e-3 -> 1e-4 over the step
    assert step(0, 10) == 1e-3
    assert math.isclose(step(5, 10), 5.5e-4)  # halfway: the mean of the two rates
    assert math.isclose(step(10, 10), 1e-4)
    once = finetune_rate(replace(DECAY, finetune_restart=False), 2)  # step 2 of 4, 10 each
    assert math.isclose(once(0, 10), 1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2)
    assert math.isclose(once(0, 10), 8.682e-4, rel_tol=1e-4)
    final = finetune_rate(replace(DECAY, finetune_restart=False), None)  # its own decay
    assert final(0, 30) == 1e-3 and math.isclose(final(15, 30), 5.5e-4)
    boosted = finetune_rate(replace(DECAY, final_lr=1e-2), None)  # from its own start
    assert boosted(0, 30) == 1e-2 and math.isclose(boosted(15, 30), (1e-2 + 1e-4) / 2)
    assert finetune_rate(replace(DECAY, final_lr=1e-2), 1)(0, 10) == 1e-3  # steps unchanged
    constant = finetune_rate(replace(DECAY, finetune_schedule="constant",
                                     finetune_lr_end=None), 3)
    assert constant(0, 10) == constant(9, 10) == 1e-3
    assert cosine(1.0, 0.0, 1, 4) == (1 + math.cos(math.pi / 4)) / 2


def test_training_applies_the_rate_of_every_step():
    """The optimizer steps at exactly the rates asked for (read back from the weights: plain
    SGD on a linear loss moves each weight by lr x its gradient)."""
    data = DIGITS.load_data(None, False, None).limited(128, 32)
    budget = replace(DECAY, batch_size=64, momentum=0.0, weight_decay=0.0)
    seen: list[tuple[int, int]] = []

    def rate(i: int, total: int) -> float:
        seen.append((i, total))
        return 0.1 * (i + 1)

    class Sum:  # the loss is the sum of the weight: its gradient is 1 everywhere
        headline = "top1"

        def loss(self, model, batch):
            return model.weight.sum()

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    train(model, data, Sum(), budget, epochs=1, lr=1.0, generator=phase_generator(0, "t"),
          device=torch.device("cpu"), rate=rate)
    assert seen == [(0, 2), (1, 2)]
    assert math.isclose(float(model.weight.detach()), -(0.1 + 0.2), rel_tol=1e-6)


def test_scratch_b_epochs_from_macs_by_hand():
    """LeNet-5 MACs by hand: conv1 20x25x576 = 288,000, conv2 50x500x64 = 1,600,000, fc1
    800x500 = 400,000, fc2 5,000; at half the filters (10, 25): 144,000 + 400,000 + 200,000
    + 5,000 = 749,000."""
    macs = allocation.scenario_macs(DIGITS)
    assert macs((20, 50)) == 2_293_000 and macs((10, 25)) == 749_000
    paper = DIGITS_BUDGETS["paper"]  # 40 baseline epochs, 4 x 3 + 12 fine-tuning epochs
    assert scratch_e_epochs(paper) == 40 + 12 + 12
    assert scratch_b_epochs(paper, 2_293_000, 749_000) == 122  # 40 x 3.0614 = 122.5 -> 122
    assert scratch_b_epochs(paper, 2_293_000, 264_200) == 128  # 347 epochs, capped at 2 x 64
    plan = RunPlan(DIGITS, (), (TARGETS["half"],), (0,), paper, controls=(SCRATCH_B,))
    (cell,) = build_matrix(plan, RunOptions(Path("unused"))).cells[0]
    assert cell.config.criterion == SCRATCH_B and cell.epochs() == 122


def test_unpruned_ft_without_fine_tuning_is_the_baseline_exactly(tmp_path):
    smoke = DIGITS_BUDGETS["smoke"]
    for budget, same in ((replace(smoke, finetune_epochs=0, final_epochs=0), True),
                         (smoke, False)):
        plan = RunPlan(DIGITS, (), (TARGETS["prun1"],), (0,), budget, controls=(UNPRUNED_FT,))
        (record,) = run_matrix(plan, RunOptions(tmp_path / "results")).records
        m = record.measured
        assert record.ok and record.reference and m.pruned_widths == (20, 50)
        metrics = {k: v for k, v in m.pruned.metrics.items() if v is not None}
        assert (metrics == m.baseline.metrics) is same
        assert m.pruned.params == m.baseline.params
        assert len(m.curve()) == budget.steps * budget.finetune_epochs + budget.final_epochs
        if m.curve():
            assert m.curve()[-1] == m.pruned.metrics["top1"]


def test_a_pruning_cell_records_its_schedule_and_every_epoch(tmp_path):
    plan = make_plan(criteria="l1", budget="smoke", controls="none")
    (record,) = run_matrix(plan, make_options(results=tmp_path, argv=["run"])).records
    saved = json.loads(next(tmp_path.glob("lenet5-digits/l1--*.json")).read_text())
    budget = saved["budget"]
    assert (budget["finetune_lr"], budget["finetune_lr_end"], budget["finetune_schedule"],
            budget["final_epochs"], budget["final_lr"]) == (1e-3, 1e-4, "cosine", 1, 1e-2)
    step, = saved["history"]
    assert len(step["curve"]) == 1 and len(saved["final_curve"]) == 1
    assert saved["final_curve"][-1] == saved["pruned"]["metrics"]["top1"]
    m = record.measured
    assert m.one_shot("top1") == step["top1_before_finetune"]


def test_one_shot_cells_train_nothing_and_equal_removal_by_hand(tmp_path):
    """An l1 one-shot cell's accuracy is the baseline's with its lowest-l1 filters zeroed by
    hand (a zero filter's ReLU output is zero: the next layer sees what removal leaves)."""
    plan = make_plan(criteria="l1,stability", budget="smoke", track="one-shot",
                     target="ratio-0.5", controls="none")
    records = run_matrix(plan, make_options(results=tmp_path, argv=["run"])).records
    l1 = next(r for r in records if r.label == "l1")
    stability = next(r for r in records if r.label == "stability")
    assert stability.status == "not-applicable" and "trains nothing" in str(stability.error)
    b = l1.budget
    assert b.one_shot and b.steps * b.finetune_epochs + b.final_epochs == 0
    assert l1.measured.cost.sparsity_epochs == 0 and l1.measured.history[0].curve == ()
    assert not (tmp_path / "reuse").exists()  # a phase that trains nothing is never kept
    data = plan.load_data()
    baseline = get_baseline(DIGITS, data, plan.budget, 0, tmp_path, torch.device("cpu"))
    model = DIGITS.model()
    model.load_state_dict(baseline.state)
    with torch.no_grad():
        for name, keep in (("conv1", 10), ("conv2", 25)):
            conv = model.get_submodule(name)
            norms = conv.weight.abs().sum(dim=(1, 2, 3))
            drop = norms.argsort()[: conv.out_channels - keep]
            conv.weight[drop] = 0
            conv.bias[drop] = 0
    by_hand = DIGITS.task.evaluate(model, data, torch.device("cpu"))["top1"]
    assert l1.measured.pruned.metrics["top1"] == by_hand
    assert l1.measured.one_shot("top1") == by_hand
    kept = l1.measured.history[0].kept
    assert len(kept["conv1"]) == 10 and len(kept["conv2"]) == 25


def test_the_second_editions_cells_keep_their_hashes():
    """Rebuilding a committed result's cell from its record gives its file's hash: a fixed
    width cell, the old `scratch` (now read as scratch-e), a global cell and its uniform row."""
    folder = REPO / "leaderboards" / "results" / "lenet5-fashionmnist"
    pinned = {"l1--prun1--paper--seed2--ad60fb3a6b497818.json": "l1",
              "scratch--prun1--paper--seed3--0c602f73b227f5e7.json": "scratch-e",
              "scratch--macs-2x--paper--seed3--c91e42b7eb953e21.json": "scratch-e",
              "l1--macs-4x--paper--seed5--0c5bd0971e2f2920.json": "uniform (l1)",
              "l1--macs-4x--paper--seed5--32e15318e29d30e2.json": "l1"}
    for name, label in pinned.items():
        record = Record.from_json(json.loads((folder / name).read_text()))
        assert record.label == label
        assert record.budget.finetune_schedule == "constant" and record.budget.final_epochs == 0
        (cell,) = build_matrix(plan_of_record(record),
                               RunOptions(Path("unused"))).cells[record.seed]
        assert cell.config.hash() == record.config_hash == name.rsplit("--", 1)[1][:-5]


def test_a_budget_field_at_its_old_value_leaves_the_hash_alone():
    old = replace(DECAY, finetune_schedule="constant", finetune_lr_end=None, final_epochs=0)
    assert old.hashed().keys() == DECAY.hashed().keys() - {
        "finetune_schedule", "finetune_lr_end", "final_epochs"}
    assert "finetune_restart" not in DECAY.hashed() and "one_shot" not in DECAY.hashed()


def test_a_smoke_board_shows_the_controls_and_the_one_shot_column(tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--criteria", "l1",
                 "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "one-shot" in out
    text = (results / "leaderboards" / "lenet5-digits.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| group | criterion"))
    assert "top1 one-shot" in header
    for row in ("| unpruned-ft |", "| scratch-e |", "| scratch-b |", "| l1 |"):
        assert row in text
    assert "- Fine-tuning: 1 x 1 epochs, cosine 0.001 -> 0.0001, restarting at every step, " \
           "then a final 1 epochs (its own decay from 0.01)" in text
    assert "- `scratch-e` trained 4 epochs" in text  # 2 baseline + 1 + 1 final
    assert "- `scratch-b` trained 8 epochs" in text  # 2 x 8.7 = 17.4, capped at 2 x 4
    assert "- `unpruned-ft` trained 2 epochs" in text
    assert (results / "leaderboards" / "lenet5-digits-prun1-smoke-finetuning.png").exists()
    roles = {(r["criterion"]["name"], r["role"]["kind"], r["role"]["control"]) for r in
             (json.loads(f.read_text()) for f in (results / "lenet5-digits").glob("*.json"))}
    assert roles == {("l1", "criterion", None), ("unpruned-ft", "control", "unpruned-ft"),
                     ("scratch-e", "control", "scratch-e"), ("scratch-b", "control", "scratch-b")}


@pytest.mark.slow
def test_the_one_shot_track_from_the_command_line(tmp_path, capsys):
    results = tmp_path / "res"
    assert main(["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--criteria",
                 "l1,random", "--track", "one-shot", "--results", str(results)]) == 0
    files = sorted((results / "lenet5-digits").glob("*.json"))
    records = [Record.from_json(json.loads(f.read_text())) for f in files]
    assert {r.target for r in records} >= {f"ratio-0.{i}" for i in range(1, 10)} | {
        "macs-2x", "macs-4x"}
    assert all(r.budget.one_shot and r.budget.finetune_epochs == r.budget.final_epochs == 0
               and r.measured.cost.sparsity_epochs == 0 for r in records)
    assert {r.label for r in records} == {"l1", "random", "uniform (l1)"}
    text = (results / "leaderboards" / "lenet5-digits.md").read_text()
    assert "## One-shot track, uniform sweep of every layer's filters, budget " \
           "`smoke-one-shot`" in text
    assert "| row | 10% | 20% | 30% | 40% | 50% | 60% | 70% | 80% | 90% |" in text
    assert (results / "leaderboards" / "lenet5-digits-one-shot-uniform-smoke-one-shot.png"
            ).exists()
    l1 = {r.target: r.measured.pruned.metrics["top1"] for r in records
          if r.label == "l1" and r.macs_reduction is None}
    ys = [l1[f"ratio-0.{i}"] for i in range(1, 10)]
    area = sum((ys[i] + ys[i + 1]) / 2 * 0.1 for i in range(8)) / 0.8  # the trapezoid by hand
    assert "| l1 | prunebench-baselines" in text and f"{area:.2f}" in text
