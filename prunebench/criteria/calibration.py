"""Harness-owned loops over the calibration batches for data-driven criteria.

Criteria ask for statistics; these functions run the batches, place and remove the hooks, and
clear the gradients they made, so no criterion writes its own loop and all see the same data.
Under torchrun each rank runs its share of every batch and the sums are reduced across ranks, so
every rank gets the statistics of the whole batches and prunes the same filters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from prunebench.criterion import Batch, ChannelGroup, PruneContext
from prunebench.runtime import distributed

#: statistic(feature_map (N, C, H, W), gradient of the loss w.r.t. it or None) -> (N, C)
Statistic = Callable[[Tensor, Tensor | None], Tensor]


def _tap(group: ChannelGroup, after_activation: bool) -> nn.Module:
    """The module whose output is the group's feature map: the BatchNorm (if any) when the
    activation is wanted, else the conv itself."""
    return group.bn if after_activation and group.bn is not None else group.conv


def feature_statistics(ctx: PruneContext, statistic: Statistic, *, after_activation: bool,
                       gradients: bool = False) -> dict[str, Tensor]:
    """Per group, the mean over calibration samples of `statistic`, one value per channel.

    With `after_activation` the feature map is a = ReLU(b), b = BN(conv(x)) (b = conv(x) without
    BN), the activation that follows every prunable conv of the matrix and the map the next
    layer sees; otherwise it is the conv's raw output. With `gradients` the statistic also gets
    dLoss/d(b) (at the raw output: dLoss/d(output)). After the activation, a * dLoss/da equals
    a * dLoss/db exactly (where b > 0 they are the same, elsewhere a = 0), so a product of the
    map and the gradient is the activation's.
    """
    outputs: dict[str, Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
            if gradients:
                output.retain_grad()
            outputs[name] = output
        return hook

    handles = [_tap(g, after_activation).register_forward_hook(keep(g.name)) for g in ctx.groups]
    totals: dict[str, Tensor] = {}
    samples = 0
    try:
        for batch in ctx.batches():
            outputs.clear()
            with torch.set_grad_enabled(gradients):
                loss = ctx.loss(ctx.model, batch)
                if gradients:  # per-sample gradients scaled as in the whole batch's mean loss
                    loss = loss * distributed.share_weight(len(batch[1])) / distributed.world_size()
                    ctx.model.zero_grad(set_to_none=True)
                    loss.backward()
            for g in ctx.groups:
                fm = outputs[g.name].detach()
                value = statistic(torch.relu(fm) if after_activation else fm,
                                  outputs[g.name].grad if gradients else None)
                totals[g.name] = totals.get(g.name, 0) + value.double().sum(0)
            samples += len(batch[1])
    finally:
        for handle in handles:
            handle.remove()
        ctx.model.zero_grad(set_to_none=True)
    samples = int(distributed.all_sum(torch.tensor(samples)))
    return {name: distributed.all_sum(total) / max(samples, 1) for name, total in totals.items()}


def mean_abs_weight_gradients(ctx: PruneContext) -> dict[str, Tensor]:
    """Per group, E_batches[|dLoss/dW|] of the conv's weight tensor (same shape as the weight).
    Under torchrun the ranks' gradients are combined into the whole batch's before the |.|."""
    totals: dict[str, Tensor] = {}
    batches = 0
    try:
        for batch in ctx.batches():
            ctx.model.zero_grad(set_to_none=True)
            weight = distributed.share_weight(len(batch[1])) / distributed.world_size()
            (ctx.loss(ctx.model, batch) * weight).backward()
            for g in ctx.groups:
                grad = g.conv.weight.grad
                grad = torch.zeros_like(g.conv.weight) if grad is None else grad
                magnitude = distributed.all_sum(grad.double()).abs()
                totals[g.name] = totals.get(g.name, 0) + magnitude
            batches += 1
    finally:
        ctx.model.zero_grad(set_to_none=True)
    return {name: total / max(batches, 1) for name, total in totals.items()}


def filter_matrix(conv: nn.Conv2d, bias: bool = False) -> Tensor:
    """The conv's weights as a (filters, fan-in) matrix in float64, with its bias as a last
    column when `bias` and it has one: the layout of `mean_abs_sample_gradients`."""
    w = conv.weight.detach().double().flatten(1)
    if bias and conv.bias is not None:
        w = torch.cat([w, conv.bias.detach().double()[:, None]], dim=1)
    return w


#: a sample's loss as weighted terms: E over a distribution of its gradient's |.|^power is the
#: weighted sum over the terms (an expectation over labels, say)
Terms = Callable[[nn.Module, Batch], list[tuple[float, Tensor]]]


def mean_abs_sample_gradients(ctx: PruneContext, power: int = 1,
                              loss: Callable[[nn.Module, Batch], Tensor] | None = None,
                              bias: bool = False, terms: Terms | None = None
                              ) -> dict[str, Tensor]:
    """Per group, E_x[|dC(x)/dW|^power] over the calibration samples as a (filters, fan-in)
    matrix (`filter_matrix` layout; the bias's column too with `bias`): each sample's gradient of
    its own loss (`loss`, default the task's), its magnitude (power 1: seed 001 eq. 13) or square
    (power 2: a Fisher diagonal), averaged over samples (never the |.| of a batch's mean
    gradient, where samples' signs cancel). One backward pass per sample: it works
    for every model (a detector's losses too), and on CPU it was faster than torch.func's vmap
    over grad (VGG-16, 64 samples, one thread: 12 s against 27 s). Under torchrun each rank
    sums its samples and the sums are reduced. With `terms`, each sample's statistic is the
    weighted sum over its terms of each term's gradient's |.|^power (one backward pass each)."""
    loss = loss or ctx.loss
    each = terms or (lambda model, sample: [(1.0, loss(model, sample))])
    totals: dict[str, Tensor] = {}
    samples = 0
    try:
        for batch in ctx.batches():
            for i in range(len(batch[1])):
                found = each(ctx.model, (batch[0][i:i + 1], batch[1][i:i + 1]))
                for k, (weight, term) in enumerate(found):
                    ctx.model.zero_grad(set_to_none=True)
                    term.backward(retain_graph=k + 1 < len(found))
                    for g in ctx.groups:
                        parts = [g.conv.weight] + (
                            [g.conv.bias] if bias and g.conv.bias is not None else [])
                        grads = [torch.zeros_like(p, dtype=torch.float64) if p.grad is None
                                 else p.grad.double() for p in parts]
                        matrix = torch.cat([grads[0].flatten(1)] + [b[:, None]
                                                                    for b in grads[1:]], dim=1)
                        totals[g.name] = totals.get(g.name, 0) + weight * matrix.abs() ** power
            samples += len(batch[1])
    finally:
        ctx.model.zero_grad(set_to_none=True)
    count = int(distributed.all_sum(torch.tensor(samples)))
    return {name: distributed.all_sum(total) / max(count, 1) for name, total in totals.items()}
