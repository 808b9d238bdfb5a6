"""Sparsity-training criteria: a penalty during the sparsity epochs drives unimportant filters
towards zero, then the smallest are pruned. Their sparsity epochs are their cost.

The papers train with their penalty for tens of thousands of iterations at learning rates of
0.1 (Network Slimming: 160 CIFAR epochs at lambda 1e-4; GReg: lambda raised by 1e-4 every 10
iterations up to 1). A pruning step here has a few hundred to a thousand iterations at the
fine-tuning rate (1e-3 on LeNet-5), where the papers' lambda moves nothing (issue 37: |gamma|
moved by 1e-4). So by default each step's phase is scaled to reach the papers' *regime* instead
of copying their constants (docs/criteria.md, "Sparsity criteria"): the phase runs whole
epochs of at least `MIN_ITERATIONS` iterations (but at most MAX_SHARE times the budget's
fine-tuning epochs per step), and lambda is set from the phase's SGD so that the penalty
alone would move the step's median filter score `SHRINK` times to zero over the phase (an L1
rule: lambda = SHRINK x median / (lr / (1 - momentum) x iterations)), set at the first step and
held for the later ones, as the papers hold their lambda. Settings `lam` and `epochs` replace
either rule with a constant; 0 keeps the rule.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from prunebench.criterion import (
    ChannelGroup,
    Limits,
    NotApplicable,
    PruneContext,
    ScoreCriterion,
    SparsityPhase,
)

#: the fewest SGD iterations of a default sparsity phase (whole epochs of the step's data)
MIN_ITERATIONS = 500
#: ... but at most this many times the budget's own fine-tuning epochs per step, so a phase
#: costs in proportion to its budget (a `smoke` run stays seconds long)
MAX_SHARE = 8
#: how many times over the penalty alone would move the median score to zero during the phase
SHRINK = 1.0


def phase_epochs(given: float, phase: SparsityPhase) -> float:
    """`given` epochs, or (0) as many whole epochs as make `MIN_ITERATIONS` iterations, at most
    MAX_SHARE times the budget's fine-tuning epochs per step (and at least one)."""
    if given > 0:
        return given
    enough = math.ceil(MIN_ITERATIONS / phase.iterations_per_epoch)
    return float(max(1, min(enough, math.floor(MAX_SHARE * phase.finetune_epochs))))


def shares(scores: Tensor, kept: Tensor) -> float:
    """The removed filters' share of a layer's score mass (sum of scores)."""
    removed = torch.ones(len(scores), dtype=torch.bool)
    removed[kept] = False
    total = float(scores.sum())
    return float(scores[removed].sum()) / total if total > 0 else 0.0


class _Penalised(ScoreCriterion):
    """A criterion that trains `epochs` sparsity epochs per step with a penalty of weight
    `lam` (0: the module's rules), then keeps the highest scores. Its report says, per step
    and layer, the lambda used, how many of the kept filters the same score before the phase
    (the unpenalised rule) would also keep, and the removed filters' share of the score mass
    before and after the phase: the evidence that the penalty changed what is kept."""

    sparsity_epochs = 1.0  # at least: `prepare` sets the step's from the phase
    sparsity_rule = f"epochs of >= {MIN_ITERATIONS} iterations per step (<= {MAX_SHARE}x FT)"
    needs = ("training",)
    limits = {"lam": Limits(low=0, high=1e3), "epochs": Limits(low=0, high=1e3)}

    def __init__(self, lam: float = 0.0, epochs: float = 0.0) -> None:
        if lam < 0 or epochs < 0:
            raise ValueError("lam and epochs must be >= 0 (0: the documented rule)")
        self.lam_setting, self.epochs_setting = lam, epochs
        self.lam = lam
        self.sparsity_epochs = epochs or 1.0
        self.steps: list[dict] = []
        self._before: dict[str, Tensor] = {}

    def prepare(self, ctx: PruneContext) -> None:
        self.sparsity_epochs = phase_epochs(self.epochs_setting, ctx.sparsity)
        self._before = {g.name: self.score(g).detach().double().cpu() for g in ctx.groups}
        if self.lam_setting:
            self.lam = self.lam_setting
        elif not self.steps:  # set once, at the first step, and held as the papers hold theirs
            self.lam = self.ruled_lambda(ctx)
        self.steps.append({"lambda": self.lam, "epochs": self.sparsity_epochs, "layers": {}})

    def state(self) -> dict:
        """The lambda the first step chose and every step's evidence: a resumed cell holds the
        same lambda as an uninterrupted one."""
        return {"lam": self.lam, "steps": self.steps}

    def restore(self, state: dict) -> None:
        self.lam, self.steps = state.get("lam", self.lam), list(state.get("steps", []))

    def ruled_lambda(self, ctx: PruneContext) -> float:
        """The L1 rule: the penalty alone moves the median score SHRINK times to zero."""
        median = float(torch.cat(list(self._before.values())).median())
        return SHRINK * median / (ctx.sparsity.step * ctx.sparsity.iterations_per_epoch
                                  * self.sparsity_epochs)

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        kept = super().select(group, n_keep)
        before = self._before.get(group.name)
        if before is not None and self.steps:
            unpenalised = torch.argsort(-before, stable=True)[:n_keep]
            after = self.score(group).detach().double().cpu()
            self.steps[-1]["layers"][group.name] = {
                "kept_as_unpenalised": len(set(kept.tolist()) & set(unpenalised.tolist())),
                "kept": n_keep,
                "removed_share_before": shares(before, kept),
                "removed_share_after": shares(after, kept)}
        return kept

    def report(self) -> dict:
        return {"lambda": self.lam_setting or "rule", "sparsity_epochs": self.epochs_setting
                or "rule", "steps": self.steps}


class Slimming(_Penalised):
    """Network Slimming (Liu et al., ICCV'17, eq. 1): the L1 penalty lam * sum |gamma| on the
    scales of the BatchNorms after the pruned convs during the sparsity epochs (lambda by the
    module's rule, or the setting `lam`; the paper's 1e-4 is for 160 epochs at rate 0.1), then
    the smallest |gamma| are pruned. A layer without BatchNorm is not applicable. On a global
    target, one threshold on |gamma| over every pruned layer is the paper's own rule (sec. 4)."""

    scores_comparable_across_layers = True

    def prepare(self, ctx: PruneContext) -> None:
        for g in ctx.groups:
            if g.bn is None or g.bn.weight is None:
                raise NotApplicable(f"layer {g.name} has no BatchNorm scale to make sparse")
        super().prepare(ctx)

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = sum(cast(Tensor, g.bn.weight).abs().sum() for g in ctx.groups if g.bn is not None)
        return self.lam * cast(Tensor, total)

    def score(self, group: ChannelGroup) -> Tensor:
        assert group.bn is not None and group.bn.weight is not None
        return group.bn.weight.detach().abs()


class GroupLasso(_Penalised):
    """Group lasso on filters (structured sparsity learning, Wen et al., NeurIPS'16, eq. 2 with
    one group per filter): the penalty lam * sum_j ||W_j||_2 over every filter of the pruned
    convs during the sparsity epochs (lambda by the module's rule, or the setting `lam`), then
    the filters of smallest L2 norm are pruned."""

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = sum(g.conv.weight.flatten(1).norm(dim=1).sum() for g in ctx.groups)
        return self.lam * cast(Tensor, total)

    def score(self, group: ChannelGroup) -> Tensor:
        return group.conv.weight.detach().double().flatten(1).norm(dim=1)


def coupled_squares(model: nn.Module, group: ChannelGroup) -> Tensor:
    """Per channel, the summed squares of every parameter the surgery removes with it: the
    conv's filter, its BatchNorm's scale and each consuming layer's input slice (a linear after
    a flatten: the channel's block of features). Differentiable."""
    squares = group.conv.weight.pow(2).flatten(1).sum(1)
    if group.bn is not None and group.bn.weight is not None:
        squares = squares + group.bn.weight.pow(2)
    for name in group.consumers:
        weight = cast(Tensor, model.get_submodule(name).weight)
        squares = squares + weight.reshape(weight.shape[0], group.n_filters, -1).pow(2).sum((0, 2))
    return squares


#: the L2 rules' target: the penalty alone would shrink the most-pushed filter's norm e^DECAY-fold
DECAY = 4.0


class GroupNormSL(_Penalised):
    """DepGraph's group-level sparse learning (Fang et al., CVPR'23, sec. 3.3, eq. 6, as
    Torch-Pruning's GroupNormPruner): during the sparsity epochs the penalty
    lam / 2 * sum_k gamma_k * I_k, with I_k the summed squares of channel k's whole coupled group
    (`coupled_squares`) and gamma_k = 2^(alpha (I_max - I_k) / (I_max - I_min)) on the groups'
    L2 norms, recomputed at every step and held constant in the gradient, so the least important
    channels are pushed hardest; then the channels of smallest group norm are pruned. Settings
    `lam` (0: the L2 rule, lambda = DECAY / (2^alpha x lr / (1 - momentum) x iterations), so the
    least important group's norm would shrink e^DECAY-fold; Torch-Pruning's reg 1e-4 moves it by
    under 1% in a LeNet-5 phase), `alpha` (4) and `epochs`."""

    limits = {**_Penalised.limits, "alpha": Limits(low=0, high=20)}

    def __init__(self, lam: float = 0.0, alpha: float = 4.0, epochs: float = 0.0) -> None:
        super().__init__(lam, epochs)
        self.alpha = alpha

    def prepare(self, ctx: PruneContext) -> None:
        self._model = ctx.model
        super().prepare(ctx)

    def ruled_lambda(self, ctx: PruneContext) -> float:
        return DECAY / (2 ** self.alpha * ctx.sparsity.step * ctx.sparsity.iterations_per_epoch
                        * self.sparsity_epochs)

    def penalty(self, ctx: PruneContext) -> Tensor:
        total = torch.zeros((), device=ctx.device)
        for g in ctx.groups:
            squares = coupled_squares(ctx.model, g)
            norms = squares.detach().sqrt()
            spread = norms.max() - norms.min()
            scale = 2 ** (self.alpha * (norms.max() - norms) / spread) if spread > 0 \
                else torch.ones_like(norms)
            total = total + (scale * squares).sum()
        return self.lam / 2 * total

    def score(self, group: ChannelGroup) -> Tensor:
        return coupled_squares(self._model, group).detach().double().sqrt()

    def report(self) -> dict:
        return {**super().report(), "alpha": self.alpha}


def own_parameters(group: ChannelGroup) -> list[Tensor]:
    """What a filter's output is made of: its conv weights and bias, and its BatchNorm's scale
    and shift. A filter whose weights alone are zero still emits a constant (its bias, or the
    BatchNorm's shift) that the next layer uses and the removal drops."""
    params = [group.conv.weight, group.conv.bias]
    if group.bn is not None:
        params += [group.bn.weight, group.bn.bias]
    return [p for p in params if p is not None]


#: GReg's rule: lambda reaches its ceiling after this share of the phase's iterations, then holds
RAMP = 0.5


class GrowingReg(_Penalised):
    """GReg-1 (Wang et al., ICLR'21, "Neural Pruning via Growing Regularization", sec. 3.2, eq. 2
    and Algorithm 1): before the sparsity epochs the filters to remove are fixed by L1 norm (as
    many as the step removes); during them only they get the L2 penalty lam / 2 * ||W_j||^2, its
    lam raised by `delta` every `interval` iterations up to `ceiling` (the paper's 10 and 1),
    then held there until the phase ends, when they are removed. The paper's delta, 1e-4, needs
    1e5 iterations to reach the ceiling; by default (`delta` 0) delta is set so lam reaches the
    ceiling after RAMP of the phase's iterations, so the removed filters are driven to zero as
    in the paper. W_j is the filter's whole output (`own_parameters`: weights, bias, BatchNorm
    scale and shift; the paper names the weights): a filter of zero weights whose bias stays
    emits a constant the next layer uses, and removing it cost LeNet-5 up to 38 points where
    the paper expects next to nothing. The report records the lambda reached and the removed
    filters' L1 share."""

    limits = {"delta": Limits(low=0, high=1e3), "interval": Limits(low=1, high=1e6),
              "ceiling": Limits(above=0, high=1e3), "epochs": Limits(low=0, high=1e3)}

    def __init__(self, delta: float = 0.0, interval: int = 10, ceiling: float = 1.0,
                 epochs: float = 0.0) -> None:
        if delta < 0 or interval < 1 or ceiling <= 0:
            raise ValueError("delta must be >= 0 (0: the rule), interval >= 1, ceiling > 0")
        super().__init__(0.0, epochs)
        self.delta_setting, self.interval, self.ceiling = delta, interval, ceiling
        self.delta = delta
        self._iterations = 0

    def prepare(self, ctx: PruneContext) -> None:
        self._keep: dict[str, Tensor] = {}
        for g in ctx.groups:
            if g.name not in ctx.widths:
                raise NotApplicable(f"no width is fixed for {g.name} before selection (a global "
                                    "target); growing-reg fixes the filters it removes before "
                                    "its sparsity epochs")
            l1 = self.score(g)
            order = torch.argsort(-l1, stable=True)
            self._keep[g.name] = order[:ctx.widths[g.name]].sort().values
        super().prepare(ctx)
        iterations = ctx.sparsity.iterations_per_epoch * self.sparsity_epochs
        self.delta = self.delta_setting or self.ceiling * self.interval / (RAMP * iterations)
        self._iterations = 0
        self.steps[-1]["delta"] = self.delta

    def ruled_lambda(self, ctx: PruneContext) -> float:
        return 0.0  # grows from zero in penalty()

    def penalty(self, ctx: PruneContext) -> Tensor:
        self.lam = min(self.ceiling, self.delta * (self._iterations // self.interval))
        self._iterations += 1
        self.steps[-1]["lambda"] = self.lam
        total = torch.zeros((), device=ctx.device)
        for g in ctx.groups:
            removed = torch.ones(g.n_filters, dtype=torch.bool)
            removed[self._keep[g.name]] = False
            for param in own_parameters(g):
                total = total + param[removed.to(param.device)].pow(2).sum()
        return self.lam / 2 * total

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        kept = self._keep[group.name]
        if len(kept) != n_keep:
            raise ValueError(f"asked to keep {n_keep} filters of {group.name}, but the "
                             f"sparsity epochs were run for {len(kept)}")
        after = self.score(group).cpu()
        self.steps[-1]["layers"][group.name] = {
            "kept": n_keep, "removed_share_before": shares(self._before[group.name], kept),
            "removed_share_after": shares(after, kept)}
        return kept

    def score(self, group: ChannelGroup) -> Tensor:  # select() answers; the L1 order
        return group.conv.weight.detach().double().abs().flatten(1).sum(1)

    def report(self) -> dict:
        return {"lambda_reached": self.lam, "delta": self.delta_setting or "rule",
                "interval": self.interval, "ceiling": self.ceiling,
                "sparsity_epochs": self.epochs_setting or "rule", "steps": self.steps}
