"""Figures with matplotlib, written as PNG beside the markdown that links them.

Every function takes plain rows (result records, speed or memory rows) and a path, so the same
numbers that fill the tables draw the figures. PNGs carry no timestamp or version metadata, so the
same rows give the same file.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from prunebench.results.record import Record  # noqa: E402

PNG_METADATA = {"Software": None}


def _legend(ax) -> None:
    """The legend of what is drawn; none for an empty figure (every cell failed)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def _batch_axis(ax, ylabel: str, title: str) -> None:
    """Batch size on a log-2 axis, as seed 001's Fig. 4 and Fig. 6 show it."""
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def accuracy_vs_macs(records: Sequence[Record], headline: str, path: Path) -> Path:
    """Per criterion: mean (and std) headline metric after fine-tuning against the fraction of
    MACs removed, one point per target; the baseline as a dashed line."""
    points: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    baselines = []
    for r in records:
        if r.measured is None:
            continue
        m = r.measured
        removed = 100 * (1 - m.pruned.macs / m.baseline.macs)
        points[r.label][round(removed, 2)].append(m.pruned.metrics[headline])
        baselines.append(m.baseline.metrics[headline])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours, markers = plt.get_cmap("tab20").colors, "osD^v<>ph*"  # type: ignore[attr-defined]
    for i, name in enumerate(sorted(points)):  # 20 colours x 10 markers: no two criteria alike
        xs = sorted(points[name])
        means = [statistics.fmean(points[name][x]) for x in xs]
        stds = [statistics.stdev(points[name][x]) if len(points[name][x]) > 1 else 0 for x in xs]
        ax.errorbar(xs, means, yerr=stds, marker=markers[i % len(markers)], capsize=3, label=name,
                    color=colours[i % len(colours)])
    if baselines:
        ax.axhline(statistics.fmean(baselines), color="black", linestyle="--", label="baseline")
    ax.set_xlabel("MACs removed (%)")
    ax.set_ylabel(f"{headline} after fine-tuning")
    _legend(ax)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def short_names(names: Sequence[str]) -> list[str]:
    """Layer names without the dotted prefix they all share (a detector's `backbone.body.`),
    keeping what tells them apart (a ResNet's `layer3.2.conv1`)."""
    parts = [n.split(".") for n in names]
    shared = 0
    while parts and all(len(p) > shared + 1 and p[shared] == parts[0][shared] for p in parts):
        shared += 1
    return [".".join(p[shared:]) for p in parts]


def kept_per_layer(records: Sequence[Record], layers: Sequence[str], title: str,
                   path: Path) -> Path:
    """The global track's allocations: per criterion, the fraction of each layer's filters kept
    (mean over seeds), one line per criterion."""
    fractions: dict[str, list[list[float]]] = defaultdict(list)
    for r in records:
        m = r.measured
        if m is not None:
            fractions[r.label].append([p / o for p, o in zip(m.pruned_widths, m.original_widths)])
    fig, ax = plt.subplots(figsize=(max(7, 0.4 * len(layers) + 3), 4.5))
    colours, markers = plt.get_cmap("tab20").colors, "osD^v<>ph*"  # type: ignore[attr-defined]
    for i, name in enumerate(sorted(fractions)):
        means = [statistics.fmean(column) for column in zip(*fractions[name])]
        ax.plot(range(len(means)), means, marker=markers[i % len(markers)], label=name,
                color=colours[i % len(colours)])
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(short_names(layers), rotation=90, fontsize=6)
    ax.set_ylabel("fraction of the layer's filters kept")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=9)
    _legend(ax)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def layer_macs(original: dict[str, int], pruned: dict[str, int], title: str, path: Path) -> Path:
    """Seed 001 Fig. 2: MACs of every conv/linear layer, original beside pruned."""
    names = list(original)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names) + 2), 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [original[n] / 1e6 for n in names], 0.4, label="original")
    ax.bar([x + 0.2 for x in xs], [pruned.get(n, 0) / 1e6 for n in names], 0.4, label="pruned")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(short_names(names), rotation=90, fontsize=6)
    ax.set_ylabel("MMACs")
    ax.set_title(title, fontsize=9)
    ax.legend()
    return _save(fig, path)


def speedup_vs_batch(rows: Sequence[dict], title: str, path: Path) -> Path:
    """Seed 001 Fig. 4: real speed-up per device and runtime against batch size, with the
    theoretical (MACs) speed-up."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    theoretical = None
    for row in rows:
        if "error" in row:
            continue
        series[(row["device"], row["runtime"])].append((row["batch_size"], row["speedup_real"]))
        theoretical = row["speedup_theoretical"]
    for (device, runtime), values in sorted(series.items()):
        values.sort()
        ax.plot([v[0] for v in values], [v[1] for v in values], marker="o",
                label=f"real, {device.upper()} {runtime}")
    if theoretical is not None:
        ax.axhline(theoretical, color="black", linestyle="--", label="theoretical (MACs)")
    _batch_axis(ax, "speed-up over the unpruned model", title)
    return _save(fig, path)


def memory_vs_batch(rows: Sequence[dict], title: str, path: Path) -> Path:
    """Seed 001 Fig. 6: run-time memory against batch size, eq. 16 beside the measured peak."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = sorted(rows, key=lambda r: r["batch_size"])
    sizes = [r["batch_size"] for r in rows]
    for key, label, style in (("trm_bytes_original", "original, eq. 16", "--"),
                              ("measured_bytes_original", "original, measured", "-"),
                              ("trm_bytes_pruned", "pruned, eq. 16", "--"),
                              ("measured_bytes_pruned", "pruned, measured", "-")):
        ax.plot(sizes, [r[key] / 1e6 for r in rows], style, marker="o", label=label)
    ax.set_yscale("log")
    _batch_axis(ax, "run-time memory (MB)", title)
    return _save(fig, path)


def sensitivity(curves: dict[str, list[tuple[float, float]]], headline: str, title: str,
                path: Path) -> Path:
    """Seed 002 Fig. 2-3: accuracy against the fraction of one layer's filters removed."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for layer, values in curves.items():
        ax.plot([100 * r for r, _ in values], [a for _, a in values], marker=".",
                label=layer.split(".", 1)[-1])
    ax.set_xlabel("filters removed from the layer (%)")
    ax.set_ylabel(f"{headline} (no fine-tuning)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def performance_profile(profiles: dict[str, list[float]], taus: Sequence[float], headline: str,
                        title: str, path: Path) -> Path:
    """Per criterion, the fraction of (target, seed) problems within tau points of the best."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
    for i, name in enumerate(sorted(profiles)):  # 10 colours x 3 line styles
        ax.step(taus, profiles[name], where="post", label=name, color=colours[i % 10],
                linestyle=("-", "--", ":")[i // 10 % 3])
    ax.set_xlabel(f"tau: {headline} points behind the best criterion of the problem")
    ax.set_ylabel("fraction of (target, seed) problems")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    _legend(ax)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def accuracy_vs_epochs(curves: dict[str, list[float]], headline: str, title: str,
                       path: Path) -> Path:
    """Per row: the mean headline metric after every fine-tuning epoch (the steps' and the
    final phase's), so a schedule that knocks a model out of its minimum shows as a dip."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, marker=".", linewidth=1, label=label)
    ax.set_xlabel("fine-tuning epoch (all steps, then the final phase)")
    ax.set_ylabel(f"{headline}, mean over seeds")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    _legend(ax)
    return _save(fig, path)


def one_shot_sweep(curves: dict[str, tuple[list[float], list[float], list[float]]],
                   headline: str, xlabel: str, title: str, path: Path) -> Path:
    """Per row: mean headline metric against the fraction removed with no training, and a band
    of one standard deviation over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (xs, means, stds) in curves.items():
        pct = [100 * x for x in xs]
        line, = ax.plot(pct, means, marker=".", linewidth=1, label=label)
        ax.fill_between(pct, [m - s for m, s in zip(means, stds)],
                        [m + s for m, s in zip(means, stds)], color=line.get_color(), alpha=0.12)
    ax.set_xlabel(f"{xlabel} (%)")
    ax.set_ylabel(f"{headline}, no training")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    _legend(ax)
    return _save(fig, path)
