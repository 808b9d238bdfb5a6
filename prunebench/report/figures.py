"""A board's figures (matplotlib, through plots.py): accuracy against MACs, the fine-tuning
curves, widths kept, per-layer MACs, speed-up, the one-shot sweep and the performance profile."""

from __future__ import annotations

from pathlib import Path

from prunebench import scenarios
from prunebench.errors import PrunebenchError
from prunebench.report.one_shot import UNIFORM_SWEEP, Sweep
from prunebench.report.speed_summary import mean_speed_rows
from prunebench.report.summary import Problem, performance_profile
from prunebench.results.record import Measured, Record


def draw_profile(problems: dict[Problem, dict[str, float]], headline: str, title: str,
                  path: Path) -> Path:
    from prunebench.report import plots

    gaps = {max(r.values()) - v for r in problems.values() for v in r.values()}
    taus = sorted(gaps | {0.0})
    return plots.performance_profile(performance_profile(problems, taus), taus, headline,
                                     title, path)


def draw_sweep(sweep: Sweep, title: str, path: Path) -> Path:
    from prunebench.report import plots

    curves = {row: sweep.mean_curve(row) for row in sorted(sweep.points)}
    what = "filters removed per layer" if sweep.kind == UNIFORM_SWEEP else "MACs removed"
    return plots.one_shot_sweep(curves, sweep.records[0].headline, f"fraction of {what}",
                                title, path)


def draw_curves(curves: dict[str, list[float]], headline: str, title: str,
                 path: Path) -> Path:
    from prunebench.report import plots

    return plots.accuracy_vs_epochs(curves, headline, title, path)


def draw_accuracy(records: list[Record], path: Path) -> Path:
    from prunebench.report import plots

    return plots.accuracy_vs_macs(records, records[0].headline, path)


def draw_kept(records: list[Record], title: str, path: Path) -> Path:
    from prunebench.report import plots

    ok = [r.measured for r in records if r.measured is not None]
    count = len(ok[0].original_widths)
    try:  # the scenario's layer names, where it is installed
        layers = list(scenarios.get(records[0].scenario).groups)
    except PrunebenchError:
        layers = []
    if len(layers) != count:
        layers = [f"layer {i + 1}" for i in range(count)]
    return plots.kept_per_layer(records, layers, title, path)


def draw_layer_macs(measured: Measured, title: str, path: Path) -> Path:
    from prunebench.report import plots

    return plots.layer_macs(measured.baseline.macs_per_layer, measured.pruned.macs_per_layer,
                            title, path)


def draw_speedup(records: list[Record], title: str, path: Path) -> Path:
    from prunebench.report import plots

    return plots.speedup_vs_batch(mean_speed_rows(records), title, path)
