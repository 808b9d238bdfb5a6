"""What each sparsity criterion's phase did, read from a results folder (issue 37): per cell
and step the lambda and epochs it ran, per layer how many kept filters the unpenalised score
would also keep, the removed filters' share of the score mass before and after the phase, and
the headline metric after the phase (before removal) against right after the removal.

    python benchmarks/sparsity_regime.py RESULTS    # e.g. a `paper` run of one seed

The penalty reached its paper's regime when the kept set differs from the unpenalised rule's in
most layers and the removed share falls by at least half (slimming, group-lasso,
group-norm-sl), or, for growing-reg, when lambda reaches its ceiling, the removed share is near
zero and the removal costs under a point.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prunebench.results.store import read_results

SPARSITY = ("slimming", "group-lasso", "group-norm-sl", "growing-reg")


def lines(results: Path) -> list[str]:
    out = []
    for record in read_results(results):
        if record.criterion.name not in SPARSITY or not record.ok:
            continue
        measured = record.measured
        report = measured.criterion_report
        head = record.headline
        out.append(f"{record.criterion.label} on {record.scenario}, {record.target}, seed "
                   f"{record.seed}: {head} {measured.pruned.metrics[head]:.2f}")
        for step, (phase, entry) in enumerate(zip(report.get("steps", ()), measured.history), 1):
            layers = "; ".join(
                f"{name} kept {layer.get('kept_as_unpenalised', '-')}/{layer['kept']} as "
                f"unpenalised, removed share {layer['removed_share_before']:.3f} -> "
                f"{layer['removed_share_after']:.3f}"
                for name, layer in phase["layers"].items())
            out.append(f"  step {step}: lambda {phase['lambda']:.3g}, {phase['epochs']:g} "
                       f"epochs; {layers}; {head} {entry.before_removal or float('nan'):.2f}"
                       f" before removal, {entry.metrics[f'{head}_before_finetune']:.2f} after")
    return out


if __name__ == "__main__":
    print("\n".join(lines(Path(sys.argv[1]))) or "no sparsity criterion's result there")
