"""Seed 001 sec. 4.5 ("F-RCNN pruned" of Table 4): does a criterion's pruned ResNet-50 still make a
good detector backbone? For each criterion and seed, the detector is built on the ResNet-50 that
the criterion pruned on the ImageNet row (saved there with `--save-models`) and trained with the
detection row's baseline schedule; the reference is the same detector on the unpruned ImageNet
baseline's backbone. The ImageNet results are matched on target name, budget name and seed.
"""

from __future__ import annotations

import time
from functools import partial

from torch import nn

from prunebench import plugins, scenarios
from prunebench.baseline import get_baseline, train_model
from prunebench.config import CellConfig
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.export import narrow, read_pruned
from prunebench.plan import RunPlan
from prunebench.schedule import Outcome, Reporter, Silent, result_header
from prunebench.store import environment, load_checkpoint, read_results, result_path, write_json


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
    data = scenario.load_data(plan.data_root, plan.download, budget.image_size).limited(
        budget.train_limit, budget.test_limit)
    env = environment(plan.device)
    outcome = Outcome()
    reporter.start(len(plan.seeds) * len(plan.criteria))
    for seed in plan.seeds:
        mine = {r["criterion"]["name"]: r for r in records if r["seed"] == seed}
        if not mine:
            raise PrunebenchError(f"no {source.name} results for seed {seed} in {folder}")
        checkpoint = folder / next(iter(mine.values()))["baseline_checkpoint"]
        unpruned = load_checkpoint(checkpoint, {"state_dict"})["state_dict"]
        full = [unpruned[f"{g}.weight"].shape[0] for g in source.groups]
        reporter.phase(f"detector on the unpruned backbone, seed {seed}", budget.baseline_epochs)
        base = get_baseline(scenario, data, budget, seed, plan.results, plan.device, reporter.epoch,
                            init=partial(attach_backbone, body_state=unpruned, widths=full,
                                         plan=plan, input_shape=data.input_shape),
                            init_key=f"{source.name}/{checkpoint.name}")
        for name in plan.criteria:
            started = time.perf_counter()
            origin = mine.get(name)
            widths = tuple(origin["widths"]["pruned"]) if origin else plan.target.resolve(
                full, scenario.groups)
            cell = CellConfig(scenario.name, name, plan.target.name, widths, seed, budget)
            info = available.get(name) or plugins.PluginInfo(name, "?", "not installed", "?")
            record = result_header(plan, cell, info, data, env)
            record["baseline_checkpoint"] = str(base.path.relative_to(plan.results))
            try:
                if origin is None or not origin.get("model_file"):
                    raise CriterionError(name, f"no saved pruned {source.name} model for seed "
                                               f"{seed} in {folder} (run it with --save-models)")
                saved = read_pruned(folder / source.name / origin["model_file"], source)
                record["criterion"] = origin["criterion"]  # who pruned the backbone
                reporter.phase(f"{name}, seed {seed}", budget.baseline_epochs)
                _, metrics = train_model(
                    scenario, data, budget, seed, plan.device, reporter.epoch,
                    init=partial(attach_backbone, body_state=saved["state_dict"],
                                 widths=saved["widths"], plan=plan, input_shape=data.input_shape))
                record.update(
                    widths={"original": full, "pruned": saved["widths"]}, baseline=base.metrics,
                    pruned={f"{scenario.task.headline}_before_finetune": None, **metrics},
                    history=[], backbone_from=origin["config_hash"])
                record["cost"].update(origin["cost"])
            except CriterionError as exc:
                record.update(status="failed", error=str(exc))
            record["cost"]["cell_seconds"] = time.perf_counter() - started
            outcome.records.append(record)
            outcome.paths.append(write_json(result_path(plan.results, cell), record))
            reporter.cell_done(record)
    return outcome

