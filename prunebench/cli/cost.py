"""`prunebench run --dry-run`: what a run would cost, counted before it runs.

Training epochs are the unit of the progress view's time-left estimate (`cli/eta.py`), and every
cell knows its count before it runs, so the cost of a board is cells x epochs: the baselines not
cached yet, then each cell without a result, by kind (fine-tuning and sparsity epochs of the
criteria, each control row's whole schedule). Nothing is trained or written.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.table import Table

from prunebench.cli.console import console
from prunebench.harness.baseline import cache_key
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.harness.runner import prepare
from prunebench.protocol.config import CONTROL, UNIFORM
from prunebench.protocol.schedule import schedule_text
from prunebench.results.store import baseline_path, finished, result_path


def dry_run(plan: RunPlan, options: RunOptions) -> int:
    """Print the cells and training epochs the run would do, those done already apart."""
    prepared = prepare(plan, options, baselines=False)  # missing data refused as by the run
    data, matrix = prepared.data, prepared.matrix
    cells: Counter[str] = Counter()
    epochs: defaultdict[str, float] = defaultdict(float)
    done = baselines = 0
    for seed, row in matrix.cells.items():
        todo = [c for c in row if finished(result_path(options.results, c.config)) is None]
        done += len(row) - len(todo)
        for cell in todo:
            role = cell.config.role
            kind = f"control {role.control}" if role.kind == CONTROL else \
                "control uniform (l1)" if role.kind == UNIFORM else "criteria"
            cells[kind] += 1
            epochs[kind] += cell.epochs()
        key = cache_key(plan.scenario, plan.budget, data, options.device, "")
        if todo and not baseline_path(options.results, plan.scenario.name, seed, key).exists():
            baselines += 1
    epochs["baselines"] = baselines * matrix.baseline_epochs
    table = Table(title=f"{plan.scenario.name}, budget {plan.budget.name}: what the run would "
                        f"train ({done} cell{'s' if done != 1 else ''} done already)")
    for title in ("work", "cells", "training epochs"):
        table.add_column(title, justify="left" if title == "work" else "right")
    table.add_row("baselines", str(baselines), f"{epochs['baselines']:g}")
    for kind in ("criteria", *sorted(k for k in cells if k != "criteria")):
        table.add_row(kind, str(cells[kind]), f"{epochs[kind]:g}")
    table.add_row("total", str(sum(cells.values())), f"{sum(epochs.values()):g}")
    console.print(table)
    console.print(f"Fine-tuning: {schedule_text(plan.budget)}.")
    console.print("An upper bound: a pruned model's epoch costs less than the unpruned one's, and "
                  "a cell found not applicable stops before it trains. Time one baseline epoch "
                  "(the progress view's pace) and multiply.")
    return 0
