"""`prunebench join --criteria NAMES --results FOLDER`: put criteria on a published board (issue
42). The board's results folder knows its scenarios, budgets, tracks, targets, seeds and data;
the new criteria run exactly those cells that are missing, from the committed baselines (never
retrained: a retrained baseline would not be the one the other rows started from), and the board
is written again with the new rows paired with the old ones."""

from __future__ import annotations

import argparse
import shlex
from collections import defaultdict
from pathlib import Path

from prunebench.cli.console import console
from prunebench.cli.options import make_options, make_plan
from prunebench.cli.run import recorded_run, run_and_tabulate
from prunebench.errors import PrunebenchError
from prunebench.harness.plan import RunPlan
from prunebench.results.record import Record
from prunebench.results.store import board_folder, check_writable, scan_results

ONE_SHOT_SUFFIX = "-one-shot"


def check_baselines(records: list[Record], results: Path) -> None:
    """Every seed's baseline is in the folder: joining never trains one."""
    for record in records:
        checkpoint = record.baseline_checkpoint
        if checkpoint and not (results / checkpoint).is_file():
            raise PrunebenchError(f"the board's baseline of {record.scenario}, seed "
                                  f"{record.seed} ({checkpoint}) is not in {results}; join "
                                  "runs only from the board's own baselines (commit it)")


def run_command(plan: RunPlan, criteria: str, recorded: argparse.Namespace,
                results: Path) -> str:
    """The `prunebench run` command that computes a plan's cells: what their records keep, so
    that `verify` (and anyone) can compute a joined cell again as it computes any other."""
    argv = ["prunebench", "run", "--scenario", plan.scenario.name, "--budget", plan.budget.name
            .removesuffix(ONE_SHOT_SUFFIX), "--track", "one-shot" if plan.budget.one_shot
            else "fine-tune", "--criteria", criteria, "--target",
            ",".join(t.name for t in plan.targets), "--seeds", ",".join(map(str, plan.seeds)),
            "--controls", "none", "--results", str(results)]
    if recorded.data_root is not None:
        argv += ["--data-root", recorded.data_root]
    if recorded.allow_unknown_data:
        argv.append("--allow-unknown-data")
    if recorded.threads is not None:
        argv += ["--threads", str(recorded.threads)]
    return shlex.join(argv)


def board_plans(records: list[Record], criteria: str, scenario: str | None,
                results: Path) -> list[tuple[RunPlan, str]]:
    """One plan per scenario, budget and track of the board (its targets and seeds), with the
    `prunebench run` command that computes it."""
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        if scenario is None or record.scenario == scenario:
            groups[(record.scenario, record.budget.name)].append(record)
    if not groups:
        raise PrunebenchError(f"no results of {scenario or 'any scenario'} to join")
    plans = []
    for (row, budget_name), members in sorted(groups.items()):
        one_shot = members[0].budget.one_shot
        targets = sorted({r.target for r in members if r.target != "unpruned"})
        made = [r for r in members if r.command.split()[1:2] == ["run"]]
        if not made:
            raise PrunebenchError(f"no {row} result of budget {budget_name} was made by "
                                  "`prunebench run`: the board's data folder is unknown")
        recorded = recorded_run(Path(row), made[0].command)
        plan = make_plan(scenario=row, criteria=criteria, target=",".join(targets),
                         seeds=",".join(str(s) for s in sorted({r.seed for r in members})),
                         budget=budget_name.removesuffix(ONE_SHOT_SUFFIX) if one_shot
                         else budget_name, threads=members[0].budget.threads,
                         data_root=recorded.data_root, controls="none",
                         track="one-shot" if one_shot else "fine-tune",
                         allow_unknown_data=recorded.allow_unknown_data)
        if plan.budget.hashed() != members[0].budget.hashed():
            raise PrunebenchError(f"the board's {row} cells ran budget {budget_name} as this "
                                  "prunebench no longer defines it; join with the prunebench "
                                  "version that made the board")
        plans.append((plan, run_command(plan, criteria, recorded, results)))
    return plans


def cmd_join(args: argparse.Namespace) -> int:
    results = Path(args.results)
    records, _ = scan_results(results)
    plans = board_plans(records, args.criteria, args.scenario, results)
    check_baselines([r for r in records if args.scenario in (None, r.scenario)], results)
    out = check_writable(Path(args.out) if args.out else board_folder(results), "--out")
    code = 0
    for plan, command in plans:  # every plan made (and every name checked) before any runs
        options = make_options(results=results, argv=args.argv, command=command)
        step, _ = run_and_tabulate(plan, options, out)
        code = max(code, step)
    console.print("joined: commit the new result files under "
                  f"{results} and the boards in {out}")
    return code
