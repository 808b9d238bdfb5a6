"""The learning rate of every fine-tuning optimizer step, and the epochs of the control rows.

Protocol v3 (issue 36): fine-tuning decays, as seed 001 describes ("Learning rate is varied in
the range [0.001, 0.0001]", sec. 4.1 for LeNet-5 and 4.2 for VGG-16; [0.001, 0.00001] for
ResNet-50, sec. 4.4), and a final phase after the last removal trains the final architecture
until more epochs no longer help (the pilot, docs/protocol.md). The shape between the two rates is a
cosine (Loshchilov & Hutter, SGDR, ICLR'17): the seed names the range, not the shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from prunebench.protocol.config import Budget

#: lr at optimizer step i of a phase of `total` steps
Rate = Callable[[int, int], float]


#: the final phase starts at this many times the steps' rate (the pilot in docs/protocol.md: at the
#: seed's 1e-3 a LeNet-5's final widths barely train in 12 epochs; from 1e-2 they do)
FINAL_BOOST = 10.0


def decay(start: float, end: float) -> dict[str, Any]:
    """A budget's fine-tuning fields for a seed's "learning rate is varied in the range
    [start, end]": a cosine from `start` to `end`, restarted at every pruning step (each step
    recovers from its own removal), and a final phase decaying from `FINAL_BOOST` x `start` to
    `end`."""
    return {"finetune_lr": start, "finetune_schedule": "cosine", "finetune_lr_end": end,
            "final_lr": FINAL_BOOST * start}


def cosine(start: float, end: float, i: int, total: int) -> float:
    """From `start` at step 0 down to `end` at step `total` (half a cosine period)."""
    return end + (start - end) * (1 + math.cos(math.pi * i / max(total, 1))) / 2


def finetune_rate(budget: Budget, step: int | None) -> Rate:
    """The rate of pruning step `step`'s fine-tuning (None: the final phase). A decay that does
    not restart runs once across every step's fine-tuning (each step has the same length); the
    final phase always has a decay of its own."""
    start, end = budget.finetune_lr, budget.finetune_lr_end
    if step is None and budget.final_lr is not None:
        start = budget.final_lr
    if budget.finetune_schedule == "constant" or end is None:
        return lambda _i, _total: start
    if step is None or budget.finetune_restart:
        return lambda i, total: cosine(start, end, i, total)
    return lambda i, total: cosine(start, end, (step - 1) * total + i, budget.steps * total)


def schedule_text(budget: Budget) -> str:
    """The fine-tuning schedule in words, for boards and `--dry-run`."""
    steps = f"{budget.steps} x {budget.finetune_epochs} epochs"
    if budget.finetune_schedule == "constant":
        rate = f"constant {budget.finetune_lr:g}"
    else:
        where = "restarting at every step" if budget.finetune_restart else "once across the steps"
        rate = f"cosine {budget.finetune_lr:g} -> {budget.finetune_lr_end:g}, {where}"
    final = ""
    if budget.final_epochs:
        start = f" from {budget.final_lr:g}" if budget.final_lr is not None else ""
        final = f", then a final {budget.final_epochs} epochs (its own decay{start})"
    return f"{steps}, {rate}{final}"


def finetune_epochs(budget: Budget) -> int:
    """Every fine-tuning epoch a pruning cell runs: all steps' and the final phase's."""
    return budget.steps * budget.finetune_epochs + budget.final_epochs


def scratch_e_epochs(budget: Budget) -> int:
    """`scratch-e`: the baseline's epochs plus all fine-tuning, epoch-matched to the whole
    pipeline. (Liu et al.'s Scratch-E matches the baseline's epochs alone: a weaker reference.)"""
    return budget.baseline_epochs + finetune_epochs(budget)


#: scratch-b trains at most this many times scratch-e's epochs (issue 36's rule: Liu et al.
#: give no cap, and a 9x smaller model would otherwise train 9x the baseline's epochs)
SCRATCH_B_CAP = 2.0


def scratch_b_epochs(budget: Budget, unpruned_macs: int, pruned_macs: int) -> int:
    """`scratch-b` (Liu et al., "Rethinking the value of network pruning", ICLR'19, sec. 4):
    the unpruned baseline's training MACs spent on the pruned architecture, baseline epochs x
    unpruned MACs / pruned MACs, rounded to whole epochs, at most `SCRATCH_B_CAP` x
    scratch-e's."""
    matched = budget.baseline_epochs * unpruned_macs / max(pruned_macs, 1)
    return round(min(matched, SCRATCH_B_CAP * scratch_e_epochs(budget)))
