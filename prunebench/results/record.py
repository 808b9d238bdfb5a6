"""The result record, typed: what one cell was, what made it, and what it measured.

`Record.to_json` is the only writer of a result file's fields and `Record.from_json` the only
reader; everything else (boards, figures, `show`, `rerun`, transfer cells) works on the typed
values. A file of schema version 1 is upgraded on reading (`upgrade_v1`), so results written
before version 2 still render and rerun. Version 2 differs from 1 in three ways: a model's task
metrics sit under `metrics` instead of beside its size, the budget always records its thread
count, and the criterion always records its settings. Version 3 records each row's `role`
(criterion, uniform or a named control) instead of the boolean `reference`, from which, with the
target's widths, a board used to infer it (`upgrade_v2` infers it once, for older files).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from prunebench.errors import PrunebenchError
from prunebench.protocol.config import (
    CONTROL,
    CRITERION,
    LEGACY,
    ROLES,
    UNIFORM,
    Budget,
    CriterionSpec,
    Role,
)
from prunebench.results.fields import cut, problem

SCHEMA_VERSION = 3
STATUSES = ("ok", "failed", "not-applicable")
DONE = ("ok", "not-applicable")  # statuses a rerun would not change; failed cells are retried
#: what a name that becomes part of a file name may look like
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SIZE = ("params", "macs", "macs_per_layer", "trm_bytes")  # a model's size, beside its metrics


class RecordError(ValueError):
    """Why a JSON value is not a result this prunebench can use (one clause: "it lacks seed")."""


def safe_name(text: object) -> bool:
    """Whether `text` can become part of a file name without leaving its folder."""
    return isinstance(text, str) and SAFE_NAME.fullmatch(text) is not None and ".." not in text


@dataclass(frozen=True)
class Criterion:
    """Who chose the filters: the entry point's name and settings, and the plugin it came from
    (None for the reference row)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    @property
    def spec(self) -> CriterionSpec:
        return CriterionSpec(self.name, tuple(sorted(self.settings.items())))

    @property
    def label(self) -> str:
        """The board's row name: `stability (lam=5e-06)`."""
        return self.spec.label

    @property
    def plugin(self) -> str:
        return f"{self.distribution} {self.version}" if self.distribution else "–"


@dataclass(frozen=True)
class Measures:
    """One model's size (measure.architecture.model_size) and its task metrics (top1, ap, and
    `<headline>_before_finetune` for a pruned model; None where a kind of cell has none)."""

    params: int
    macs: int
    macs_per_layer: dict[str, int]
    trm_bytes: dict[int, int]  # run-time memory (seed 001 eq. 16) by batch size
    metrics: dict[str, Any]

    @classmethod
    def of_flat(cls, flat: dict[str, Any]) -> Measures:
        """From a dict holding size and metrics side by side (model_size merged with a task's
        evaluate, and every version-1 record)."""
        return cls(flat["params"], flat["macs"], dict(flat["macs_per_layer"]),
                   {int(k): v for k, v in flat["trm_bytes"].items()},
                   {k: v for k, v in flat.items() if k not in _SIZE})

    def with_metrics(self, **metrics: Any) -> Measures:
        return replace(self, metrics={**self.metrics, **metrics})


@dataclass(frozen=True)
class Cost:
    """What a cell spent: its criterion's own wall time, the sparsity epochs it asked for, the
    calibration samples it saw, and (set by the runner) the whole cell's wall time."""

    criterion_seconds: float = 0.0
    sparsity_epochs: float = 0.0
    calibration_samples: int = 0
    training_epochs: float | None = None  # the scratch row trains from random weights
    cell_seconds: float | None = None
    refit_seconds: float | None = None  # a reconstruction's refit, within criterion_seconds


@dataclass(frozen=True)
class Timing:
    """One model's latency at one batch size (measure.speed): the backend that ran it and the
    median and quartiles of its repeats."""

    backend: str
    median_ms: float
    p25_ms: float | None = None
    p75_ms: float | None = None


@dataclass(frozen=True)
class SpeedRow:
    """One speed measurement of a cell (measure.speed's row): a runtime and batch size on one
    device, the two models' timings, the real and theoretical speed-up; or, where it could not
    be measured, the error."""

    batch_size: int
    runtime: str
    device: str
    error: str | None = None
    backend_original: str | None = None
    backend_pruned: str | None = None
    original: Timing | None = None
    pruned: Timing | None = None
    speedup_real: float | None = None
    speedup_theoretical: float | None = None
    throughput_original: float | None = None
    throughput_pruned: float | None = None
    efficiency: float | None = None
    speedup_runs: tuple[float, ...] | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> SpeedRow:
        timings = {k: Timing(**v[k]) for k in ("original", "pruned") if v.get(k) is not None}
        runs = v.get("speedup_runs")
        return cls(**{**v, **timings,
                      **({"speedup_runs": tuple(runs)} if runs is not None else {})})

    def to_json(self) -> dict[str, Any]:
        return _present(asdict(self))


#: the keys of a history entry that are not the task's metrics
STEP_KEYS = ("step", "widths", "kept", "curve", "refit_error", "macs_target", "at_floor",
             "allocated_by", "settled_by", "before_removal", "reused_from")


@dataclass(frozen=True)
class Step:
    """One pruning step of a cell's history: the widths reached and the filters each layer
    kept, the task's metrics after the step's fine-tuning (and `<headline>_before_finetune`),
    the headline after each of its epochs; on a global target how the widths were allocated;
    for a refitting criterion the reconstruction error; for a sparsity criterion the headline
    before the removal."""

    step: int
    metrics: dict[str, Any] = field(default_factory=dict)
    widths: tuple[int, ...] | None = None
    kept: dict[str, list[int]] | None = None
    curve: tuple[float, ...] | None = None
    refit_error: dict[str, Any] | None = None
    macs_target: int | None = None
    at_floor: tuple[str, ...] | None = None
    allocated_by: str | None = None
    settled_by: int | None = None
    before_removal: float | None = None
    #: the cell whose bit-identical fine-tuning phase this step took instead of training
    reused_from: str | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Step:
        """From a history entry as files (and step checkpoints) keep it: flat, the metrics
        beside the other keys."""
        known: dict[str, Any] = {k: v[k] for k in STEP_KEYS if k in v}
        known.update({k: tuple(v[k]) for k in ("widths", "curve", "at_floor")
                      if v.get(k) is not None})
        return cls(**known, metrics={k: x for k, x in v.items() if k not in STEP_KEYS})

    def to_json(self) -> dict[str, Any]:
        flat = _present(asdict(self))
        return {**{k: flat[k] for k in STEP_KEYS if k in flat}, **self.metrics}


def _present(v: dict[str, Any]) -> dict[str, Any]:
    """A dataclass's JSON without the fields it does not have (None), tuples as lists."""
    return {k: list(x) if isinstance(x, tuple) else x for k, x in v.items() if x is not None}


@dataclass(frozen=True)
class Measured:
    """What a cell that ran to its end measured: the part of a record a cell returns."""

    original_widths: tuple[int, ...]
    pruned_widths: tuple[int, ...]
    baseline: Measures
    pruned: Measures
    cost: Cost
    speed: tuple[SpeedRow, ...] = ()  # measure.speed's rows, one per device and batch
    history: tuple[Step, ...] = ()  # per pruning step: widths, kept filters, metrics
    criterion_report: dict[str, Any] = field(default_factory=dict)
    model_file: str | None = None  # the pruned model, with --save-models
    #: with --save-models, per format (formats.FORMATS): its file, bytes, exporter and parity
    exports: dict[str, Any] = field(default_factory=dict)
    backbone_from: str | None = None  # transfer: the config hash of the backbone's cell
    pruned_by: Criterion | None = None  # transfer: who pruned the backbone
    #: the headline after every epoch of the final phase (the budget's `final_epochs`); each
    #: step's epochs are in its history entry's `curve`
    final_curve: tuple[float, ...] = ()
    #: the cell whose bit-identical final phase this cell took instead of training (reuse.py)
    final_reused_from: str | None = None

    def one_shot(self, headline: str) -> float | None:
        """The headline right after the first removal from the unpruned baseline, before any
        fine-tuning (after the criterion's own sparsity epochs, if it asks for any): how well
        its choice does on its own. None for a cell that removed nothing (a control)."""
        value = self.history[0].metrics.get(f"{headline}_before_finetune") if self.history \
            else None
        return value if isinstance(value, (int, float)) else None

    @property
    def note(self) -> str | None:
        """What the criterion's report asks the board to print under its row (its `note`)."""
        note = self.criterion_report.get("note")
        return note if isinstance(note, str) and note else None

    def curve(self) -> list[float]:
        """The headline after every fine-tuning epoch, the steps' and the final phase's, in
        order; empty for a cell made before these were recorded."""
        steps = [v for entry in self.history for v in entry.curve or ()]
        return steps + list(self.final_curve)


@dataclass(frozen=True)
class Failure:
    """How a cell ended without measurements: `failed` or `not-applicable`, and why."""

    status: str
    error: str


@dataclass(frozen=True)
class Environment:
    """Versions, hardware and commit of the process that computed a cell (results.environment)."""

    prunebench: str
    git_commit: str
    python: str
    packages: dict[str, str]
    platform: str
    cpu: str
    cpu_count: int
    torch_threads: int
    device: str
    gpu: str | None
    cpu_capability: str = "unknown"  # AVX512, AVX2, ...: speed ratios depend on it

    @property
    def machine(self) -> str:
        """The CPU and its instruction set, e.g. `AMD EPYC (AVX512)`: training on another one
        gives other weights (even at the same instruction set), and other speed ratios."""
        return f"{self.cpu} ({self.cpu_capability})"


@dataclass(frozen=True)
class LayerSpeed:
    """One layer of a per-layer speed report (`prunebench speed --per-layer B`): its MACs and
    latency before and after pruning; `rest` is the pass outside conv and linear layers."""

    layer: str
    ms_original: float
    ms_pruned: float
    macs_original: int | None = None
    macs_pruned: int | None = None
    speedup_theoretical: float | None = None
    speedup_real: float | None = None
    gmacs_original: float | None = None
    gmacs_pruned: float | None = None

    @property
    def efficiency(self) -> float | None:
        """Real over theoretical speed-up, where both exist."""
        if self.speedup_theoretical and self.speedup_real:
            return self.speedup_real / self.speedup_theoretical
        return None


#: a row's keys that repeat its sweep's (written by `prunebench speed`, read back as the sweep's)
_SWEEP_KEYS = ("scenario", "target", "batch_size", "device")


@dataclass(frozen=True)
class SpeedSweep:
    """A saved `prunebench speed --results` measurement (schema version 1): one architecture
    against its unpruned original on one device, every runtime and batch size (`rows`), or, with
    `layers` (its batch size), a per-layer report (`layer_rows`)."""

    scenario: str
    target: str
    widths: tuple[int, ...]
    repeats: int
    command: str
    environment: Environment
    device: str
    rows: tuple[SpeedRow, ...] = ()
    layers: int | None = None
    layer_rows: tuple[LayerSpeed, ...] = ()

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> SpeedSweep:
        """A sweep file's JSON value, already checked (`results.store.speed_problem`)."""
        rows = [dict(row) for row in v["rows"]]
        device = str(rows[0]["device"])
        layers = v.get("layers")
        common = dict(scenario=v["scenario"], target=v["target"], widths=tuple(v["widths"]),
                      repeats=v["repeats"], command=cut(v["command"]), device=device,
                      environment=Environment(**v["environment"]))
        if layers is not None:
            return cls(**common, layers=layers, layer_rows=tuple(
                LayerSpeed(**{k: x for k, x in row.items() if k not in _SWEEP_KEYS})
                for row in rows))
        return cls(**common, rows=tuple(SpeedRow.from_json(
            {k: x for k, x in row.items() if k not in ("scenario", "target")}) for row in rows))


@dataclass(frozen=True)
class Record:
    """One cell's result file."""

    scenario: str
    task: str
    headline: str  # the task's headline metric: top1, ap, ...
    criterion: Criterion
    target: str
    widths: tuple[int, ...]  # the target's widths
    seed: int
    budget: Budget
    config_hash: str
    data: str
    device: str
    command: str
    environment: Environment
    status: str = "ok"  # one of STATUSES
    error: str | None = None
    measured: Measured | None = None  # present exactly when status is ok
    role: Role = Role()  # a criterion's result, the `uniform` row or a control
    baseline_checkpoint: str | None = None
    #: sha256 of the baseline's weights (baseline.weights_digest): one seed's cells are paired
    #: only if they started from the same weights, and training is not bit-reproducible
    #: across CPU instruction sets
    baseline_digest: str | None = None
    ranks: int = 1
    run_started: str | None = None
    started: str | None = None
    finished: str | None = None
    cell_seconds: float | None = None
    rerun: str | None = None  # `prunebench rerun FILE` when the record was made again
    #: a global target: MACs divided by this, widths chosen per cell, each layer's floor
    macs_reduction: float | None = None
    floor: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def reference(self) -> bool:
        """A control row: not a criterion's result."""
        return self.role.kind == CONTROL

    @property
    def label(self) -> str:
        """The row name (`Role.row`)."""
        return self.role.row(self.criterion.label)

    def done(self) -> bool:
        """Whether a run would leave it as it is (failed cells are retried)."""
        return self.status in DONE

    def to_json(self) -> dict[str, Any]:
        """The file's JSON value (schema version 3)."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "scenario": self.scenario, "task": self.task,
            "headline": self.headline, "criterion": asdict(self.criterion),
            "target": {"name": self.target, "widths": list(self.widths),
                       **({"macs_reduction": self.macs_reduction, "floor": self.floor}
                          if self.macs_reduction is not None else {})}, "seed": self.seed,
            "budget": asdict(self.budget), "config_hash": self.config_hash, "data": self.data,
            "device": self.device, "command": self.command,
            "environment": asdict(self.environment), "status": self.status, "error": self.error,
            "role": asdict(self.role), "baseline_checkpoint": self.baseline_checkpoint,
            "ranks": self.ranks, "run_started": self.run_started, "started": self.started,
            "finished": self.finished, "cost": {"cell_seconds": self.cell_seconds},
        }
        if self.baseline_digest:
            out["baseline_digest"] = self.baseline_digest
        if self.rerun:
            out["rerun"] = self.rerun
        m = self.measured
        if m is not None:
            cost = {k: v for k, v in asdict(m.cost).items() if v is not None}
            out.update({
                "widths": {"original": list(m.original_widths), "pruned": list(m.pruned_widths)},
                "baseline": asdict(m.baseline), "pruned": asdict(m.pruned),
                "cost": {**cost, "cell_seconds": self.cell_seconds},
                "speed": [row.to_json() for row in m.speed],
                "history": [step.to_json() for step in m.history],
                "criterion_report": m.criterion_report})
            extra = {"model_file": m.model_file, "exports": m.exports or None,
                     "backbone_from": m.backbone_from,
                     "pruned_by": asdict(m.pruned_by) if m.pruned_by else None,
                     "final_curve": list(m.final_curve) or None,
                     "final_reused_from": m.final_reused_from}
            out.update({k: v for k, v in extra.items() if v is not None})
        return out

    @classmethod
    def from_json(cls, value: object) -> Record:
        """The record a file's JSON value holds; RecordError says why it cannot be used."""
        if not isinstance(value, dict):
            raise RecordError("it is not a JSON object")
        found = value.get("schema_version")
        if found == 1:
            value = upgrade_v1(value)
        if found in (1, 2):
            value = upgrade_v2(value)
        elif found != SCHEMA_VERSION:
            raise RecordError(f"it has schema version {found}, this prunebench reads "
                              f"{SCHEMA_VERSION}, 2 and 1; rerun it or use the prunebench version "
                              "that wrote it")
        try:
            return _record(value)
        except RecordError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, PrunebenchError) as exc:
            raise RecordError(f"it is malformed ({type(exc).__name__}: {exc})") from None


def lost_baseline(records: Iterable[Record], saved: Callable[[str], bool]) -> list[Record]:
    """The finished records whose baseline checkpoint is gone (`saved` says whether a path
    relative to the results folder is there): training is not bit-reproducible across CPUs, so
    only a CPU that made them (`made_on`) can retrain the weights their seed started from."""
    return [r for r in records if r.measured is not None and r.baseline_checkpoint
            and not saved(r.baseline_checkpoint)]


def made_on(records: Iterable[Record]) -> list[str]:
    """The distinct CPUs, with their instruction sets, that made `records`."""
    return sorted({r.environment.machine for r in records})


_REQUIRED: dict[str, type] = {
    "scenario": str, "status": str, "criterion": dict, "target": dict, "seed": int,
    "budget": dict, "headline": str, "environment": dict, "command": str, "data": str}


def _record(v: dict[str, Any]) -> Record:
    missing = [k for k, kind in _REQUIRED.items() if not isinstance(v.get(k), kind)]
    if v.get("status") == "ok":
        missing += [k for k in ("baseline", "pruned", "widths", "cost") if
                    not isinstance(v.get(k), dict)]
    if missing:
        raise RecordError(f"it lacks {', '.join(missing)}")
    names = {"scenario": v["scenario"], "target": v["target"].get("name"),
             "budget": v["budget"].get("name"), "criterion": v["criterion"].get("name")}
    unsafe = [f"{k} {n!r}" for k, n in names.items() if not safe_name(n)]
    if unsafe:
        raise RecordError(f"its {', '.join(unsafe)} cannot name a file (letters, digits, '.', "
                          "'_', '-')")
    if v["status"] not in STATUSES:
        raise RecordError(f"its status {v['status']!r} is none of {', '.join(STATUSES)}")
    wrong = problem(v)
    if wrong:
        raise RecordError(wrong)
    budget = v["budget"]
    lacking = [f"budget.{f.name}" for f in fields(Budget)
               if f.name not in budget and f.name not in LEGACY]
    if lacking:  # a version-2 budget is whole: a default would be a silent guess (fields added
        raise RecordError(f"it lacks {', '.join(lacking)}")  # later read as they were before)
    cost = v.get("cost") or {}
    return Record(
        scenario=v["scenario"], task=v.get("task", ""), headline=v["headline"],
        criterion=Criterion(**v["criterion"]), target=v["target"]["name"],
        widths=tuple(v["target"]["widths"]), seed=v["seed"],
        budget=Budget(**{**LEGACY, **budget, "seeds": tuple(budget["seeds"]),
                         "speed_batch_sizes": tuple(budget["speed_batch_sizes"])}),
        config_hash=v.get("config_hash", ""), data=v["data"], device=v.get("device", "cpu"),
        command=cut(v["command"]), environment=Environment(**v["environment"]),
        status=v["status"], error=cut(v.get("error")),
        measured=_measured(v) if v["status"] == "ok" else None,
        role=_role(v), baseline_checkpoint=v.get("baseline_checkpoint"),
        baseline_digest=v.get("baseline_digest"), ranks=v.get("ranks", 1),
        run_started=v.get("run_started"), started=v.get("started"),
        finished=v.get("finished"), cell_seconds=cost.get("cell_seconds"), rerun=v.get("rerun"),
        macs_reduction=v["target"].get("macs_reduction"), floor=v["target"].get("floor"))


def _role(v: dict[str, Any]) -> Role:
    """The recorded role, checked."""
    role = v.get("role")
    if not isinstance(role, dict):
        raise RecordError("it lacks role")
    kind, control = role.get("kind"), role.get("control")
    if kind not in ROLES or set(role) - {"kind", "control"}:
        raise RecordError(f"its role {kind!r} is none of {', '.join(ROLES)}")
    if (kind == CONTROL) != (control is not None) or not (control is None or safe_name(control)):
        raise RecordError(f"its role {kind!r} names the control {control!r}")
    return Role(kind, control)


def _measured(v: dict[str, Any]) -> Measured:
    cost = {k: x for k, x in v["cost"].items() if k != "cell_seconds"}
    return Measured(
        tuple(v["widths"]["original"]), tuple(v["widths"]["pruned"]), _measures(v["baseline"]),
        _measures(v["pruned"]), Cost(**cost),
        tuple(SpeedRow.from_json(row) for row in v.get("speed", ())),
        tuple(Step.from_json(step) for step in v.get("history", ())),
        dict(v.get("criterion_report") or {}), v.get("model_file"),
        dict(v.get("exports") or {}), v.get("backbone_from"),
        Criterion(**v["pruned_by"]) if v.get("pruned_by") else None,
        tuple(v.get("final_curve") or ()), v.get("final_reused_from"))


def _measures(v: dict[str, Any]) -> Measures:
    return Measures(v["params"], v["macs"], dict(v["macs_per_layer"]),
                    {int(k): n for k, n in v["trm_bytes"].items()}, dict(v["metrics"]))


def upgrade_v1(v1: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record as version 2: task metrics move under `metrics`; the budget gets the
    thread count version 1 kept in the environment; the criterion gets its settings (none, where
    version 1 had no key); a transfer cell's `criterion` entry, who pruned the backbone, was
    also its row's criterion; deep-feature-kmeans's report gets the `note` that names its model
    B on the board."""
    v = copy.deepcopy(v1)
    v["schema_version"] = 2
    _each_dict(v, "budget", lambda b: b.setdefault(
        "threads", (v.get("environment") or {}).get("torch_threads", 1)))
    _each_dict(v, "criterion", lambda c: c.setdefault("settings", {}))
    for key in ("baseline", "pruned"):
        if isinstance(v.get(key), dict) and "metrics" not in v[key]:
            v[key] = {**{k: x for k, x in v[key].items() if k in _SIZE},
                      "metrics": {k: x for k, x in v[key].items() if k not in _SIZE}}
    if v.get("backbone_from") and isinstance(v.get("criterion"), dict):
        v["pruned_by"] = v["criterion"]
    report = v.get("criterion_report")
    if isinstance(report, dict) and "model_b_weights" in report and "note" not in report:
        # version 1's deep-feature-kmeans named its model B (always VGG-16) in its report only
        report["note"] = f"model B: vgg16, {report['model_b_weights']}"
    return v


def upgrade_v2(v2: dict[str, Any]) -> dict[str, Any]:
    """A version-2 record as version 3: the row's role, which version 2 left to be inferred,
    from what implied it: a `reference` row is a control named by its criterion (`scratch`, the
    first two editions' scratch-e, keeps its name), a row at fixed widths under a global target
    is the `uniform` row, any other a criterion's."""
    v = copy.deepcopy(v2)
    v["schema_version"] = SCHEMA_VERSION
    target: dict[str, Any] = v["target"] if isinstance(v.get("target"), dict) else {}
    if v.pop("reference", False) and isinstance(v.get("criterion"), dict):
        v["role"] = {"kind": CONTROL, "control": v["criterion"].get("name")}
    elif target.get("macs_reduction") is not None and target.get("widths"):
        v["role"] = {"kind": UNIFORM, "control": None}
    else:
        v["role"] = {"kind": CRITERION, "control": None}
    return v


def _each_dict(v: dict[str, Any], key: str, change: Callable[[dict[str, Any]], object]) -> None:
    if isinstance(v.get(key), dict):
        change(v[key])
