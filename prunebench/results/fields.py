"""A result file's fields checked one by one before a board trusts them (issue 39).

A result folder is input like any other: a file edited by hand, written by another program or
planted may hold a NaN, a string where a number belongs, a speed row without its keys or a
path leading out of the folder. `problem(value)` names the first such field in one clause
("its pruned.metrics.top1 is nan, not a finite number"), so the file is skipped with a warning
instead of crashing the board three modules later.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import PurePosixPath
from typing import Any, overload

from prunebench.protocol.config import Budget

#: the most characters of free text (a command, an error) a board copies from a record
MAX_TEXT = 2_000
ENVIRONMENT_TEXT = ("prunebench", "git_commit", "python", "platform", "cpu", "device")
ENVIRONMENT_KEYS = {*ENVIRONMENT_TEXT, "packages", "cpu_count", "torch_threads", "gpu",
                    "cpu_capability"}
CRITERION_KEYS = {"name", "settings", "distribution", "version", "entry_point"}
COST_KEYS = {"criterion_seconds", "sparsity_epochs", "calibration_samples", "training_epochs",
             "cell_seconds", "refit_seconds"}
SPEED_NUMBERS = ("speedup_real", "speedup_theoretical")
#: the budget's whole numbers, each with its least value, and its rates
BUDGET_COUNTS = {"baseline_epochs": 0, "finetune_epochs": 0, "steps": 1, "batch_size": 1,
                 "calibration_batches": 0, "threads": 1, "final_epochs": 0, "train_limit": 1,
                 "test_limit": 1, "image_size": 1}
BUDGET_RATES = ("baseline_lr", "finetune_lr", "momentum", "weight_decay", "finetune_lr_end",
                "final_lr")
BUDGET_OPTIONAL = ("train_limit", "test_limit", "image_size", "finetune_lr_end", "final_lr")
SPEED_TEXT = ("device", "runtime")


class FieldError(ValueError):
    """One field of a record that is not what it must be."""


def problem(v: dict[str, Any]) -> str | None:
    """Why the record's JSON value `v` (its required keys present) cannot be trusted, or None."""
    try:
        _check(v)
    except FieldError as exc:
        return str(exc)
    return None


def _check(v: dict[str, Any]) -> None:
    _integer(v["seed"], "seed", minimum=0)
    _integer(v.get("ranks", 1), "ranks", minimum=1)
    for key in ("config_hash", "device", "task"):
        _text(v.get(key, ""), key)
    for key in ("error", "baseline_checkpoint", "baseline_digest", "model_file",
                "final_reused_from"):
        if v.get(key) is not None:
            _text(v[key], key)
    target = v["target"]
    _text(target.get("name"), "target.name")
    _integers(target.get("widths"), "target.widths")
    for key in ("macs_reduction", "floor"):
        if target.get(key) is not None:
            _number(target[key], f"target.{key}", positive=True)
    _criterion(v["criterion"], "criterion")
    _budget(v["budget"])
    _environment(v["environment"])
    if v["status"] == "ok":
        _measured(v)


def _measured(v: dict[str, Any]) -> None:
    for part in ("baseline", "pruned"):
        _measures(v[part], part)
    widths = v["widths"]
    for key in ("original", "pruned"):
        _integers(widths.get(key), f"widths.{key}")
    unknown = sorted(set(v["cost"]) - COST_KEYS)
    if unknown:
        raise FieldError(f"its cost has unknown keys {unknown}")
    for key, value in v["cost"].items():
        if value is not None:
            _number(value, f"cost.{key}")
    for i, row in enumerate(_list(v.get("speed", []), "speed")):
        _speed_row(row, f"speed[{i}]")
    for i, entry in enumerate(_list(v.get("history", []), "history")):
        if not isinstance(entry, dict):
            raise FieldError(f"its history[{i}] is not an object")
        if entry.get("reused_from") is not None:
            _text(entry["reused_from"], f"history[{i}].reused_from")
    for i, value in enumerate(_list(v.get("final_curve") or [], "final_curve")):
        _number(value, f"final_curve[{i}]")
    for key in ("criterion_report", "exports"):
        if v.get(key) is not None and not isinstance(v[key], dict):
            raise FieldError(f"its {key} is {type(v[key]).__name__}, not an object")
    for name, export in (v.get("exports") or {}).items():
        if not isinstance(export, dict):
            raise FieldError(f"its exports.{name} is {type(export).__name__}, not an object")
        if export.get("file") is not None:
            inside(export["file"], f"exports.{name}.file")
    if v.get("model_file") is not None:
        inside(v["model_file"], "model_file")
    if v.get("pruned_by") is not None:
        _criterion(v["pruned_by"], "pruned_by")


def inside(path: object, where: str) -> None:
    """A path a record names must stay inside the results folder: relative, without `..`."""
    _text(path, where)
    parts = PurePosixPath(str(path).replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or str(path).startswith(("/", "\\")) \
            or ":" in str(path):
        raise FieldError(f"its {where} {str(path)[:80]!r} leads out of the results folder")


def _measures(v: object, where: str) -> None:
    if not isinstance(v, dict):
        raise FieldError(f"its {where} is not an object")
    for key in ("params", "macs"):
        _integer(v.get(key), f"{where}.{key}", minimum=0)
    for key in ("macs_per_layer", "trm_bytes", "metrics"):
        if not isinstance(v.get(key), dict):
            raise FieldError(f"its {where}.{key} is not an object")
    for layer, macs in v["macs_per_layer"].items():
        _integer(macs, f"{where}.macs_per_layer.{layer}", minimum=0)
    for batch, size in v["trm_bytes"].items():
        if not str(batch).isdigit():
            raise FieldError(f"its {where}.trm_bytes has the batch size {str(batch)[:20]!r}")
        _integer(size, f"{where}.trm_bytes.{batch}", minimum=0)
    for name, value in v["metrics"].items():
        if value is not None:
            _number(value, f"{where}.metrics.{name}")


def _speed_row(row: object, where: str) -> None:
    if not isinstance(row, dict):
        raise FieldError(f"its {where} is not an object")
    _integer(row.get("batch_size"), f"{where}.batch_size", minimum=1)
    for key in SPEED_NUMBERS:
        _number(row.get(key), f"{where}.{key}")
    for key in SPEED_TEXT:
        _text(row.get(key), f"{where}.{key}")
    for side in ("original", "pruned"):
        timing = row.get(side)
        if not isinstance(timing, dict):
            raise FieldError(f"its {where}.{side} is not an object")
        _number(timing.get("median_ms"), f"{where}.{side}.median_ms", positive=True)


def _criterion(v: object, where: str) -> None:
    if not isinstance(v, dict):
        raise FieldError(f"its {where} is not an object")
    unknown = sorted(set(v) - CRITERION_KEYS)
    if unknown:
        raise FieldError(f"its {where} has unknown keys {unknown}")
    _text(v.get("name"), f"{where}.name")
    if not isinstance(v.get("settings", {}), dict):
        raise FieldError(f"its {where}.settings is not an object")
    for key in ("distribution", "version", "entry_point"):
        if v.get(key) is not None:
            _text(v[key], f"{where}.{key}")


def _budget(v: dict[str, Any]) -> None:
    unknown = sorted(set(v) - {f.name for f in fields(Budget)})
    if unknown:
        raise FieldError(f"its budget has unknown keys {unknown}")
    for key, value in v.items():
        where = f"budget.{key}"
        if key in BUDGET_COUNTS:
            if value is not None or key not in BUDGET_OPTIONAL:
                _integer(value, where, minimum=BUDGET_COUNTS[key])
        elif key in BUDGET_RATES:
            if value is not None or key not in BUDGET_OPTIONAL:
                _number(value, where)
        elif key in ("finetune_restart", "one_shot"):
            if not isinstance(value, bool):
                raise FieldError(f"its {where} is {_shown(value)}, not true or false")
        elif key in ("seeds", "speed_batch_sizes"):
            _integers(value, where)
        else:
            _text(value, where)


def _environment(v: dict[str, Any]) -> None:
    unknown = sorted(set(v) - ENVIRONMENT_KEYS)
    if unknown:
        raise FieldError(f"its environment has unknown keys {unknown}")
    for key in ENVIRONMENT_TEXT:
        _text(v.get(key), f"environment.{key}")
    for key in ("cpu_count", "torch_threads"):
        _integer(v.get(key), f"environment.{key}", minimum=1)
    packages = v.get("packages")
    if not isinstance(packages, dict) or not all(isinstance(x, str) for x in packages.values()):
        raise FieldError("its environment.packages is not an object of versions")


def _list(value: object, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):  # a tuple: a record not yet written as JSON
        raise FieldError(f"its {where} is {type(value).__name__}, not a list")
    return value


def _text(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise FieldError(f"its {where} is {_shown(value)}, not text")


def _number(value: object, where: str, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"its {where} is {_shown(value)}, not a number")
    if not math.isfinite(value):
        raise FieldError(f"its {where} is {value}, not a finite number")
    if positive and value <= 0:
        raise FieldError(f"its {where} is {value}, not above 0")


def _integer(value: object, where: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"its {where} is {_shown(value)}, not a whole number")
    if value < minimum:
        raise FieldError(f"its {where} is {value}, below {minimum}")


def _integers(value: object, where: str) -> None:
    for i, item in enumerate(_list(value, where)):
        _integer(item, f"{where}[{i}]", minimum=0)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:30]}…"


@overload
def cut(text: str) -> str: ...
@overload
def cut(text: None) -> None: ...
def cut(text: str | None) -> str | None:
    """Free text as a board may copy it: at most MAX_TEXT characters."""
    if text is None or len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}… ({len(text):,} characters)"
