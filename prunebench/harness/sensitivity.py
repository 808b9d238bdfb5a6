"""Per-layer sensitivity (seed 002 Fig. 2-3): from the shared baseline, remove a growing fraction
of ONE layer's filters with a criterion and measure the task's metric with no fine-tuning. Layers
whose curve stays flat can lose many filters; that is how per-layer widths are chosen."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

from prunebench.criteria import registry
from prunebench.errors import PrunebenchError
from prunebench.harness.baseline import get_baseline
from prunebench.harness.cells.checks import checked_select, guard
from prunebench.harness.cells.context import criterion_context
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.models import surgery
from prunebench.protocol.config import Target
from prunebench.runtime.threads import use_threads

DEFAULT_RATIOS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def sensitivity_curves(plan: RunPlan, options: RunOptions,
                       ratios: Sequence[float] = DEFAULT_RATIOS, seed: int | None = None
                       ) -> dict[str, list[tuple[float, float]]]:
    """layer -> [(fraction removed, metric)] for the plan's first criterion, starting at (0,
    baseline metric)."""
    scenario, budget, spec = plan.scenario, plan.budget, plan.criteria[0]
    criterion, device = spec.label, options.device
    seed = plan.seeds[0] if seed is None else seed
    bad = [r for r in ratios if not 0 < r < 1]
    if bad:
        raise PrunebenchError(f"ratios {bad} must be strictly between 0 and 1")
    loaded = registry.load(spec.name)
    if loaded.cls.sparsity_epochs > 0:
        raise PrunebenchError(f"criterion '{criterion}' needs {loaded.cls.sparsity_epochs:g} "
                              "training epochs per selection; sensitivity curves take a "
                              "training-free criterion, e.g. l1")
    if loaded.cls.refits:
        raise PrunebenchError(f"criterion '{criterion}' refits the next layer after removal; "
                              "sensitivity curves remove filters alone, so they take a "
                              "criterion without a refit, e.g. l1")
    data = plan.load_data()
    use_threads(budget.threads)
    base = get_baseline(scenario, data, budget, seed, options.results, device)
    headline = scenario.task.headline
    example = torch.zeros(1, *data.input_shape, device=device)

    def fresh() -> torch.nn.Module:
        model = scenario.model(budget)
        model.load_state_dict(base.state)
        return model.to(device)

    # every curve starts from the same baseline, so the criterion prepares once, on its own copy
    ctx = criterion_context(scenario, data, budget, fresh(), seed, 1, device, [0])
    chosen = guard(criterion, "creating the criterion", partial(loaded.cls, **spec.kwargs()))
    guard(criterion, "prepare()", chosen.prepare, ctx)
    curves = {}
    for group in ctx.groups:
        curve = [(0.0, base.metrics[headline])]
        for ratio in ratios:
            n_keep = Target("r", ratio=ratio).resolve([group.n_filters], [group.name])[0]
            keep = checked_select(criterion, chosen, group, n_keep)
            model = fresh()
            surgery.remove_filters(model, example, {group.name: keep}, scenario.prune_root)
            curve.append((ratio, scenario.task.evaluate(model, data, device)[headline]))
        curves[group.name] = curve
    return curves
