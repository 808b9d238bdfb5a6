"""Frozen descriptions of what a run does, their validation, and a stable hash per cell.

Everything that changes a number in a result goes into `CellConfig`, and only there; its hash names
the result file, so the same cell run twice lands in the same file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from prunebench.errors import PrunebenchError

BUDGETS = ("smoke", "quick", "paper")
#: the rows a board shows beside the criteria, never criteria themselves (protocol v3):
#: the unpruned baseline given the same fine-tuning, the pruned widths trained from scratch
#: epoch-matched and MACs-matched, and on a global target `uniform (l1)`, one ratio per layer
UNPRUNED_FT, SCRATCH_E, SCRATCH_B, UNIFORM = "unpruned-ft", "scratch-e", "scratch-b", "uniform"
CONTROLS = (UNPRUNED_FT, SCRATCH_E, SCRATCH_B, UNIFORM)
LEGACY_SCRATCH = "scratch"  # the first and second editions' name of `scratch-e`


#: what a row of a board is (issue 41): a criterion's result; the global track's `uniform`
#: row (l1 at the widths one ratio per layer gives); or a control (named by the control)
CRITERION, CONTROL = "criterion", "control"
ROLES = (CRITERION, UNIFORM, CONTROL)


@dataclass(frozen=True)
class Role:
    """A row's role, recorded with its cell rather than inferred from its name or widths. It
    follows from what the configuration hash already holds (the criterion's name, a fixed
    width under a global target), so it is no part of the hash."""

    kind: str = CRITERION  # one of ROLES
    control: str | None = None  # a control's name: unpruned-ft, scratch-e, scratch-b, scratch

    def __post_init__(self) -> None:
        if self.kind not in ROLES or (self.kind == CONTROL) != (self.control is not None):
            raise PrunebenchError(f"no row role {self.kind!r} with control {self.control!r}")

    @classmethod
    def of_control(cls, name: str) -> Role:
        return cls(UNIFORM) if name == UNIFORM else cls(CONTROL, name)

    def row(self, criterion_label: str) -> str:
        """The board's row name: a control's own name (the first two editions' `scratch` read
        as `scratch-e`, what it was), `uniform (l1)`, or the criterion's label."""
        if self.kind == CONTROL:
            return SCRATCH_E if self.control == LEGACY_SCRATCH else str(self.control)
        if self.kind == UNIFORM:
            return f"{UNIFORM} ({criterion_label})"
        return criterion_label


def is_control(row: str) -> bool:
    """Whether a board's row name is a control's (`uniform (l1)` included), not a criterion's."""
    return row in CONTROLS or row.startswith(f"{UNIFORM} (")


@dataclass(frozen=True)
class Budget:
    """One schedule, identical for every criterion of a scenario. Epoch counts are per phase;
    `finetune_epochs` is spent after every one of the `steps` pruning steps, and `final_epochs`
    once after the last (see `schedule.py` for the rates)."""

    name: str
    baseline_epochs: int
    baseline_lr: float
    finetune_epochs: int
    finetune_lr: float
    steps: int
    batch_size: int
    calibration_batches: int
    seeds: tuple[int, ...]
    train_limit: int | None = None  # use only the first N training samples (smoke runs)
    test_limit: int | None = None
    image_size: int | None = None  # crop size for image-folder data (None: the row's own)
    speed_batch_sizes: tuple[int, ...] = (1, 64)  # eager speed-up recorded in every result
    momentum: float = 0.9
    weight_decay: float = 5e-4
    #: CPU threads of every computation: a sum's order, and so its last bits, depends on it, so
    #: a cell run with another count is another cell (`--threads` sets it)
    threads: int = 1
    #: how fine-tuning's learning rate moves: "constant" (finetune_lr throughout, the first and
    #: second editions) or "cosine" (from finetune_lr down to finetune_lr_end)
    finetune_schedule: str = "constant"
    finetune_lr_end: float | None = None
    #: whether the decay restarts at every pruning step (True) or runs once across all steps
    finetune_restart: bool = True
    #: a final fine-tuning after the last removal, with its own decay from `final_lr` (None:
    #: finetune_lr) to finetune_lr_end
    final_epochs: int = 0
    final_lr: float | None = None
    #: the one-shot track: one removal from the baseline, no training at all (`one_shot`)
    one_shot: bool = False

    def __post_init__(self) -> None:
        if self.finetune_schedule not in SCHEDULES:
            raise PrunebenchError(f"budget {self.name}: fine-tuning schedule "
                                  f"'{self.finetune_schedule}' is none of {', '.join(SCHEDULES)}")
        if (self.finetune_schedule == "cosine") != (self.finetune_lr_end is not None):
            raise PrunebenchError(f"budget {self.name}: a cosine fine-tuning schedule needs an "
                                  "end rate (finetune_lr_end), a constant one has none")

    def baseline_part(self) -> dict[str, Any]:
        """The fields that decide the baseline weights (its cache key)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("baseline_epochs", "baseline_lr", "batch_size", "train_limit",
                         "image_size", "momentum", "weight_decay", "threads")}

    def hashed(self) -> dict[str, Any]:
        """The fields a cell's hash takes: a field at the value every budget had before it
        existed is left out, so the cells of those budgets keep their hashes."""
        return {k: v for k, v in asdict(self).items()
                if k != "seeds" and not (k in LEGACY and LEGACY[k] == v)}


#: Budget fields added after the second edition, at the values that reproduce it: absent from
#: an older result file's budget, they read as these, and at these they are left out of a hash
LEGACY: dict[str, Any] = {"finetune_schedule": "constant", "finetune_lr_end": None,
                          "finetune_restart": True, "final_epochs": 0, "final_lr": None,
                          "one_shot": False}
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Target:
    """How far to prune: explicit per-group widths, a uniform ratio of filters removed, or a
    MACs reduction whose widths each criterion's scores choose (global allocation)."""

    name: str
    widths: tuple[int, ...] | None = None
    ratio: float | None = None
    macs_reduction: float | None = None

    def resolve(self, full: Sequence[int], group_names: Sequence[str]) -> tuple[int, ...]:
        """Filters kept per group, validated against the unpruned widths `full`; none for a
        MACs reduction, whose widths are chosen in each cell."""
        if self.macs_reduction is not None:
            return ()
        if self.widths is not None:
            check_widths(self.widths, full, group_names)
            return tuple(self.widths)
        assert self.ratio is not None
        return tuple(max(1, n - math.floor(n * self.ratio + 1e-9)) for n in full)


def ratio_target(name: str) -> Target | None:
    """`ratio-0.3`: that fraction of every layer's filters removed; None for any other name."""
    found = re.fullmatch(r"ratio-(\d*\.?\d+)", name)
    if found is None:
        return None
    return Target(name, ratio=parse_ratio(found.group(1)))


def one_shot(budget: Budget) -> Budget:
    """The one-shot track's budget beside `budget`: the same baseline (its cache key is
    unchanged), one removal and no training at all, so a cell costs calibration, scoring and
    evaluation; `<name>-one-shot` keeps its tables apart."""
    return replace(budget, name=f"{budget.name}-one-shot", steps=1, finetune_epochs=0,
                   final_epochs=0, one_shot=True)


#: the one-shot track's default targets: a sweep of uniform fractions and two global targets
ONE_SHOT_SWEEP = (*(f"ratio-0.{i}" for i in range(1, 10)), "macs-2x", "macs-4x")


def macs_target(name: str) -> Target | None:
    """`macs-2x`, `macs-2.5x`: the MACs divided by that factor, widths allocated globally; None
    for any other name."""
    found = re.fullmatch(r"macs-(\d+(?:\.\d+)?)x", name)
    if found is None:
        return None
    factor = float(found.group(1))
    if factor <= 1:
        raise PrunebenchError(f"target {name}: the MACs reduction must be more than 1, e.g. "
                              "macs-2x")
    return Target(name, macs_reduction=factor)


Setting = tuple[str, Any]  # (keyword, value): one constructor argument of a criterion


def setting_text(value: object) -> str:
    """A setting's value as a row name writes it."""
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class CriterionSpec:
    """A criterion by its entry-point name and the constructor arguments it runs with. Two
    settings of one criterion are two rows of a board; defaults are left out of `settings`."""

    name: str
    settings: tuple[Setting, ...] = ()

    @property
    def label(self) -> str:
        """The row name: `stability (lam=5e-06)`; plain `stability` with default settings."""
        if not self.settings:
            return self.name
        return f"{self.name} ({', '.join(f'{k}={setting_text(v)}' for k, v in self.settings)})"

    def kwargs(self) -> dict[str, Any]:
        return dict(self.settings)


@dataclass(frozen=True)
class CellConfig:
    """One cell of the matrix: one criterion (with its settings) on one scenario, target and
    seed, computed on one kind of device."""

    scenario: str
    criterion: str
    target: str
    widths: tuple[int, ...]
    seed: int
    budget: Budget
    settings: tuple[Setting, ...] = ()
    device: str = "cpu"  # a GPU sums in another order than a CPU: another cell
    #: the version of the distribution that supplied the criterion: a new version may choose
    #: other filters, so its cells are other cells ("" for the reference row)
    criterion_version: str = ""
    #: a global target: the MACs divided by this factor, widths chosen from the criterion's
    #: scores, every layer keeping at least `floor` of its filters (None: fixed widths)
    macs_reduction: float | None = None
    floor: float | None = None
    role: Role = Role()  # follows from the fields above: not hashed

    @property
    def spec(self) -> CriterionSpec:
        return CriterionSpec(self.criterion, self.settings)

    @property
    def label(self) -> str:
        return self.spec.label

    def hash(self) -> str:
        payload = asdict(self)
        del payload["role"]
        for key in ("settings", "criterion_version", "macs_reduction", "floor"):
            if payload[key] is None or payload[key] in ((), ""):  # absent: the hash as it was
                del payload[key]
        payload["budget"] = self.budget.hashed()  # its seed list left out: the cell has one
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()
                              ).hexdigest()[:16]


def rounded(target: Target, full: Sequence[int], group_names: Sequence[str],
            multiple: int) -> Target:
    """The target with every width rounded up to a multiple of `multiple` (at most the layer's
    own width), as a target of its own: odd widths can leave a device's fast kernels unused."""
    if not 1 <= multiple <= max(full):
        raise PrunebenchError(f"--round-to {multiple} must be a positive integer up to the "
                              f"widest layer's {max(full)} filters, e.g. 8")
    if target.macs_reduction is not None:
        raise PrunebenchError(f"--round-to rounds fixed widths; target {target.name} lets each "
                              "criterion choose its widths")
    widths = target.resolve(full, group_names)
    up = tuple(min(n, -(-w // multiple) * multiple) for w, n in zip(widths, full))
    return Target(f"{target.name}-r{multiple}", widths=up)


def in_shard(cell: CellConfig, shard: tuple[int, int] | None) -> bool:
    """Whether `cell` belongs to the shard; cells are dealt by their stable config hash."""
    return shard is None or int(cell.hash(), 16) % shard[1] == shard[0] - 1


def check_widths(widths: Sequence[int], full: Sequence[int], group_names: Sequence[str]) -> None:
    if len(widths) != len(full):
        raise PrunebenchError(
            f"--widths has {len(widths)} values but the scenario has {len(full)} prunable layers "
            f"({', '.join(group_names)}); give one width per layer"
        )
    for w, n, g in zip(widths, full, group_names):
        if not 1 <= w <= n:
            raise PrunebenchError(f"width {w} for layer {g} must be between 1 and its {n} filters")


def parse_ratio(text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        raise PrunebenchError(f"--ratio '{text}' is not a number; give a fraction like "
                              "0.5") from None
    if not 0.0 < ratio < 1.0:
        raise PrunebenchError(f"--ratio {text} must be strictly between 0 and 1 (the fraction "
                              "removed)")
    return ratio
