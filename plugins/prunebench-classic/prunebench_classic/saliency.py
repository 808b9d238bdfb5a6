"""Criteria that compare filters by a normalised magnitude or a second-order loss estimate."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from prunebench.criteria.calibration import filter_matrix, mean_abs_sample_gradients
from prunebench.criterion import (
    Batch,
    ChannelGroup,
    Limits,
    NotApplicable,
    PruneContext,
    ScoreCriterion,
)

FISHERS = ("true", "sampled", "empirical")


def lamp_scores(norms: Tensor) -> Tensor:
    """LAMP (Lee et al., ICLR'21, eq. 2) of each entry of `norms` (squared magnitudes): its value
    over the sum of the values at least as large, counted in ascending sorted order (ties by
    position, as the paper's sorted indices u < v)."""
    order = torch.argsort(norms, stable=True)
    ordered = norms[order]
    tails = ordered.flip(0).cumsum(0).flip(0)  # sum of ordered[u:] for each u
    scores = torch.empty_like(norms)
    scores[order] = ordered / tails.clamp_min(1e-30)
    return scores


class LAMP(ScoreCriterion):
    """Layer-adaptive magnitude pruning (Lee et al., ICLR'21) on filters: a filter's squared L2
    norm over the summed squared norms of the filters of its layer that are at least as large.
    Within one layer its order is the L2 order; its scores are comparable across layers, so on
    a global target one threshold on them is LAMP's own rule (sec. 3)."""

    scores_comparable_across_layers = True

    def score(self, group: ChannelGroup) -> Tensor:
        norms = group.conv.weight.detach().double().flatten(1).pow(2).sum(1)
        return lamp_scores(norms)


class OBDHessian(ScoreCriterion):
    """Optimal Brain Damage (LeCun et al., NeurIPS'89) with the Hessian's diagonal estimated by
    the empirical Fisher, E_x[(dC(x)/dw)^2], over the calibration samples (as Torch-Pruning's
    GroupHessianImportance): a filter's saliency is sum_k h_kk w_k^2 / 2 over its weights."""

    needs = ("gradients",)

    def prepare(self, ctx: PruneContext) -> None:
        self._fisher = mean_abs_sample_gradients(ctx, power=2)

    def score(self, group: ChannelGroup) -> Tensor:
        w = filter_matrix(group.conv)
        return (self._fisher[group.name] * w.pow(2)).sum(1) / 2


def _logits(model: nn.Module, batch: Batch) -> Tensor:
    logits = model(batch[0])
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise NotApplicable("the true Fisher takes the expectation over a classifier's softmax; "
                            "this model does not output class logits")
    return logits


def class_expectation(generator: torch.Generator, most: int
                      ) -> Callable[[nn.Module, Batch], list[tuple[float, Tensor]]]:
    """One sample's true-Fisher terms: with at most `most` classes, the cross-entropy against
    every class c weighted by p_c, the exact expectation E_{y ~ p(x)} (EigenDamage eq. 3);
    with more, one label drawn from the softmax with `generator`, weight 1 (an unbiased
    estimate)."""
    def terms(model: nn.Module, batch: Batch) -> list[tuple[float, Tensor]]:
        logits = _logits(model, batch)
        probabilities = torch.softmax(logits.detach().double(), dim=1).cpu()
        if logits.shape[1] > most:
            label = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
            return [(1.0, nn.functional.cross_entropy(logits, label.to(logits.device)))]
        return [(float(probabilities[0, c]), nn.functional.cross_entropy(
            logits, torch.full((1,), c, device=logits.device))) for c in range(logits.shape[1])]
    return terms


class OBDC(ScoreCriterion):
    """C-OBD (Wang et al., ICML'19, EigenDamage sec. 3; Torch-Pruning's OBDCImportance): the
    structured OBD saliency of a filter, sum_k F_kk w_k^2 over its weights and bias, with F the
    diagonal of the Fisher from each sample's own gradient. By default the true Fisher: its
    expectation over the model's softmax taken exactly, every class weighted by its probability,
    for classifiers of at most `exact_classes` classes (100), else one label drawn from the
    softmax with the step's seeded generator per sample, as the reference code's
    `fisher_type='true'` does always (`fisher="sampled"` does that at any class count: at 128
    samples its kept set agrees with the exact one only at Jaccard 0.79-0.82 on LeNet-5);
    `fisher="empirical"` uses the data's labels (the task's loss). Differs from `obd-hessian` in
    the Fisher's labels and the bias's term."""

    needs = ("gradients",)
    limits = {"fisher": Limits(choices=FISHERS), "exact_classes": Limits(low=0, high=100_000)}

    def __init__(self, fisher: str = "true", exact_classes: int = 100) -> None:
        if fisher not in FISHERS:
            raise ValueError(f"fisher must be one of {', '.join(FISHERS)}, not {fisher!r}")
        if exact_classes < 0:
            raise ValueError(f"exact_classes must be >= 0, not {exact_classes}")
        self.fisher, self.exact_classes = fisher, exact_classes

    def prepare(self, ctx: PruneContext) -> None:
        if self.fisher == "empirical":
            self._fisher = mean_abs_sample_gradients(ctx, power=2, bias=True)
            return
        most = self.exact_classes if self.fisher == "true" else 0
        self._fisher = mean_abs_sample_gradients(
            ctx, power=2, bias=True, terms=class_expectation(ctx.generator, most))

    def score(self, group: ChannelGroup) -> Tensor:
        w = filter_matrix(group.conv, bias=True)
        return (self._fisher[group.name] * w.pow(2)).sum(1)

    def report(self) -> dict:
        return {"fisher": self.fisher, "exact_classes": self.exact_classes}
