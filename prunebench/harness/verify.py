"""`prunebench verify`: a result checked by computing its cell again (issue 42).

The cell is rerun from its record into a scratch folder that holds a copy of the baseline the
record names (never retrained: a retrained baseline would differ on another CPU), and every
number the cell computed is compared: the baseline's and the pruned model's metrics, sizes and
per-layer MACs, the widths, every step's history (kept filters, widths, metrics, the accuracy
after each fine-tuning epoch), the final phase's curve, the sparsity epochs and calibration
samples. Timings (speed rows, seconds) are not numbers of the cell's arithmetic and are left out.

On the machine kind the record names (CPU model and instruction set, torch version; the thread
count is the budget's, in the record) the numbers must be bit-identical. Elsewhere training
takes other last bits, so each differing number is judged against what another seed of the same
row gives (`judged`), and the check says that an exact verdict needs the recorded kind of
machine.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from prunebench.errors import PrunebenchError
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.harness.runner import run_matrix
from prunebench.results.environment import environment
from prunebench.results.record import Measured, Record
from prunebench.results.store import BASELINES, within


@dataclass(frozen=True)
class Verdict:
    """One cell's check: `exact` when this machine is the recorded kind; the fields that
    differ (`where`, recorded value, value now)."""

    file: str
    cell: str
    config_hash: str
    exact: bool
    differences: tuple[tuple[str, Any, Any], ...] = ()
    machine: tuple[str, ...] = ()  # how this machine differs from the recorded one
    skipped: str | None = None
    #: on another machine kind, the differences within what another seed of the row gives
    #: (field -> why: "seeds range 0.42"): those pass; every other difference fails
    within_spread: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[tuple[str, Any, Any], ...]:
        return tuple(d for d in self.differences if d[0] not in self.within_spread)

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "cell": self.cell, "config_hash": self.config_hash,
                "exact": self.exact,
                "passed": self.passed, "skipped": self.skipped,
                "machine": list(self.machine),
                "differences": [{"field": f, "recorded": a, "now": b,
                                 "within_spread": self.within_spread.get(f)}
                                for f, a, b in self.differences]}


@dataclass
class Sample:
    """Which result files to check: all of them, or `n` drawn with a seeded generator."""

    n: int | None = None
    seed: int = 0
    files: list[Path] = field(default_factory=list)

    def chosen(self) -> list[Path]:
        if self.n is None or self.n >= len(self.files):
            return list(self.files)
        return sorted(random.Random(self.seed).sample(self.files, self.n))


def machine_differences(record: Record) -> tuple[str, ...]:
    """How this machine differs from the one that made `record`, in what decides last bits."""
    here = environment(torch.device(record.device.split(":")[0]))
    then = record.environment
    notes = []
    if here["cpu_capability"] != then.cpu_capability or here["cpu"] != then.cpu:
        # training differs across CPUs even at one instruction set (record.Environment.machine)
        notes.append(f"CPU {here['cpu']} ({here['cpu_capability']}), recorded "
                     f"{then.machine}")
    for package in ("torch",):
        now, was = here["packages"].get(package), then.packages.get(package)
        if now != was:
            notes.append(f"{package} {now}, recorded {was}")
    return tuple(notes)


def numbers(measured: Measured) -> Iterator[tuple[str, Any]]:
    """Every number a cell's arithmetic made, by a name that says where it is."""
    for part, measures in (("baseline", measured.baseline), ("pruned", measured.pruned)):
        yield f"{part}.params", measures.params
        yield f"{part}.macs", measures.macs
        yield f"{part}.macs_per_layer", measures.macs_per_layer
        yield f"{part}.trm_bytes", measures.trm_bytes
        for name, value in sorted(measures.metrics.items()):
            yield f"{part}.metrics.{name}", value
    yield "widths.original", list(measured.original_widths)
    yield "widths.pruned", list(measured.pruned_widths)
    yield "cost.sparsity_epochs", measured.cost.sparsity_epochs
    yield "cost.calibration_samples", measured.cost.calibration_samples
    for i, step in enumerate(measured.history, 1):
        for key, value in sorted(step.to_json().items()):
            if key == "reused_from":  # who computed the phase, not a number it made
                continue
            if key == "kept" and isinstance(value, dict):
                for layer, kept in sorted(value.items()):
                    yield f"history[{i}].kept.{layer}", list(kept)
            elif key == "curve" and isinstance(value, list):
                for epoch, accuracy in enumerate(value, 1):
                    yield f"history[{i}].curve[{epoch}]", accuracy
            else:
                yield f"history[{i}].{key}", value
    for epoch, accuracy in enumerate(measured.final_curve, 1):
        yield f"final_curve[{epoch}]", accuracy


def compare(recorded: Measured, now: Measured) -> tuple[tuple[str, Any, Any], ...]:
    """The numbers that differ, in the order `numbers` gives them."""
    then = dict(numbers(recorded))
    fresh = dict(numbers(now))
    return tuple((key, then.get(key), fresh.get(key)) for key in {**then, **fresh}
                 if then.get(key) != fresh.get(key))


def spreads(others: list[Measured]) -> dict[str, float]:
    """Per scalar number, its range over the row's other seeds: what another seed gives."""
    values: dict[str, list[float]] = {}
    for measured in others:
        for key, value in numbers(measured):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    return {k: max(v) - min(v) for k, v in values.items() if len(v) >= 2}


def judged(differences: tuple[tuple[str, Any, Any], ...], spread: dict[str, float]
           ) -> dict[str, str]:
    """The differences within what another seed of the row gives: a number no farther off than
    the row's seed-to-seed range of it, or another set of kept filters (every seed keeps its
    own). Widths, sizes and anything the other seeds do not show fail."""
    within = {}
    for name, then, now in differences:
        if ".kept." in name:
            within[name] = "other seeds keep other filters"
        elif name in spread and isinstance(then, (int, float)) \
                and isinstance(now, (int, float)) and abs(then - now) <= spread[name]:
            within[name] = f"seeds range {spread[name]:.4g}"
    return within


def verify_file(path: Path, record: Record, plan: RunPlan, results: Path,
                others: list[Measured] | None = None) -> Verdict:
    """`others`: the same row's cells of other seeds, whose spread judges a check made on
    another machine kind (none: such a check fails on any difference)."""
    """Rerun `record`'s cell in a scratch folder beside a copy of its baseline; compare."""
    cell = f"{record.label}, {record.target}, seed {record.seed}"
    machine = machine_differences(record)
    exact = not machine
    verdict = partial(Verdict, str(path), cell, record.config_hash, exact, machine=machine)
    if record.measured is None:
        return verdict(skipped=f"its cell ended {record.status}: nothing was measured to check")
    if not record.baseline_checkpoint:
        return verdict(skipped="it names no baseline checkpoint")
    baseline = results / record.baseline_checkpoint
    if not baseline.is_file() or not within(results, baseline):
        raise PrunebenchError(f"{path}: its baseline {baseline} is not in {results}; verify "
                              "needs the baseline the cell started from (commit it)")
    with tempfile.TemporaryDirectory(prefix="prunebench-verify-") as scratch:
        copy = Path(scratch) / record.baseline_checkpoint
        copy.parent.mkdir(parents=True)
        shutil.copy2(baseline, copy)
        options = RunOptions(results=Path(scratch), device=torch.device(record.device),
                             force=True, command=record.command)
        outcome = run_matrix(plan, options)
        fresh = [r for r in outcome.records if r.config_hash == record.config_hash]
        trained = [p for p in (Path(scratch) / BASELINES).rglob("*.pt") if p != copy]
    if trained:
        raise PrunebenchError(f"{path}: the rerun trained another baseline "
                              f"({trained[0].name}): the record's configuration does not match "
                              "its baseline file")
    if not fresh:
        return verdict(skipped="this prunebench computes another cell from the record "
                               "(another version?)")
    if fresh[0].measured is None:
        return verdict(differences=(("status", record.status, fresh[0].status),))
    differences = compare(record.measured, fresh[0].measured)
    if exact:
        return verdict(differences=differences)
    return verdict(differences=differences,
                   within_spread=judged(differences, spreads(others or [])))
