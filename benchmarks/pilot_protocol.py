"""The pilot that chose protocol v3's fine-tuning (issue 36): not a test, a documented command.

On lenet5-fashionmnist at `prun1`, from the committed baselines of seeds 2, 3 and 4, it runs
`l1`, `random` and the `unpruned-ft` control under

- the second edition's schedule: 4 steps x 3 epochs at a constant 0.01, no final phase;
- protocol v3: 4 steps x 3 epochs with a cosine from 1e-3 to 1e-4 restarted at every step
  (seed 001 sec. 4.1), then a final phase of 3, 6, 12 or 24 epochs with the same decay, or of
  6, 12 or 24 epochs decaying from 1e-2 (`random` and `unpruned-ft` at 12 epochs only),

every cell through prunebench's own runner, and prints the tables of docs/protocol.md: the final
top-1 per row and schedule, how often step 1's fine-tuning lowered accuracy, and top-1 against
the final phase's length. Run it in two processes sharing one folder, then summarise:

    python benchmarks/pilot_protocol.py --data-root /usr/share/datasets/fashion-mnist \\
        --results pilot --shard 1/2 &
    python benchmarks/pilot_protocol.py ... --shard 2/2; wait
    python benchmarks/pilot_protocol.py --results pilot --summarise
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from prunebench import scenarios
from prunebench.cli.arguments import parse_seeds, parse_shard
from prunebench.harness.plan import RunOptions, RunPlan
from prunebench.harness.runner import run_matrix
from prunebench.protocol.config import UNPRUNED_FT, Budget
from prunebench.protocol.schedule import schedule_text
from prunebench.results.record import Record
from prunebench.results.store import read_results

SCENARIO = "lenet5-fashionmnist"
FINAL_LENGTHS = (3, 6, 12, 24)
FINAL_FROM, FINAL_FROM_LENGTHS = 1e-2, (6, 12, 24)  # a final phase that starts higher
COMMITTED = Path(__file__).resolve().parent.parent / "leaderboards" / "results" / "baselines"


def budgets() -> dict[str, Budget]:
    """The schedules compared, by the name the tables use."""
    paper = scenarios.get(SCENARIO).budget("paper")
    second = replace(paper, finetune_lr=0.01, finetune_schedule="constant", finetune_lr_end=None,
                     final_epochs=0)
    return {**{f"v3, final {n} from {FINAL_FROM:g}": replace(paper, final_epochs=n,
                                                              final_lr=FINAL_FROM)
               for n in FINAL_FROM_LENGTHS},
            "second edition": second,
            **{f"v3, final {n}": replace(paper, final_epochs=n, final_lr=None)
               for n in FINAL_LENGTHS}}


def run(data_root: Path, results: Path, seeds: tuple[int, ...],
        shard: tuple[int, int] | None) -> None:
    scenario = scenarios.get(SCENARIO)
    for seed in seeds:  # the committed baselines: every row starts where the boards' rows did
        folder = results / "baselines" / SCENARIO
        folder.mkdir(parents=True, exist_ok=True)
        for path in (COMMITTED / SCENARIO).glob(f"seed{seed}--*.pt"):
            if not (folder / path.name).exists():
                shutil.copy(path, folder / path.name)
    for name, budget in budgets().items():
        with_ceiling = name == "second edition" or budget.final_epochs == 12
        criteria = ("l1",) if budget.final_lr is not None and budget.final_epochs != 12 \
            else ("l1", "random")
        plan = RunPlan(scenario, criteria, (scenario.target("prun1"),), seeds, budget,
                       controls=(UNPRUNED_FT,) if with_ceiling else (), data_root=data_root)
        run_matrix(plan, RunOptions(results=results, shard=shard,
                                    command=f"benchmarks/pilot_protocol.py ({name})"))


def variant(record: Record) -> str:
    b = record.budget
    if b.finetune_schedule == "constant":
        return "second edition"
    start = f" from {b.final_lr:g}" if b.final_lr is not None else ""
    return f"v3, final {b.final_epochs}{start}"


def summarise(results: Path) -> str:
    records = [r for r in read_results(results) if r.scenario == SCENARIO and r.ok]
    top1: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    step1 = defaultdict(lambda: [0, 0])  # variant -> [cells where step 1's FT lowered, cells]
    baseline: dict[int, float] = {}
    for r in records:
        m = r.measured
        assert m is not None
        top1[(variant(r), r.label)][r.seed] = m.pruned.metrics["top1"]
        baseline[r.seed] = m.baseline.metrics["top1"]
        first = m.history[0].metrics if m.history else {}
        if r.label != UNPRUNED_FT and "top1_before_finetune" in first:
            count = step1[variant(r)]
            count[0] += first["top1"] < first["top1_before_finetune"]
            count[1] += 1
    seeds = sorted(baseline)
    lines = [f"Baseline top-1 over seeds {', '.join(map(str, seeds))}: "
             f"{statistics.fmean(baseline.values()):.2f}", "",
             "| schedule | row | top-1 per seed | mean | vs baseline |", "|---|---|---|---|---|"]
    for (name, label), by_seed in sorted(top1.items()):
        values = [by_seed[s] for s in seeds if s in by_seed]
        gap = statistics.fmean(by_seed[s] - baseline[s] for s in by_seed)
        lines.append(f"| {name} | {label} | {', '.join(f'{v:.2f}' for v in values)} | "
                     f"{statistics.fmean(values):.2f} | {gap:+.2f} |")
    lines += ["", "| schedule | cells whose step-1 fine-tuning lowered top-1 |", "|---|---|"]
    lines += [f"| {name} | {low} of {n} |" for name, (low, n) in sorted(step1.items())]
    lines += ["", "| final phase | l1 | random |", "|---|---|---|"]
    for name in [f"v3, final {n}" for n in FINAL_LENGTHS] + [
            f"v3, final {n} from {FINAL_FROM:g}" for n in FINAL_FROM_LENGTHS]:
        row = [top1.get((name, label), {}) for label in ("l1", "random")]
        lines.append(f"| {name[4:]} | " + " | ".join(
            f"{statistics.fmean(v.values()):.2f} ({len(v)} seeds)" if v else "–" for v in row)
            + " |")
    lines += ["", *(f"- {name}: {schedule_text(b)}" for name, b in budgets().items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--results", type=Path, default=Path("pilot"))
    parser.add_argument("--seeds", default="2,3,4")
    parser.add_argument("--shard")
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args()
    if not args.summarise:
        run(args.data_root, args.results, parse_seeds(args.seeds),
            parse_shard(args.shard) if args.shard else None)
    print(summarise(args.results))


if __name__ == "__main__":
    main()
