"""Seed 001 sec. 4.5 ("F-RCNN pruned" of Table 4): does a criterion's pruned ResNet-50 still make a
good detector backbone? For each criterion and seed, the detector is built on the ResNet-50 that
the criterion pruned on the ImageNet row (saved there with `--save-models`) and trained with the
detection row's baseline schedule; the reference is the same detector on the unpruned ImageNet
baseline's backbone. The ImageNet results are matched on target name, budget name and seed.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn

from prunebench import distributed, plugins, scenarios, surgery
from prunebench.baseline import get_baseline, train_model
from prunebench.config import CellConfig, in_shard
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.export import narrow, read_pruned
from prunebench.plan import RunPlan
from prunebench.schedule import (
    Outcome,
    Reporter,
    Silent,
    attempt,
    pending,
    result_header,
    run_cells,
)
from prunebench.store import environment, load_checkpoint, read_results


def attach_backbone(detector: nn.Module, body_state: dict, widths: list[int], plan: RunPlan,
                    input_shape) -> None:
    """Narrow the detector's backbone to `widths` and load a ResNet-50's weights into it."""
    narrow(detector, plan.scenario, widths, input_shape)
    state = {k: v for k, v in body_state.items() if not k.startswith("fc.")}
    missing, unexpected = detector.get_submodule(plan.scenario.prune_root).load_state_dict(
        state, strict=False)
    if missing or unexpected:
        raise PrunebenchError(f"the ResNet-50 weights do not fit the detector's backbone "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def source_records(plan: RunPlan) -> list[dict]:
    source = plan.scenario.backbone_source
    assert source is not None and plan.backbone_from is not None
    found = [r for r in read_results(plan.backbone_from)
             if r["scenario"] == source and r["status"] == "ok"
             and r["target"]["name"] == plan.target.name and r["budget"]["name"] == plan.budget.name]
    if not found:
        raise PrunebenchError(
            f"no {source} results for target {plan.target.name}, budget {plan.budget.name} in "
            f"{plan.backbone_from}; run `prunebench run --scenario {source} --target "
            f"{plan.target.name} --budget {plan.budget.name} --save-models` there first")
    return found


def run_transfer(plan: RunPlan, reporter: Reporter | None = None) -> Outcome:
    reporter = reporter or Silent()
    scenario, budget, folder = plan.scenario, plan.budget, plan.backbone_from
    source = scenarios.get(scenario.backbone_source)
    records = source_records(plan)
    available = plugins.discover()
    data = distributed.for_ranks(plan.load_data())
    env = environment(plan.device)
    full = list(surgery.widths(source.model(), source.groups))
    origins, matrix = {}, {}
    for seed in plan.seeds:
        origins[seed] = {r["criterion"]["name"]: r for r in records if r["seed"] == seed}
        if not origins[seed]:
            raise PrunebenchError(f"no {source.name} results for seed {seed} in {folder}")
        matrix[seed] = [cell for name in plan.criteria if in_shard(cell := CellConfig(
            scenario.name, name, plan.target.name, _widths(origins[seed].get(name), plan, full),
            seed, budget), plan.shard)]
    outcome = Outcome()
    cells = sum(len(cells) for cells in matrix.values())
    reporter.start(cells, (cells + len(matrix)) * budget.baseline_epochs,
                   lambda _name: budget.baseline_epochs)
    for seed, cells in matrix.items():
        todo = pending(plan, cells, outcome, reporter)
        if not todo:
            continue
        checkpoint = folder / next(iter(origins[seed].values()))["baseline_checkpoint"]
        reporter.phase(f"detector on the unpruned backbone, seed {seed}", budget.baseline_epochs)
        base = get_baseline(scenario, data, budget, seed, plan.results, plan.device, reporter.epoch,
                            init=partial(_attach_saved, checkpoint=checkpoint, widths=full,
                                         plan=plan, input_shape=data.input_shape),
                            init_key=f"{source.name}/{checkpoint.name}")
        run_cells(plan, todo, outcome, reporter,
                  partial(_transfer, plan, source, full, origins[seed], available, data, env,
                          base, reporter))
    return outcome


def _widths(origin: dict | None, plan: RunPlan, full: list[int]) -> tuple[int, ...]:
    """The widths the criterion's backbone was pruned to (the target's, when it has none)."""
    if origin is not None:
        return tuple(origin["widths"]["pruned"])
    return plan.target.resolve(full, plan.scenario.groups)


def _attach_saved(detector: nn.Module, checkpoint: Path, widths: list[int], plan: RunPlan,
                  input_shape) -> None:
    """attach_backbone from the ImageNet baseline's checkpoint, read only when it is needed."""
    state = load_checkpoint(checkpoint, {"state_dict"})["state_dict"]
    attach_backbone(detector, state, widths, plan, input_shape)


def _transfer(plan: RunPlan, source, full: list[int], origins: dict, available: dict, data,
              env: dict, base, reporter: Reporter, cell: CellConfig) -> dict:
    """One cell: the detector trained on the backbone `cell.criterion` pruned on ImageNet."""
    name, origin = cell.criterion, origins.get(cell.criterion)
    info = available.get(name) or plugins.PluginInfo(name, "?", "not installed", "?")

    def work() -> dict:
        if origin is None or not origin.get("model_file"):
            raise CriterionError(name, f"no saved pruned {source.name} model for seed "
                                       f"{cell.seed} in {plan.backbone_from} (run it with "
                                       "--save-models)")
        saved = read_pruned(plan.backbone_from / source.name / origin["model_file"], source)
        reporter.phase(f"{name}, seed {cell.seed}", plan.budget.baseline_epochs)
        _, metrics = train_model(
            plan.scenario, data, plan.budget, cell.seed, plan.device, reporter.epoch,
            init=partial(attach_backbone, body_state=saved["state_dict"],
                         widths=saved["widths"], plan=plan, input_shape=data.input_shape))
        return {"criterion": origin["criterion"],  # who pruned the backbone
                "widths": {"original": full, "pruned": saved["widths"]},
                "baseline": base.metrics, "history": [], "backbone_from": origin["config_hash"],
                "pruned": {f"{plan.scenario.task.headline}_before_finetune": None, **metrics},
                "cost": dict(origin["cost"])}

    return attempt(result_header(plan, cell, info, data, env, base), name, plan.cell_timeout, work)
