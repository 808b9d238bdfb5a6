"""Speed leaderboards: the sweeps `prunebench speed --results` saved, one markdown file per device.

Weights do not change speed, so these need no training: each section is one target architecture
against its unpruned original, eager and deploy, theoretical (MACs ratio) beside real speed-up.
Like the accuracy boards, the output depends on the saved records alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from prunebench.report.board import Figure, widths_text
from prunebench.results.record import Environment, LayerSpeed, SpeedRow, SpeedSweep
from prunebench.results.store import inside, write_text

COLUMNS = ("runtime", "batch", "backend (original / pruned)", "ms original", "ms pruned",
           "img/s pruned", "speed-up theory", "speed-up real", "efficiency")


def _row(row: SpeedRow) -> tuple[str, ...]:
    if row.error is not None or row.original is None or row.pruned is None:
        return (row.runtime, str(row.batch_size), f"failed: {row.error}",
                *("",) * (len(COLUMNS) - 3))
    return (row.runtime, str(row.batch_size), f"{row.backend_original} / {row.backend_pruned}",
            f"{row.original.median_ms:.2f}", f"{row.pruned.median_ms:.2f}",
            f"{row.throughput_pruned:,.0f}", f"{row.speedup_theoretical:.2f}x",
            real_text(float(row.speedup_real or 0), row.speedup_runs), f"{row.efficiency:.2f}")


def real_text(real: float, runs: Sequence[float] | None = None) -> str:
    """`2.64x`, and with several runs their range: `2.64x (2.58-2.71, 5 runs)`."""
    text = f"{real:.2f}x"
    if runs and len(runs) > 1:
        text += f" ({min(runs):.2f}-{max(runs):.2f}, {len(runs)} runs)"
    return text


def _slug(sweep: SpeedSweep) -> str:
    return f"speed-{sweep.scenario}-{sweep.target}-{sweep.device}"


def figures(sweeps: list[SpeedSweep]) -> list[Figure]:
    from prunebench.report import plots

    return [Figure(f"Speed-up against batch size, theoretical and real: {r.scenario} "
                   f"`{r.target}`", f"{_slug(r)}.png",
                   partial(plots.speedup_vs_batch, [row.to_json() for row in r.rows],
                           f"{r.scenario}: {r.target} ({r.environment.cpu})"))
            for r in sweeps]


LAYER_COLUMNS = ("layer", "MACs original", "MACs pruned", "ms original", "ms pruned",
                 "speed-up theory", "speed-up real", "real / theory", "GMAC/s original",
                 "GMAC/s pruned")


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _layer_row(row: LayerSpeed) -> tuple[str, ...]:
    return (row.layer, _number(row.macs_original, ","), _number(row.macs_pruned, ","),
            f"{row.ms_original:.3f}", f"{row.ms_pruned:.3f}",
            _number(row.speedup_theoretical, ".2f"), _number(row.speedup_real, ".2f"),
            _number(row.efficiency, ".2f"), _number(row.gmacs_original, ".1f"),
            _number(row.gmacs_pruned, ".1f"))


def layer_lines(record: SpeedSweep) -> list[str]:
    """A per-layer report (`speed --per-layer B --results`) as a table, and what it shows: the
    layers furthest below their theoretical speed-up, and the share of the pass outside the
    conv and linear layers before and after pruning."""
    rows = record.layer_rows
    worst = sorted((r for r in rows if r.efficiency is not None),
                   key=lambda r: (r.efficiency, r.layer))[:3]
    rest = next((r for r in rows if r.layer == "rest"), None)
    total = [sum(r.ms_original for r in rows), sum(r.ms_pruned for r in rows)]
    lines = [f"### Per layer at batch {record.layers}", "",
             "| " + " | ".join(LAYER_COLUMNS) + " |", "|" + "---|" * len(LAYER_COLUMNS)]
    lines += ["| " + " | ".join(_layer_row(r)) + " |" for r in rows]
    lines += ["", "Eager, BatchNorm folded, channels_last, each layer timed by forward hooks; "
              "*rest* is the pass outside conv and linear layers."]
    if worst:
        lines.append("Furthest below their theoretical speed-up (real / theory): " + ", ".join(
            f"{r.layer} {r.efficiency:.2f} ({r.macs_pruned:,} of {r.macs_original:,} MACs)"
            for r in worst) + ".")
    if rest and all(total):
        lines.append(f"Outside conv and linear layers: {100 * rest.ms_original / total[0]:.0f}"
                     f"% of the original's pass, {100 * rest.ms_pruned / total[1]:.0f}% of the "
                     "pruned one's, which pruning does not shrink.")
    env = record.environment
    lines += ["", f"- Made by: `{record.command}` ({record.repeats} timed passes each)",
              f"- Commit: `{env.git_commit}`", f"- Hardware: {_hardware(env)}", ""]
    return lines


def _hardware(env: Environment) -> str:
    isa = env.cpu_capability if env.cpu_capability != "unknown" else "vector ISA not recorded"
    return (f"{env.cpu} ({isa}), {env.cpu_count} cores, torch threads "
            f"{env.torch_threads}, {env.gpu or 'no GPU'}")


def render(device: str, records: list[SpeedSweep], regenerate: str) -> str:
    lines = [f"# Speed leaderboard: {device.upper()}", "",
             "<!-- generated by `prunebench leaderboard`; edit the results, not this file -->", "",
             "Real speed-up of each pruned architecture over its unpruned original, against the "
             "theoretical one (the MACs ratio); *efficiency* is real over theoretical. *eager* is "
             "`model.eval()` under inference mode; *deploy* is BatchNorm folded into the conv, "
             "channels_last, and the fastest of frozen TorchScript (also under the oneDNN "
             "Graph fuser), torch.compile and ONNX Runtime, on the whole batch or in "
             "micro-batches (the backend columns say which ran). Latencies are medians of the "
             "timed calls after warm-up; with several runs the real speed-up is the median run's "
             "and its range is given. Weights do not change speed, so these architectures are "
             "untrained. Speed-ups depend on the machine (its vector instruction set above all): "
             "compare them only within one hardware line.", ""]
    sweeps = [r for r in records if r.layers is None]
    per_layer = {(r.scenario, r.target): r for r in records if r.layers is not None}
    for record, figure in zip(sweeps, figures(sweeps)):
        env = record.environment
        lines += [f"## {record.scenario}: `{record.target}` "
                  f"(widths {widths_text(record.widths)})", "",
                  "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_row(row)) + " |" for row in record.rows]
        lines += ["", f"![{figure.caption}]({figure.name})", "",
                  f"- Made by: `{record.command}` ({record.repeats} timed calls each)",
                  f"- Commit: `{env.git_commit}`",
                  f"- Hardware: {_hardware(env)}",
                  "- Versions: " + ", ".join(f"{k} {v}"
                                             for k, v in sorted(env.packages.items())),
                  ""]
        layers = per_layer.pop((record.scenario, record.target), None)
        if layers is not None:
            lines += layer_lines(layers)
    for (scenario, target), layers in sorted(per_layer.items()):  # no sweep of their own
        lines += [f"## {scenario}: `{target}` (widths {widths_text(layers.widths)})", "",
                  *layer_lines(layers)]
    lines += [f"Regenerate: `{regenerate}`"]
    return "\n".join(lines) + "\n"


def write_speed_boards(records: list[SpeedSweep], out: Path, regenerate: str) -> list[Path]:
    """speed-<device>.md for every device the records measured, with their figures."""
    by_device: dict[str, list[SpeedSweep]] = defaultdict(list)
    for r in records:
        by_device[r.device].append(r)
    paths = []
    for device, members in sorted(by_device.items()):
        paths.append(write_text(inside(out, f"speed-{device}.md"),
                                render(device, members, regenerate)))
        for figure in figures([r for r in members if r.layers is None]):
            figure.draw(inside(out, figure.name))
    return paths
