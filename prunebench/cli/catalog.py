"""Commands that read or write files: list, show, tiny-data, leaderboard."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from prunebench import plugins, scenarios
from prunebench.cli.console import console, errors
from prunebench.config import parse_names
from prunebench.errors import PrunebenchError
from prunebench.report.index import write_index
from prunebench.report.leaderboard import (
    REFERENCES,
    build_boards,
    regenerate_command,
    write_boards,
)
from prunebench.report.speed_board import write_speed_boards
from prunebench.store import check_writable, read_result, scan_results, scan_speed_results


def cmd_list(args: argparse.Namespace) -> int:
    if args.scenarios:
        return list_scenarios()
    table = Table(title=f"criteria (entry-point group {plugins.GROUP})")
    for column in ("name", "distribution", "needs", "extra cost", "settings", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold")
    for name, info in plugins.discover().items():
        dist = f"{info.distribution} {info.version}"
        try:
            loaded = plugins.load(name)
        except PrunebenchError as exc:
            table.add_row(name, dist, "?", "?", "?", f"[red]broken: {escape(str(exc))}", "")
            continue
        needs = ", ".join(loaded.cls.needs) or "data-free"
        extra = [f"{loaded.cls.sparsity_epochs:g} epochs"] if loaded.cls.sparsity_epochs else []
        extra += ["refit"] if loaded.cls.refits else []
        table.add_row(name, dist, needs, ", ".join(extra) or "none",
                      escape(plugins.settings_text(loaded.cls)), "[green]ok", loaded.description)
    console.print(table)
    return 0


def list_scenarios() -> int:
    """Every row with the distribution that registered it, and whether it can be pruned (a
    plugin's row is built and checked; the core's are checked by its tests); a broken scenario
    plugin as a line of its own (the others still list)."""
    from prunebench.scenarios.check import refusal, scenario_problem

    table = Table(title=f"scenarios (entry-point group {scenarios.GROUP})")
    for column in ("name", "distribution", "prunable layers", "targets", "status"):
        table.add_column(column, no_wrap=column != "status", overflow="fold")
    table.add_column("description", overflow="fold")
    refused = []
    for s in scenarios.registry().values():
        layers = ", ".join(s.groups) if len(s.groups) <= 3 else f"{len(s.groups)} convs"
        problem = None if s.source.split()[:1] == [scenarios.CORE] else scenario_problem(s)
        if problem is not None:
            refused.append(refusal(s, problem))
        status = "[green]ok" if problem is None else "[red]refused (below)"
        table.add_row(s.name, s.source, layers, ", ".join(s.targets), status, s.description)
    console.print(table)
    for line in refused + [b.line() for b in scenarios.broken()]:
        errors.print(f"[red]{escape(line)}", highlight=False, soft_wrap=True)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    record = read_result(Path(args.result))
    if args.json:
        print(json.dumps(record.to_json(), indent=2, sort_keys=True))
        return 0
    c = record.criterion
    table = Table(title=f"{record.scenario} | {c.label} ({c.plugin}) | target {record.target} "
                        f"| seed {record.seed}")
    table.add_column("metric")
    table.add_column("baseline")
    table.add_column("pruned")
    m = record.measured
    if m is None:
        console.print(escape(f"{table.title}\n{record.status}: {record.error}"))
        return 0
    h, base, pruned = record.headline, m.baseline, m.pruned
    before = pruned.metrics.get(h + "_before_finetune")
    if before is not None:
        table.add_row(f"{h} before fine-tune", "", f"{before:.2f}")
    table.add_row(h, f"{base.metrics[h]:.2f}", f"{pruned.metrics[h]:.2f}")
    table.add_row("params", f"{base.params:,}", f"{pruned.params:,}")
    table.add_row("MACs", f"{base.macs:,}", f"{pruned.macs:,}")
    table.add_row("widths", ",".join(map(str, m.original_widths)),
                  ",".join(map(str, m.pruned_widths)))
    for bs, value in pruned.trm_bytes.items():
        table.add_row(f"TRM eq. 16, batch {bs} (MB)", "", f"{value / 1e6:.3f}")
    table.add_row("criterion seconds", "", f"{m.cost.criterion_seconds:.3f}")
    console.print(table)
    console.print(f"command: {record.command}\ncommit: {record.environment.git_commit}")
    return 0


def cmd_tiny_data(args: argparse.Namespace) -> int:
    """`tiny-data SCENARIO FOLDER` or `tiny-data FOLDER --scenario SCENARIO`."""
    *named, place = args.place
    if len(named) > 1 or (named and args.scenario and named[0] != args.scenario):
        raise PrunebenchError("give tiny-data one scenario and one folder, e.g. `prunebench "
                              "tiny-data vgg16-cifar10 data`")
    if not named and not args.scenario:
        raise PrunebenchError("tiny-data needs a scenario: `prunebench tiny-data SCENARIO "
                              f"{place}` (see `prunebench list --scenarios`)")
    scenario = scenarios.get(named[0] if named else args.scenario)
    if scenario.tiny_data is None:
        raise PrunebenchError(f"{scenario.name} needs no data files (its data ships with "
                              "scikit-learn)")
    folder = scenario.tiny_data(check_writable(Path(place), "tiny-data's folder"))
    console.print(f"wrote a tiny {scenario.name} data set to {folder}; try:\n  prunebench run "
                  f"--scenario {scenario.name} --budget smoke --data-root {place}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Accuracy boards from the cells' results, speed boards from saved speed sweeps; a file
    that is not a usable result is named in a warning and left out."""
    results = Path(args.results)
    out = Path(args.out) if args.out else results / "leaderboards"
    references = REFERENCES if args.reference is None else parse_names(args.reference,
                                                                       "--reference")
    regenerate = regenerate_command(args.results, out, references)
    records, skipped = scan_results(results)
    speed, skipped_speed = scan_speed_results(results)
    for warning in skipped + skipped_speed:
        errors.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if not records and not speed:
        raise PrunebenchError(f"no usable result files in {args.results}; run `prunebench run` "
                              "(or `prunebench speed --results`) first")
    check_writable(out, "--out")
    boards = build_boards(records, regenerate, references,
                          saved=lambda name: (results / name).is_file())
    paths = [*write_boards(boards, out), *write_speed_boards(speed, out, regenerate),
             write_index(boards, speed, out, regenerate)]
    for path in paths:
        console.print(f"wrote {path}")
    return 0
