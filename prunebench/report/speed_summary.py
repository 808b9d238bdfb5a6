"""A board's speed columns: the speed-up each cell measured, summarised once per architecture
where every row has the same widths, per machine kind and never averaged across kinds."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

from prunebench.results.record import Measured, Record, SpeedRow

SPEED_FIELDS = ("cpu_speedup", "gpu_speedup")


def architecture_speed(records: list[Record]) -> list[str] | None:
    """Markdown lines with the eager speed-up of a table whose rows all have the same pruned
    widths (one architecture): per device and machine kind (`_by_machine`), the median at the
    largest batch size over every cell's measurement, its interquartile range, and the CPU
    instruction set or GPU that timed it. None when the rows' widths differ (each row then
    shows its own)."""
    ok = [r for r in records if r.measured is not None]
    if not ok or len({r.measured.pruned_widths for r in ok if r.measured}) != 1:
        return None
    lines = []
    for device, label in (("cpu", "CPU"), ("cuda", "GPU")):
        for machine, timed in _by_machine(ok, device).items():
            largest, values = _largest_batch([m for r in timed if (m := r.measured)], device)
            values.sort()
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") \
                if len(values) > 1 else (values[0],) * 3
            what = "CPU instruction set" if device == "cpu" else "GPU"
            lines.append(f"- {label} speed-up of this architecture (every row keeps the same "
                         f"widths), eager at batch {largest}: median {median:.2f}x, interquartile "
                         f"range [{q1:.2f}, {q3:.2f}] over {len(values)} measurements, one per "
                         f"cell ({what}: {machine}); their spread is timing noise, not a "
                         "difference between criteria.")
    return lines + [""] if lines else []


def _by_machine(records: Iterable[Record], device: str) -> dict[str, list[Record]]:
    """The cells timed on `device`, by the kind of machine that timed them: the CPU's vector
    instruction set (a speed-up ratio depends on it: ~0.89 of the theoretical on AVX-512 where
    AVX2 gives ~0.8) or the GPU's name. Timings compare only within one kind."""
    kinds: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.measured is not None and _eager_rows(r.measured.speed, device):
            env = r.environment
            kinds[env.cpu_capability if device == "cpu" else str(env.gpu)].append(r)
    return dict(sorted(kinds.items()))


def _eager_rows(speed: Iterable[SpeedRow], device: str) -> list[SpeedRow]:
    """A cell's eager speed rows measured on `device`, failed measurements left out."""
    return [row for row in speed
            if row.device == device and row.runtime == "eager" and row.error is None]


def _largest_batch(runs: Iterable[Measured], device: str) -> tuple[int, list[float]]:
    """The largest batch size measured on `device`, and every real speed-up at it."""
    rows = [row for m in runs for row in _eager_rows(m.speed, device)]
    largest = max(row.batch_size for row in rows)
    return largest, [float(row.speedup_real) for row in rows
                     if row.batch_size == largest and row.speedup_real is not None]


def speedup(records: list[Record], device: str) -> str:
    """Mean real eager speed-up at the largest batch size measured on `device`, e.g. 2.31x @64;
    one per kind of machine, named, where cells were timed on several (`_by_machine`)."""
    kinds = _by_machine(records, device)
    texts = {}
    for machine, timed in kinds.items():
        largest, values = _largest_batch([m for r in timed if (m := r.measured)], device)
        texts[machine] = f"{statistics.fmean(values):.2f}x @{largest}"
    if len(texts) > 1:
        return ", ".join(f"{text} ({machine})" for machine, text in texts.items())
    return next(iter(texts.values()), "–")


def mean_speed_rows(records: list[Record]) -> list[dict]:
    """Speed rows averaged over criteria and seeds (the architecture is the same for all), per
    device and, where cells were timed on several kinds of machine, per kind (`_by_machine`):
    the device then reads `cpu (AVX2)`."""
    grouped: dict[tuple, list[SpeedRow]] = defaultdict(list)
    for device in ("cpu", "cuda"):
        kinds = _by_machine(records, device)
        for kind, timed in kinds.items():
            label = f"{device} ({kind})" if len(kinds) > 1 else device
            for r in timed:
                for row in r.measured.speed if r.measured else ():
                    if row.error is None and row.device == device:
                        grouped[(label, row.runtime, row.batch_size)].append(row)
    return [{"device": d, "runtime": rt, "batch_size": bs,
             "speedup_real": statistics.fmean(float(x.speedup_real or 0) for x in rows),
             "speedup_theoretical": rows[0].speedup_theoretical}
            for (d, rt, bs), rows in sorted(grouped.items())]
