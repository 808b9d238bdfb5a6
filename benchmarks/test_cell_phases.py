"""Where one cell's time goes, phase by phase (issue 40): the data, the baseline, the criterion's
context (calibration), prepare and selection, the removal, fine-tuning (its training alone),
evaluation (every call, the per-epoch curve's included), the step checkpoints, the size and
speed measurements, and what is left. Each phase's own time: a phase inside another (evaluation
inside fine-tuning) is counted once, in the inner one.

    python -m pytest benchmarks/test_cell_phases.py --benchmark-only -s

`paper` on Fashion-MNIST needs Debian's data (`apt-get install dataset-fashion-mnist`) and takes
a few minutes; the digits' `quick` cell runs anywhere in seconds. The table is printed and kept
in the benchmark's `extra_info` (`--benchmark-json`).
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

import pytest

from prunebench.cli.options import make_options, make_plan
from prunebench.harness import matrix
from prunebench.harness.cells import pruning, steps
from prunebench.harness.plan import RunPlan
from prunebench.harness.runner import prepare, run_matrix
from prunebench.models import surgery, tasks

FASHION = Path("/usr/share/datasets/fashion-mnist")
COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "next" / "results"


class Phases:
    """Self time per phase: a phase's elapsed time less that of the phases called inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack: list[list[float]] = []  # per open phase: [start, time of inner phases]

    def timed(self, name: str, fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            self.stack.append([time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, inner = self.stack.pop()
                elapsed = time.perf_counter() - start
                self.seconds[name] += elapsed - inner
                if self.stack:
                    self.stack[-1][1] += elapsed
        return wrapper


def phase_table(monkeypatch, plan, options) -> dict[str, float]:
    """Run the plan's one cell in this process with every phase timed; seconds per phase."""
    phases = Phases()
    patches = [
        (RunPlan, "load_data", "data"), (matrix, "_baseline", "baseline (load or train)"),
        (pruning, "criterion_context", "criterion context (calibration data)"),
        (pruning, "choose", "criterion: selection"), (surgery, "remove_filters", "removal"),
        (pruning, "finetune", "fine-tuning (training)"),
        (tasks.Classification, "evaluate", "evaluation (every call)"),
        (steps.StepLog, "step_done", "step checkpoints"),
        (pruning, "model_size", "size (params, MACs, TRM)"),
        (pruning, "eager_speed", "speed (eager, per cell)"),
    ]
    for owner, attr, name in patches:
        monkeypatch.setattr(owner, attr, phases.timed(name, getattr(owner, attr)))
    original_guard = pruning.guard

    def guard(criterion, what, fn, *args, **kwargs):  # the criterion's own calls, by name
        return phases.timed(f"criterion: {what}", original_guard)(criterion, what, fn, *args,
                                                                  **kwargs)
    monkeypatch.setattr(pruning, "guard", guard)
    started = time.perf_counter()
    prepared = prepare(plan, options)
    outcome = run_matrix(plan, options, prepared=prepared)
    total = time.perf_counter() - started
    assert [r.status for r in outcome.records] == ["ok"], outcome.records
    table = dict(sorted(phases.seconds.items(), key=lambda kv: -kv[1]))
    table["other (harness, records, locks)"] = total - sum(phases.seconds.values())
    table["whole cell"] = total
    return table


def _print(title: str, table: dict[str, float]) -> None:
    print(f"\n{title}")
    for name, seconds in table.items():
        print(f"  {name:40s} {seconds:8.2f} s  {100 * seconds / table['whole cell']:5.1f}%")


@pytest.mark.parametrize("scenario,budget", [
    ("lenet5-digits", "quick"),
    pytest.param("lenet5-fashionmnist", "paper", marks=pytest.mark.skipif(
        not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")),
])
def test_where_a_cells_time_goes(benchmark, monkeypatch, tmp_path, scenario, budget):
    plan = make_plan(scenario=scenario, criteria="l1", target="prun1", seeds="0", budget=budget,
                     controls="none", data_root=str(FASHION) if "fashion" in scenario else None)
    results = tmp_path / "results"
    committed = COMMITTED / "baselines" / scenario
    if committed.is_dir():  # the third edition's baselines: a cell starts from one of them
        shutil.copytree(committed, results / "baselines" / scenario)
    options = make_options(results=results, isolate=False, argv=["run"])
    prepared = prepare(plan, options)  # any baseline missing trained here, not measured
    prepared.matrix.baseline(0, prepared.data, lambda *_: None)

    def one_cell():
        return phase_table(monkeypatch, plan, options)

    table = benchmark.pedantic(one_cell, rounds=1, iterations=1)
    benchmark.extra_info["phases_seconds"] = table
    _print(f"{scenario}, budget {budget}, l1 at prun1, seed 0 (one thread, in process)", table)
    assert table["whole cell"] > 0
