"""Reconstruction criteria: a layer's filters are chosen by how well the next layer's output can
be kept without them, and that layer is then refitted to the unpruned model's output (the
harness's refit hook, after removal and before fine-tuning). Rows are sampled at 10 random
output positions per calibration image, as both papers do (setting `locations`)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import lasso_path
from torch import Tensor

from prunebench.criteria.reconstruction import channel_gram, consumer_rows, least_squares
from prunebench.criterion import ChannelGroup, Criterion, LayerRows, Limits, PruneContext


def greedy_removal(gram: Tensor, n_remove: int) -> list[int]:
    """ThiNet's Algorithm 1 on the Gram matrix of the channels' contributions: grow the removed
    set T one channel at a time, each time the channel that keeps ||sum_{c in T} Z_c||^2
    smallest (ties to the lower index)."""
    removed: list[int] = []
    cross = torch.zeros(len(gram), dtype=torch.float64)  # sum over T of G[c, t]
    for _ in range(n_remove):
        cost = 2 * cross + gram.diagonal()
        if removed:
            cost[removed] = float("inf")
        chosen = int(torch.argmin(cost))  # the first of equal minima
        removed.append(chosen)
        cross += gram[:, chosen]
    return removed


class ThiNet(Criterion):
    """ThiNet (Luo et al., ICCV'17): the channels of layer i are chosen by layer i+1's output.
    Sec. 3.2, eq. 5 and Algorithm 1: greedily remove the channels whose summed contributions
    to the sampled outputs of the next layer are smallest, ||sum_{c in T} x_c||^2; eq. 6: the
    kept channels' contributions are rescaled by least squares, w = (X'X)^-1 X'y, here on the
    pruned model's inputs against the unpruned model's outputs. Every output of a sampled
    position is a sample (the paper draws one output channel per position)."""

    needs = ("activations",)
    refits = True
    limits = {"locations": Limits(low=1, high=10_000)}

    def __init__(self, locations: int = 10) -> None:
        self.refit_locations = locations

    def prepare(self, ctx: PruneContext) -> None:
        self._gram = {g.name: channel_gram(consumer_rows(ctx, g, self.refit_locations))[0]
                      for g in ctx.groups}

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        removed = set(greedy_removal(self._gram[group.name], group.n_filters - n_keep))
        return torch.tensor([c for c in range(group.n_filters) if c not in removed])

    def refit(self, group: ChannelGroup, rows: LayerRows) -> Tensor:
        gram, b = channel_gram(rows)
        scale = torch.linalg.lstsq(gram, b[:, None], driver="gelsd").solution[:, 0]
        return rows.weight * scale[None, :, None].float()

    def report(self) -> dict:
        return {"locations": self.refit_locations}


def lasso_order(gram: Tensor, b: Tensor, points: int = 200) -> list[int]:
    """Channels in the order CP's LASSO keeps them as its penalty grows: by the largest penalty
    at which a channel's coefficient is still non-zero along scikit-learn's LASSO path (`points`
    penalties, log-spaced down to 1e-4 of the smallest that zeroes every coefficient), then by
    the coefficient's magnitude there, then by index. The path is fitted on R with R'R = G and
    R't = b, the same objective as ||y - Z beta||^2 up to a constant."""
    values, vectors = torch.linalg.eigh(gram)
    positive = values > values.max().clamp_min(1e-300) * 1e-12
    root = values[positive].sqrt()
    design = (vectors[:, positive] * root).T  # R: rows R'R = G
    target = (vectors[:, positive].T @ b) / root  # t: R't = b
    # scikit-learn's objective is ||t - R beta||^2 / (2 rows) + alpha ||beta||_1: every
    # coefficient is zero from alpha = max |R't| / rows on
    largest = float((design.T @ target).abs().max()) / len(target)
    if largest == 0:  # no channel adds anything to the outputs: keep the first
        return list(range(len(b)))
    penalties = largest * np.logspace(0, -4, points)
    _, coefs, _ = lasso_path(design.numpy(), target.numpy(), alphas=penalties)
    active = np.abs(coefs) > 0  # (channels, penalties), penalties from large to small
    entry = np.where(active.any(axis=1), active.argmax(axis=1), points)
    at_entry = np.abs(coefs[np.arange(len(entry)), np.minimum(entry, points - 1)])
    return sorted(range(len(entry)), key=lambda c: (entry[c], -at_entry[c], c))


class ChannelPruning(Criterion):
    """Channel pruning (He et al., ICCV'17, sec. 3.1, eq. 1-3): choose the channels by LASSO
    regression, min ||Y - sum_c beta_c X_c W_c'||^2 + lambda ||beta||_1 with every ||W_c||_F = 1,
    raising lambda until n_keep coefficients remain (scikit-learn's LASSO path, `lasso_order`);
    then refit the next layer's weights on the kept channels by least squares, W' =
    argmin ||Y - X' W'||^2, the pruned model's inputs against the unpruned model's outputs."""

    needs = ("activations",)
    refits = True
    limits = {"locations": Limits(low=1, high=10_000)}

    def __init__(self, locations: int = 10) -> None:
        self.refit_locations = locations

    def prepare(self, ctx: PruneContext) -> None:
        self._order = {}
        for g in ctx.groups:
            rows = consumer_rows(ctx, g, self.refit_locations)
            norms = rows.weight.double().pow(2).sum(dim=(0, 2)).sqrt().clamp_min(1e-30)
            self._order[g.name] = lasso_order(
                *channel_gram(rows, rows.weight.double() / norms[None, :, None]))

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        return torch.tensor(sorted(self._order[group.name][:n_keep]))

    def refit(self, group: ChannelGroup, rows: LayerRows) -> Tensor:
        return least_squares(rows).float()

    def report(self) -> dict:
        return {"locations": self.refit_locations}
