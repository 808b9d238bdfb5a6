"""Commands that read or write files: list, show, tiny-data, leaderboard."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from prunebench import scenarios
from prunebench.cli.arguments import parse_names
from prunebench.cli.console import console, errors
from prunebench.criteria import discovery, registry
from prunebench.errors import PrunebenchError
from prunebench.harness.plan import plugin_call
from prunebench.results.store import (
    board_folder,
    check_writable,
    read_result,
    scan_results,
    scan_speed_results,
    scan_verifications,
)

CRITERION_COLUMNS = ("name", "distribution", "needs", "extra cost", "settings", "status",
                     "description")


def criteria_rows() -> list[dict[str, str]]:
    """Every installed criterion as `prunebench list` shows it; a broken plugin's row says why."""
    rows = []
    found = discovery.listing()  # the metadata read once, for every row
    for name, info in found.by_name.items():
        dist = info.source
        try:
            loaded = registry.load(name, found.by_name)
        except PrunebenchError as exc:
            rows.append(dict(zip(CRITERION_COLUMNS, (name, dist, "?", "?", "?",
                                                     f"broken: {exc}", ""))))
            continue
        needs = ", ".join(loaded.cls.needs) or "data-free"
        extra = [loaded.cls.sparsity_rule or f"{loaded.cls.sparsity_epochs:g} epochs"] \
            if loaded.cls.sparsity_epochs else []
        extra += ["refit"] if loaded.cls.refits else []
        rows.append(dict(zip(CRITERION_COLUMNS, (
            name, dist, needs, ", ".join(extra) or "none", registry.settings_text(loaded.cls),
            "ok", loaded.description))))
    for claim in found.refused:
        rows.append(dict(zip(CRITERION_COLUMNS, (claim.name, claim.source, "?", "?", "?",
                                                 f"refused: {claim.conflict}", ""))))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    """The criteria (or scenarios) as a table whose names are never cut (the other columns
    fold), or as JSON for scripts."""
    if args.scenarios:
        return list_scenarios(args.json)
    rows = criteria_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"criteria (entry-point group {registry.GROUP})")
    longest = max((len(r["name"]) for r in rows), default=4)
    for column in CRITERION_COLUMNS:
        if column == "name":
            table.add_column(column, no_wrap=True, min_width=longest)
        elif column == "distribution":  # a package name: whole where the width allows
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        status = "[green]ok" if row["status"] == "ok" else f"[red]{escape(row['status'])}"
        table.add_row(*(escape(row[c]) if c != "status" else status for c in CRITERION_COLUMNS))
    console.print(table)
    return 0


def list_scenarios(as_json: bool = False) -> int:
    """Every row with the distribution that registered it, and whether it can be pruned (a
    plugin's row is built and checked; the core's are checked by its tests); a broken scenario
    plugin as a line of its own (the others still list)."""
    from prunebench.scenarios.check import refusal, scenario_problem

    table = Table(title=f"scenarios (entry-point group {scenarios.GROUP})")
    found = list(scenarios.registry().values())
    longest = max((len(s.name) for s in found), default=4)
    table.add_column("name", no_wrap=True, min_width=longest)
    for column in ("distribution", "prunable layers", "targets", "status"):
        table.add_column(column, no_wrap=column != "status", overflow="fold")
    table.add_column("description", overflow="fold")
    refused, rows = [], []
    for s in found:
        layers = ", ".join(s.groups) if len(s.groups) <= 3 else f"{len(s.groups)} convs"
        problem = None if s.source.split()[:1] == [scenarios.CORE] else scenario_problem(s)
        if problem is not None:
            refused.append(refusal(s, problem))
        rows.append({"name": s.name, "distribution": s.source, "prunable layers": list(s.groups),
                     "targets": list(s.targets), "status": "ok" if problem is None else
                     refusal(s, problem), "description": s.description})
        status = "[green]ok" if problem is None else "[red]refused (below)"
        table.add_row(s.name, s.source, layers, ", ".join(s.targets), status, s.description)
    if as_json:
        rows += [{"name": b.line(), "status": "broken"} for b in scenarios.broken()]
        print(json.dumps(rows, indent=2))
        return 0
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
    folder = plugin_call(scenario, "its tiny-data writer", scenario.tiny_data,
                         check_writable(Path(place), "tiny-data's folder"))
    console.print(f"wrote a tiny {scenario.name} data set to {folder}; try:\n  prunebench run "
                  f"--scenario {scenario.name} --budget smoke --data-root {place}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Accuracy boards from the cells' results, speed boards from saved speed sweeps; a file
    that is not a usable result is named in a warning and left out."""
    # here, not at the top: the boards' statistics (scipy, statsmodels) take a second or two to
    # load, which `list`, `show` and `tiny-data` need not wait for
    from prunebench.report.board import build_boards
    from prunebench.report.index import write_index
    from prunebench.report.markdown import write_boards
    from prunebench.report.provenance import regenerate_command
    from prunebench.report.speed_board import write_speed_boards
    from prunebench.report.verdict import REFERENCES

    results = Path(args.results)
    out = Path(args.out) if args.out else board_folder(results)
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
                          saved=lambda name: (results / name).is_file(),
                          verified=scan_verifications(results))
    paths = [*write_boards(boards, out), *write_speed_boards(speed, out, regenerate),
             write_index(boards, speed, out, regenerate)]
    for path in paths:
        console.print(f"wrote {path}")
    return 0
