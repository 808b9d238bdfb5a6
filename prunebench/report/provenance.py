"""Where a board's numbers came from: the commands, machines and baselines that made them, the
wall time of each run, and the command that regenerates the board."""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from prunebench.report.verdict import REFERENCES
from prunebench.results.record import Record


def mixed_baselines(records: list[Record], headline: str) -> list[str]:
    """A line per seed whose cells did not all start from the same baseline weights: their
    recorded baseline metrics differ, or their weights' digests do (records made before digests
    were recorded have only the metrics). The paired statistics assume one start per seed;
    `prunebench run` refuses to mix them, so only merged folders get here."""
    by_seed: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        if r.measured is not None:
            by_seed[r.seed].append(r)
    lines = []
    for seed, cells in sorted(by_seed.items()):
        groups: dict[str, list[Record]] = defaultdict(list)
        for r in cells:
            value = r.measured.baseline.metrics.get(headline) if r.measured else None
            groups[f"{headline} {value}"].append(r)
        if len(groups) == 1:
            groups = defaultdict(list)
            for r in cells:
                if r.baseline_digest:
                    groups[f"weights {r.baseline_digest}"].append(r)
        if len(groups) > 1:
            parts = [f"{key} in {len(g)} cell{'s' if len(g) > 1 else ''}"
                     for key, g in groups.items()]
            lines.append(f"- **Seed {seed}'s cells started from {len(groups)} different "
                         f"baselines** ({'; '.join(parts)}): its paired differences mix them.")
    return lines + [""] if lines else []


def mixed_machines(records: list[Record]) -> list[str]:
    """A line per seed whose cells were computed on different kinds of CPU (training is not
    bit-reproducible across them), naming the cells of each kind but the most common."""
    by_seed: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.measured is not None:
            by_seed[r.seed][r.environment.machine].append(r.label)
    lines = []
    for seed, machines in sorted(by_seed.items()):
        if len(machines) < 2:
            continue
        common = max(machines, key=lambda m: (len(machines[m]), m))
        others = "; ".join(f"{', '.join(f'`{c}`' for c in sorted(cells))} on {machine}"
                           for machine, cells in sorted(machines.items()) if machine != common)
        lines.append(f"- Seed {seed}'s cells were computed on different CPUs: most on {common}, "
                     f"{others} (same baseline weights; the fine-tuning's last bits differ "
                     "between CPUs).")
    return lines + [""] if lines else []


def wall_times(records: list[Record]) -> list[str]:
    """Per command: each run's time from its start to the last result it wrote, summed.

    A long board is one command resumed over days; the time between its runs is not its cost,
    so each run (the results share its start) counts on its own.
    """
    runs: dict[str, dict[datetime, datetime]] = defaultdict(dict)  # command: run start: last
    cores: dict[str, int] = {}
    for r in records:
        if r.run_started and r.finished:
            begun, ended = datetime.fromisoformat(r.run_started), datetime.fromisoformat(r.finished)
            runs[r.command][begun] = max(runs[r.command].get(begun, ended), ended)
            cores.setdefault(r.command, r.environment.cpu_count)
    lines = []
    for command, starts in sorted(runs.items()):
        minutes = sum((ended - begun).total_seconds() for begun, ended in starts.items()) / 60
        first, end = min(starts), max(starts.values())
        end_format = "%H:%M" if first.date() == end.date() else "%Y-%m-%d %H:%M"
        span = f"{first:%Y-%m-%d %H:%M} to {end.strftime(end_format)}"
        said = (f"from the start of `{command}` to its last result" if len(starts) == 1 else
                f"over {len(starts)} runs of `{command}`, each from its start to its last result")
        lines.append(f"Wall time: {minutes:.1f} min {said} ({span} UTC), "
                     f"{cores[command]} CPU cores")
    return lines


def reuse_saved(records: list[Record]) -> list[str]:
    """A line on what exact reuse saved (harness/cells/reuse.py), where a phase was reused: the
    fine-tuning phases and epochs taken from a bit-identical phase another cell had trained,
    and about how many hours of the cells' own time that is, at the board's mean seconds per
    trained epoch (a cell's time over the epochs it trained: its phases not reused, its
    sparsity epochs, a control's training). Nothing for boards without reuse."""
    phases = reused = 0
    epochs = reused_epochs = trained = 0.0
    seconds = 0.0
    for r in records:
        m = r.measured
        if m is None:
            continue
        done = [(len(s.curve), s.reused_from) for s in m.history if s.curve]
        if m.final_curve:
            done.append((len(m.final_curve), m.final_reused_from))
        own = sum(n for n, source in done if not source) + m.cost.sparsity_epochs + \
            (m.cost.training_epochs or 0.0)
        phases += len(done)
        reused += sum(1 for _, source in done if source)
        epochs += sum(n for n, _ in done)
        reused_epochs += sum(n for n, source in done if source)
        if own and r.cell_seconds:
            trained, seconds = trained + own, seconds + r.cell_seconds
    if not reused:
        return []
    saved = reused_epochs * seconds / trained if trained else 0.0
    amount = f"about {saved / 3600:.1f} h" if saved >= 3600 else \
        f"about {saved / 60:.0f} min" if saved >= 60 else "under a minute"
    hours = f", {amount} of the cells' own time at the board's mean seconds per trained " \
        "epoch" if trained else ""
    return [f"Exact reuse: {reused} of {phases} fine-tuning phases ({reused_epochs:g} of "
            f"{epochs:g} epochs, {100 * reused_epochs / epochs:.1f}%) were taken from a "
            f"bit-identical phase another cell had trained{hours}"]


def regenerate_command(results: Path | str, out: Path | str,
                       references: Sequence[str] = REFERENCES) -> str:
    """The command that rebuilds the boards, as the provenance shows it."""
    chosen = "" if tuple(references) == REFERENCES else \
        f" --reference {shlex.quote(','.join(references))}"
    return (f"prunebench leaderboard --results {shlex.quote(str(results))} "
            f"--out {shlex.quote(str(out))}{chosen}")
