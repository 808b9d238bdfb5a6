"""Commands that measure architectures: flops, speed, memory, sensitivity."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from prunebench import scenarios
from prunebench.cli.console import console, errors
from prunebench.cli.options import make_options, make_plan, make_target, resolve_device
from prunebench.errors import PrunebenchError
from prunebench.protocol.config import Target, parse_ratio
from prunebench.report.speed_board import real_text
from prunebench.results.store import SENSITIVITY, check_writable, read_result, write_json
from prunebench.scenarios.check import usable


def _architecture_target(args: argparse.Namespace):
    """The scenario and the target the options name; None for the unpruned model. With
    `--result`, the widths that result's cell pruned to (a global target's row chose its own)."""
    chosen = (args.target, args.widths, args.ratio)
    if getattr(args, "result", None) is not None:
        if any(v is not None for v in chosen) or args.round_to is not None:
            raise PrunebenchError("give --result or a target (--target, --widths, --ratio), not "
                                  "both")
        record = read_result(Path(args.result))
        if record.measured is None:
            raise PrunebenchError(f"{args.result} is a {record.status} cell: it pruned nothing "
                                  "to measure")
        return scenarios.get(record.scenario), Target(
            f"{record.target}, {record.label}, seed {record.seed}",
            widths=record.measured.pruned_widths)
    scenario = usable(args.scenario)
    if all(v is None for v in chosen) and args.round_to is None:
        return scenario, None
    return scenario, make_target(scenario, *chosen, args.round_to)


def _target_or_default(args: argparse.Namespace):
    """The scenario and the target the options name, else the scenario's default target."""
    scenario, target = _architecture_target(args)
    return scenario, target or scenario.target(scenario.default_target)


def cmd_flops(args: argparse.Namespace) -> int:
    from prunebench.measure.architecture import architecture_size

    scenario, target = _architecture_target(args)
    size = architecture_size(scenario, target)
    if args.json:
        print(json.dumps(size, indent=2))
        return 0
    table = Table(title=f"{size['scenario']} | {size['target']} | input {size['input_shape']}")
    table.add_column("layer")
    table.add_column("MACs", justify="right")
    for layer, macs in size["macs_per_layer"].items():
        table.add_row(layer, f"{macs:,}")
    table.add_row("[bold]total", f"[bold]{size['macs']:,}")
    console.print(table)
    console.print(f"params: {size['params']:,}   widths: {','.join(map(str, size['widths']))}")
    return 0


def _check_fits(scenario, batch_sizes: Sequence[int], device, option: str) -> None:
    """Refuse a batch whose feature maps alone (seed 001's eq. 16 on the unpruned model, the
    larger of the two) would not fit the memory the device has free: such a measurement would
    fail after minutes, or swap the machine to a halt."""
    from prunebench.measure.architecture import architecture
    from prunebench.measure.memory import trm_bytes

    free = free_bytes(device)
    model, _ = architecture(scenario, None)
    for size in batch_sizes:
        needed = trm_bytes(model, scenario.input_shape, size)
        if needed > free:
            raise PrunebenchError(
                f"{option} {size}: the unpruned model's feature maps at that batch take about "
                f"{needed / 1e9:,.1f} GB (seed 001's eq. 16), more than the {free / 1e9:,.1f} GB "
                f"free on {device.type}; give smaller batch sizes")


def free_bytes(device) -> int:
    """Memory free for a measurement: the GPU's free memory, or the CPU's MemAvailable."""
    import torch

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _wrote(args: argparse.Namespace, path: Path) -> None:
    """Say where a file went: on stderr under --json, so stdout stays one JSON document."""
    (errors if args.json else console).print(f"wrote {path}", markup=False, highlight=False)


@contextlib.contextmanager
def measuring(what: str, total: int, quiet: bool) -> Iterator[Callable[[], None]]:
    """A progress bar over a measurement's rows, as `run` draws one over its epochs (none under
    --json, whose stdout is one JSON document)."""
    from prunebench.cli.progress import progress_bars

    with progress_bars(disable=quiet) as bars:
        task = bars.add_task(what, total=total, left="")
        yield lambda: bars.advance(task)


def cmd_speed(args: argparse.Namespace) -> int:
    from prunebench.cli.arguments import parse_batch_sizes
    from prunebench.measure.compare import speed_report

    if args.plot:  # its name is checked in early.py; here whether its folder takes files
        check_writable(Path(args.plot).parent, "--plot's folder")
    if args.results:
        check_writable(Path(args.results), "--results")

    scenario, target = _target_or_default(args)
    runtimes = ("eager", "deploy") if args.runtime == "all" else (args.runtime,)
    if args.runtime not in ("eager", "deploy", "all"):
        raise PrunebenchError(f"unknown runtime '{args.runtime}'; choose eager, deploy or all")
    if args.per_layer is not None:
        return _speed_per_layer(args, scenario, target)
    device = resolve_device(args.device)
    batch_sizes = parse_batch_sizes(args.batch_sizes)
    _check_fits(scenario, batch_sizes, device, "--batch-sizes")
    with measuring(f"speed of {scenario.name}, {target.name}", len(runtimes) * len(batch_sizes),
                   args.json) as step:
        report = speed_report(scenario, target, batch_sizes, runtimes, device, args.repeats,
                              args.runs, step)
    if args.results:
        from prunebench.results.store import save_speed

        path = save_speed(Path(args.results), report, args.argv, device, args.repeats)
        _wrote(args, path)
    if args.plot:
        from prunebench.report.plots import speedup_vs_batch

        _wrote(args, speedup_vs_batch(report["rows"], f"{scenario.name}: {target.name} "
                                      f"({report['hardware']})", Path(args.plot)))
    if args.json:
        print(json.dumps(report["rows"], indent=2))
        return 0
    table = Table(title=f"{scenario.name} | {target.name} vs unpruned | {report['device']}")
    for column in ("runtime", "batch", "backend (orig / pruned)", "ms original", "ms pruned",
                   "img/s pruned", "speed-up theory", "speed-up real", "efficiency"):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        if "error" in row:
            table.add_row(row["runtime"], str(row["batch_size"]), escape(row["error"]))
            continue
        table.add_row(row["runtime"], str(row["batch_size"]),
                      f"{row['backend_original']} / {row['backend_pruned']}",
                      f"{row['original']['median_ms']:.2f}", f"{row['pruned']['median_ms']:.2f}",
                      f"{row['throughput_pruned']:,.0f}", f"{row['speedup_theoretical']:.2f}x",
                      real_text(row["speedup_real"], row.get("speedup_runs")),
                      f"{row['efficiency']:.2f}")
    console.print(table)
    console.print(f"medians of {args.repeats} timed calls after warm-up, the median of "
                  f"{args.runs} runs; {report['hardware']}")
    return 0


def _speed_per_layer(args: argparse.Namespace, scenario, target) -> int:
    from prunebench.measure.compare import layer_report

    if args.per_layer < 1:
        raise PrunebenchError(f"--per-layer {args.per_layer} must be a positive batch size")
    batch_size = args.per_layer
    device = resolve_device(args.device)
    _check_fits(scenario, (batch_size,), device, "--per-layer")
    report = layer_report(scenario, target, batch_size, device, args.repeats)
    rows = report["rows"]
    if args.results:
        from prunebench.results.store import save_speed

        _wrote(args, save_speed(Path(args.results), report, args.argv, device, args.repeats))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{scenario.name} | {target.name} vs unpruned | per layer, batch "
                        f"{batch_size} | {device.type}")
    for column in ("layer", "MACs original", "MACs pruned", "ms original", "ms pruned",
                   "speed-up theory", "speed-up real", "GMAC/s original", "GMAC/s pruned"):
        table.add_column(column, justify="right")

    def number(value, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    for row in rows:
        table.add_row(row["layer"], number(row.get("macs_original"), ","),
                      number(row.get("macs_pruned"), ","), f"{row['ms_original']:.2f}",
                      f"{row['ms_pruned']:.2f}", number(row.get("speedup_theoretical"), ".2f"),
                      number(row["speedup_real"], ".2f"), number(row.get("gmacs_original"), ".0f"),
                      number(row.get("gmacs_pruned"), ".0f"))
    console.print(table)
    console.print(f"medians of {args.repeats} eager passes, BatchNorm folded, channels_last; "
                  "'rest' is the time outside conv and linear layers")
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    from prunebench.cli.arguments import parse_batch_sizes
    from prunebench.measure.compare import memory_report

    scenario, target = _target_or_default(args)
    device = resolve_device(args.device)
    if args.plot:
        check_writable(Path(args.plot).parent, "--plot's folder")
    batch_sizes = parse_batch_sizes(args.batch_sizes)
    _check_fits(scenario, batch_sizes, device, "--batch-sizes")
    with measuring(f"memory of {scenario.name}, {target.name}", len(batch_sizes),
                   args.json) as step:
        rows = memory_report(scenario, target, batch_sizes, device, step)
    if args.plot:
        from prunebench.report.plots import memory_vs_batch

        _wrote(args, memory_vs_batch(rows, f"{scenario.name}: {target.name}, {device.type}",
                                     Path(args.plot)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{scenario.name} | {target.name} vs unpruned | run-time memory, MB "
                        f"({device.type})")
    for column in ("batch", "eq. 16 original", "measured original", "eq. 16 pruned",
                   "measured pruned"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["batch_size"]),
                      *(f"{row[k] / 1e6:,.1f}" for k in ("trm_bytes_original",
                                                          "measured_bytes_original",
                                                          "trm_bytes_pruned",
                                                          "measured_bytes_pruned")))
    console.print(table)
    console.print("measured: parameters + the peak memory rise of one forward pass "
                  "(CPU: in a fresh worker process; GPU: CUDA allocator peak)")
    return 0


def _ratio(text: str) -> float:
    try:
        return parse_ratio(text)
    except PrunebenchError:
        raise PrunebenchError(f"--ratios: '{text}' must be a fraction strictly between 0 and 1, "
                              "e.g. 0.1,0.5,0.9") from None


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from prunebench.harness.sensitivity import DEFAULT_RATIOS, sensitivity_curves
    from prunebench.report.plots import sensitivity

    try:
        seed = int(args.seed)
    except ValueError:
        raise PrunebenchError(f"--seed '{args.seed}' must be an integer, e.g. 0") from None
    plan = make_plan(scenario=args.scenario, budget=args.budget, seeds=str(seed),
                     data_root=args.data_root, download=args.download, criteria=args.criterion)
    options = make_options(results=args.results, device=args.device, argv=args.argv)
    ratios = tuple(_ratio(r) for r in args.ratios.split(",")) if args.ratios else DEFAULT_RATIOS
    out = check_writable(Path(args.out) if args.out else options.results / SENSITIVITY,
                         "--out")
    curves = sensitivity_curves(plan, options, ratios)
    headline = plan.scenario.task.headline
    stem = f"{plan.scenario.name}-sensitivity-{plan.criteria[0].name}-{plan.budget.name}"
    write_json(out / f"{stem}.json", {"scenario": plan.scenario.name, "criterion": args.criterion,
                                      "budget": plan.budget.name, "seed": plan.seeds[0],
                                      "headline": headline, "command": options.command,
                                      "curves": curves})
    figure = sensitivity(curves, headline, f"{plan.scenario.name}: one layer pruned with "
                                           f"{args.criterion}, no fine-tuning", out / f"{stem}.png")
    table = Table(title=f"{plan.scenario.name} | {args.criterion} | {headline} without fine-tuning")
    table.add_column("layer")
    for ratio, _ in next(iter(curves.values())):
        table.add_column(f"{100 * ratio:.0f}%", justify="right")
    for layer, curve in curves.items():
        table.add_row(layer, *(f"{value:.1f}" for _, value in curve))
    console.print(table)
    console.print(f"figure: {figure}")
    return 0
