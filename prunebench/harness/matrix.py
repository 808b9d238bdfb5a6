"""A plan's matrix: which cells it holds, of which kind, and where each seed's baseline comes
from. The one place that decides the kinds: a pruning cell per criterion, target and seed; the
plan's controls: `unpruned-ft` per seed, `scratch-e` and `scratch-b` per target and seed (on a
global target also the `uniform` row, l1 at the widths one ratio gives, and the scratch rows at
those widths); or, for a row built on another row's pruned models, transfer cells
(cells/transfer.py)."""

from __future__ import annotations

from functools import partial

from prunebench.criteria import registry
from prunebench.harness import allocation
from prunebench.harness.baseline import get_baseline
from prunebench.harness.cells.base import Cell, Matrix
from prunebench.harness.cells.pruning import PruneCell
from prunebench.harness.cells.scratch import ScratchCell
from prunebench.harness.cells.transfer import transfer_matrix
from prunebench.harness.cells.unpruned import UnprunedCell
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.models import surgery
from prunebench.protocol.config import (
    LEGACY_SCRATCH,
    SCRATCH_B,
    SCRATCH_E,
    UNIFORM,
    UNPRUNED_FT,
    CellConfig,
    CriterionSpec,
    Role,
    Target,
    in_shard,
)

#: the criterion that chooses the filters of the global track's `uniform` reference row
UNIFORM_BY = "l1"
#: the target name of `unpruned-ft`'s cells, which keep every filter
UNPRUNED_TARGET = "unpruned"


def uniform_widths(plan: RunPlan, full: tuple[int, ...], reduction: float) -> tuple[int, ...]:
    """The widths one ratio for every layer gives at the MACs a global target asks for."""
    macs_of = allocation.scenario_macs(plan.scenario)
    return allocation.allocate(allocation.uniform_scores(full), macs_of,
                               round(macs_of(full) / reduction)).widths


def build_matrix(plan: RunPlan, options: RunOptions) -> Matrix:
    if plan.scenario.backbone_source is not None:
        return transfer_matrix(plan, options)
    scenario, budget = plan.scenario, plan.budget
    available = registry.discover()
    loaded = registry.bind_all(plan.criteria, available)
    full = surgery.widths(scenario.model(budget), scenario.groups)
    device = options.device.type

    def config(name: str, settings: tuple, target, seed: int, version: str = "",
               widths: tuple[int, ...] | None = None, role: Role | None = None) -> CellConfig:
        floor = allocation.FLOOR if target.macs_reduction is not None else None
        fixed = target.resolve(full, scenario.groups) if widths is None else widths
        return CellConfig(scenario.name, name, target.name, fixed, seed, budget, settings,
                          device, version, target.macs_reduction, floor, role or Role())

    uniform = {t.name: uniform_widths(plan, full, t.macs_reduction) for t in plan.targets
               if t.macs_reduction is not None}
    reference = registry.bind_all((CriterionSpec(UNIFORM_BY),), available) \
        if uniform and UNIFORM in plan.controls and UNIFORM_BY in available else {}
    cells: dict[int, list[Cell]] = {}
    for seed in plan.seeds:
        row: list[Cell] = []
        if UNPRUNED_FT in plan.controls:  # one per seed: it removes nothing, whatever the target
            row.append(UnprunedCell(config(UNPRUNED_FT, (), Target(UNPRUNED_TARGET, full), seed,
                                           role=Role.of_control(UNPRUNED_FT))))
        for target in plan.targets:
            row += [PruneCell(config(s.name, s.settings, target, seed,
                                     available[s.name].version), found, available[s.name])
                    for s, found in loaded.items()]
            widths = uniform.get(target.name)
            if widths is not None:  # the global track's uniform row
                row += [PruneCell(config(s.name, (), target, seed, available[s.name].version,
                                         widths, Role(UNIFORM)), found, available[s.name])
                        for s, found in reference.items()]
            row += [ScratchCell(config(name, (), target, seed, widths=widths,
                                   role=Role.of_control(name)), scenario)
                    for name in (SCRATCH_E, SCRATCH_B, LEGACY_SCRATCH) if name in plan.controls]
        cells[seed] = [c for c in row if in_shard(c.config, options.shard)]
    return Matrix(cells, partial(_baseline, plan, options))


def _baseline(plan: RunPlan, options: RunOptions, seed: int, data, on_epoch):
    return get_baseline(plan.scenario, data, plan.budget, seed, options.results, options.device,
                        on_epoch)
