"""The refit step of a reconstruction criterion (`Criterion.refits`): after the filters are
removed and before fine-tuning, each group's consuming layer, in forward order, is handed to the
criterion with rows of the pruned model's inputs and the unpruned model's outputs there, and the
weight it returns is checked and written. The reconstruction error before and after goes into
the step's history, so the board's readers (and the tests) see what the refit bought."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import torch
from torch import Tensor, nn

from prunebench.criteria import reconstruction
from prunebench.criterion import ChannelGroup, Criterion, PruneContext
from prunebench.errors import CriterionError
from prunebench.harness.cells.checks import guard, left_unchanged
from prunebench.runtime import distributed


def _checked(name: str, group: ChannelGroup, answer: object, expected: Tensor) -> Tensor | None:
    if answer is None:
        return None
    if not isinstance(answer, Tensor) or answer.shape != expected.shape:
        shape = tuple(answer.shape) if isinstance(answer, Tensor) else type(answer).__name__
        raise CriterionError(name, f"refit() on {group.name} returned {shape}, expected a "
                                   f"Tensor of shape {tuple(expected.shape)}")
    if not torch.isfinite(answer).all():
        raise CriterionError(name, f"refit() on {group.name} returned NaN/inf weights")
    return answer.detach().float().cpu()


def _fit(name: str, criterion: Criterion, ctx: PruneContext, original: nn.Module,
         group: ChannelGroup, outputs: Tensor | None, generator: torch.Generator) \
        -> tuple[Tensor | None, list[float]]:
    """The criterion's new weight for `group`'s consuming layer (None: left as it is), and the
    reconstruction error before and after."""
    rows = reconstruction.sample_rows(
        ctx.batches, (ctx.model, reconstruction.consumer(ctx.model, group)),
        (original, reconstruction.consumer(original, group)), group.n_filters, outputs,
        criterion.refit_locations, generator)
    with left_unchanged(name, f"refit() on {group.name}", ctx.model):  # the harness writes
        answer = guard(name, f"refit() on {group.name}", criterion.refit, group, rows)
    new = _checked(name, group, answer, rows.weight)
    return new, [rows.error(), rows.error(new)]


def refit_consumers(name: str, criterion: Criterion, ctx: PruneContext, original: nn.Module,
                    keep: Mapping[str, Tensor], generator: torch.Generator) \
        -> dict[str, list[float]]:
    """Refit every group's consuming layer of the pruned `ctx.model` towards `original` (the
    model before this step's removal), in forward order, so each layer's rows see the layers
    refitted before it; `keep` is what was kept of each group. Returns, per group, the relative
    reconstruction error before and after. Under torchrun rank 0 fits (on its share of the
    calibration batches) and every rank writes the weights it fitted."""
    errors: dict[str, list[float]] = {}
    ctx.model.eval()
    original.eval()
    for group in ctx.groups:
        outputs = keep.get(group.consumers[0]) if group.consumers else None
        new, errors[group.name] = distributed.from_main(
            partial(_fit, name, criterion, ctx, original, group, outputs, generator))
        if new is not None:
            layer = reconstruction.consumer(ctx.model, group)
            reconstruction.set_weight_blocks(layer, new.to(layer.weight.device))
    return errors
