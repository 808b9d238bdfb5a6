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

from prunebench import scenarios
from prunebench.criteria import registry
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.export.files import narrow, read_pruned
from prunebench.harness.baseline import Baseline, get_baseline, train_model
from prunebench.harness.cells.base import Cell, CellEnv, Matrix
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.models import surgery
from prunebench.protocol.config import CellConfig, in_shard
from prunebench.registry.providers import Provider
from prunebench.results.checkpoints import load_checkpoint
from prunebench.results.record import Measured, Measures, Record
from prunebench.results.store import read_results, within
from prunebench.scenarios.base import Scenario


def attach_backbone(detector: nn.Module, body_state: dict, widths: list[int], scenario: Scenario,
                    input_shape) -> None:
    """Narrow the detector's backbone to `widths` and load a ResNet-50's weights into it."""
    narrow(detector, scenario, widths, input_shape)
    state = {k: v for k, v in body_state.items() if not k.startswith("fc.")}
    missing, unexpected = detector.get_submodule(scenario.prune_root).load_state_dict(
        state, strict=False)
    if missing or unexpected:
        raise PrunebenchError(f"the ResNet-50 weights do not fit the detector's backbone "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def source_records(plan: RunPlan) -> list[Record]:
    source = plan.scenario.backbone_source
    assert source is not None and plan.backbone_from is not None
    found = [r for r in read_results(plan.backbone_from)
             if r.scenario == source and r.ok and r.target == plan.target.name
             and r.budget.name == plan.budget.name]
    if not found:
        raise PrunebenchError(
            f"no {source} results for target {plan.target.name}, budget {plan.budget.name} in "
            f"{plan.backbone_from}; run `prunebench run --scenario {source} --target "
            f"{plan.target.name} --budget {plan.budget.name} --save-models` there first")
    return found


class TransferCell(Cell):
    """The detector trained on the backbone `config.criterion` pruned on the source row."""

    def __init__(self, config: CellConfig, origin: Record | None, info: Provider,
                 source: Scenario, folder: Path, full: list[int]) -> None:
        self.config, self.origin, self.info = config, origin, info
        self.source, self.folder, self.full = source, folder, full

    def epochs(self) -> float:
        return self.config.budget.baseline_epochs

    def run(self, env: CellEnv) -> Measured:
        cell, origin, scenario = self.config, self.origin, env.scenario
        source = origin.measured if origin is not None else None
        if origin is None or source is None or source.model_file is None:
            raise CriterionError(cell.criterion, f"no saved pruned {self.source.name} model for "
                                                 f"seed {cell.seed} in {self.folder} (run it "
                                                 "with --save-models)")
        weights = self.folder / self.source.name / source.model_file
        if not within(self.folder, weights):
            raise CriterionError(cell.criterion, f"the saved model {weights} is a link out of "
                                                 f"{self.folder}; only files inside it are read")
        saved = read_pruned(weights, self.source)
        env.progress.phase(f"{cell.criterion}, seed {cell.seed}", self.epochs())
        _, metrics = train_model(
            scenario, env.data, cell.budget, cell.seed, env.device, env.progress.epoch,
            init=partial(attach_backbone, body_state=saved["state_dict"],
                         widths=saved["widths"], scenario=scenario,
                         input_shape=env.data.input_shape))
        pruned = Measures.of_flat(metrics)
        return Measured(
            original_widths=tuple(self.full), pruned_widths=tuple(saved["widths"]),
            baseline=env.baseline.measures,
            pruned=pruned.with_metrics(**{f"{scenario.task.headline}_before_finetune": None}),
            cost=source.cost, backbone_from=origin.config_hash, pruned_by=origin.criterion)


def transfer_matrix(plan: RunPlan, options: RunOptions) -> Matrix:
    """One transfer cell per criterion and seed; each seed's baseline is the detector on the
    source row's unpruned baseline of that seed."""
    scenario, folder = plan.scenario, plan.backbone_from
    assert scenario.backbone_source is not None and folder is not None
    source = scenarios.get(scenario.backbone_source)
    records = source_records(plan)
    available = registry.discover()
    full = list(surgery.widths(source.model(), source.groups))
    origins: dict[int, dict[str, Record]] = {}
    cells: dict[int, list[Cell]] = {}
    for seed in plan.seeds:
        origins[seed] = {r.criterion.name: r for r in records if r.seed == seed}
        if not origins[seed]:
            raise PrunebenchError(f"no {source.name} results for seed {seed} in {folder}")
        row = []
        for spec in plan.criteria:
            origin = origins[seed].get(spec.name)
            widths = origin.measured.pruned_widths if origin and origin.measured else \
                plan.target.resolve(full, source.groups)
            info = available.get(spec.name) or Provider(spec.name, "?", "not installed", "?")
            config = CellConfig(scenario.name, spec.name, plan.target.name, widths, seed,
                                plan.budget, spec.settings, options.device.type, info.version)
            row.append(TransferCell(config, origin, info, source, folder, full))
        cells[seed] = [c for c in row if in_shard(c.config, options.shard)]

    def baseline(seed: int, data, on_epoch) -> Baseline:
        checkpoint = folder / str(next(iter(origins[seed].values())).baseline_checkpoint)
        return get_baseline(scenario, data, plan.budget, seed, options.results, options.device,
                            on_epoch, init=partial(_attach_saved, checkpoint=checkpoint,
                                                   widths=full, scenario=scenario,
                                                   input_shape=data.input_shape),
                            init_key=f"{source.name}/{checkpoint.name}")

    return Matrix(cells, baseline)


def _attach_saved(detector: nn.Module, checkpoint: Path, widths: list[int], scenario: Scenario,
                  input_shape) -> None:
    """attach_backbone from the source baseline's checkpoint, read only when it is needed."""
    state = load_checkpoint(checkpoint, {"state_dict"})["state_dict"]
    attach_backbone(detector, state, widths, scenario, input_shape)
