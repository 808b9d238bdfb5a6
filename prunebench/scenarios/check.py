"""Whether a registered row can be pruned at all: its model builds, has convs, and every group it
names is a conv of that model. Building a model costs seconds for the large rows, so this runs
where a row is inspected (`prunebench list --scenarios`, `prunebench.testing`), not on every
lookup."""

from __future__ import annotations

from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.models import surgery
from prunebench.scenarios.base import Scenario


def scenario_problem(scenario: Scenario) -> str | None:
    """Why the row cannot be pruned, in a few words, or None when it can."""
    try:
        model = scenario.model()
    except Exception as exc:  # a plugin's factory may fail in any way
        return f"building its model failed with {type(exc).__name__}: {exc}"
    if not isinstance(model, nn.Module):
        return f"its model factory returned {type(model).__name__}, not a torch.nn.Module"
    try:
        root = model.get_submodule(scenario.prune_root)
    except AttributeError:
        return f"its prune_root '{scenario.prune_root}' is not a submodule of its model"
    if not any(isinstance(m, nn.Conv2d) for m in root.modules()):
        return "its model has no Conv2d to prune"
    if not scenario.groups:
        return "it names no prunable group"
    for name in scenario.groups:
        try:
            surgery.widths(model, [name])
        except PrunebenchError as exc:
            return f"it names group '{name}': {exc}"
    return None


def refusal(scenario: Scenario, problem: str) -> str:
    return f"scenario '{scenario.name}' from {scenario.source or 'unknown'} is refused: {problem}"


def usable(name: str) -> Scenario:
    """The row `name`, refused in one line when it cannot be pruned (a plugin's row is built and
    checked here; the core's rows are checked by its tests)."""
    from prunebench import scenarios
    scenario = scenarios.get(name)
    if scenario.source.split()[:1] != [scenarios.CORE]:
        problem = scenario_problem(scenario)
        if problem is not None:
            raise PrunebenchError(f"{refusal(scenario, problem)}; fix the plugin or uninstall it")
    return scenario
