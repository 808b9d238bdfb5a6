"""What a board says of its protocol under every table: the fine-tuning schedule the rows
shared and how many epochs each control row trained (issue 36: the schedule and the controls
are part of the verdict, so the board shows them)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from prunebench.protocol.config import SCRATCH_B, SCRATCH_E, UNPRUNED_FT
from prunebench.protocol.schedule import SCRATCH_B_CAP, schedule_text
from prunebench.results.record import Record

#: what each control is, in the words the board uses
CONTROL_TEXT = {
    UNPRUNED_FT: "the unpruned baseline given exactly the pruning cells' fine-tuning (the "
                 "ceiling; below the baseline, the fine-tuning itself hurts)",
    SCRATCH_E: "the pruned widths from random weights for the baseline's and all fine-tuning "
               "epochs together (epoch-matched to the whole pipeline; Liu et al.'s Scratch-E "
               "matches the baseline's epochs alone, a weaker reference)",
    SCRATCH_B: "the same for the unpruned baseline's training MACs, baseline epochs x unpruned "
               f"MACs / pruned MACs (Scratch-B, Liu et al., ICLR'19, sec. 4), at most "
               f"{SCRATCH_B_CAP:g}x scratch-e's epochs",
}


def protocol_lines(records: Sequence[Record]) -> list[str]:
    """The schedule the table's cells ran, and each control's training epochs."""
    schedules = sorted({schedule_text(r.budget) for r in records})
    if not schedules:
        return []
    lines = [f"- Fine-tuning: {'; '.join(schedules)} (identical for every row)."]
    epochs: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.reference and r.measured is not None and r.measured.cost.training_epochs:
            epochs[r.label].append(r.measured.cost.training_epochs)
    for label, values in sorted(epochs.items()):
        low, high = min(values), max(values)
        span = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        lines.append(f"- `{label}` trained {span} epochs: {CONTROL_TEXT.get(label, '')}.")
    return lines + [""]


def mean_curves(records: Sequence[Record]) -> dict[str, list[float]]:
    """Per row: its headline after every fine-tuning epoch, the mean over the seeds that
    recorded one (only rows whose cells all have curves of one length)."""
    by_row: dict[str, list[list[float]]] = defaultdict(list)
    for r in records:
        if r.measured is not None and (curve := r.measured.curve()):
            by_row[r.label].append(curve)
    return {label: [statistics.fmean(epoch) for epoch in zip(*curves)]
            for label, curves in sorted(by_row.items())
            if len({len(c) for c in curves}) == 1}
