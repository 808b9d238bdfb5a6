"""Gradient-based criteria, computed over the harness's calibration batches."""

from __future__ import annotations

from torch import Tensor

from prunebench.criteria.calibration import (
    feature_statistics,
    mean_abs_sample_gradients,
    mean_abs_weight_gradients,
)
from prunebench.criterion import ChannelGroup, PruneContext, ScoreCriterion


def _taylor(feature_map: Tensor, grad: Tensor | None) -> Tensor:
    assert grad is not None
    return (feature_map * grad).mean(dim=(2, 3)).abs()


class Taylor(ScoreCriterion):
    """First-order Taylor estimate of the loss change when a feature map is removed
    (Molchanov et al., ICLR'17, eq. 8: |1/M sum_m dC/dz_m z_m|, averaged over samples), with z
    the feature map the next layer sees: after BatchNorm and the ReLU. Taken at the conv's raw
    output instead, the score would change under a reparametrisation that leaves the network's
    function alone (a conv bias and the BN running mean shifted together)."""

    needs = ("activations", "gradients")

    def prepare(self, ctx: PruneContext) -> None:
        # the mean runs over the M spatial positions of each sample
        self._scores = feature_statistics(ctx, _taylor, after_activation=True, gradients=True)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._scores[group.name]


class GradMeanAbs(ScoreCriterion):
    """Mean absolute gradient of a filter's weights, E_x[|dC(x)/dW|] (seed 001 sec. 3.4,
    eq. 13): the expectation over samples x of each sample's own gradient's magnitude, averaged
    over the filter's weights."""

    needs = ("gradients",)

    def prepare(self, ctx: PruneContext) -> None:
        self._grads = mean_abs_sample_gradients(ctx)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._grads[group.name].flatten(1).mean(1)


class GradBatchMeanAbs(GradMeanAbs):
    """|E_batch[dC/dW]| averaged over calibration mini-batches: the magnitude of each batch's
    mean gradient, where samples' signs cancel. Not eq. 13 (see grad-mean-abs); kept under its
    own name because the first boards ranked it as grad-mean-abs."""

    def prepare(self, ctx: PruneContext) -> None:
        self._grads = mean_abs_weight_gradients(ctx)
