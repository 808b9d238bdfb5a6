"""Gradient-based criteria, computed over the harness's calibration batches."""

from __future__ import annotations

from torch import Tensor

from prunebench.calibration import feature_statistics, mean_abs_weight_gradients
from prunebench.criterion import ChannelGroup, PruneContext, ScoreCriterion


def _taylor(feature_map: Tensor, grad: Tensor | None) -> Tensor:
    assert grad is not None
    return (feature_map * grad).mean(dim=(2, 3)).abs()


class Taylor(ScoreCriterion):
    """First-order Taylor estimate of the loss change when a feature map is removed
    (Molchanov et al., ICLR'17: |1/M sum_m dC/dz_m z_m|, averaged over samples)."""

    needs = ("activations", "gradients")

    def prepare(self, ctx: PruneContext) -> None:
        # z is the conv's output; the mean runs over the M spatial positions of each sample
        self._scores = feature_statistics(ctx, _taylor, after_activation=False, gradients=True)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._scores[group.name]


class GradMeanAbs(ScoreCriterion):
    """Mean absolute gradient of a filter's weights, E[|dC/dW|] (seed 001 sec. 3.4, eq. 13),
    with the expectation taken over the calibration mini-batches."""

    needs = ("gradients",)

    def prepare(self, ctx: PruneContext) -> None:
        self._grads = mean_abs_weight_gradients(ctx)

    def score(self, group: ChannelGroup) -> Tensor:
        return self._grads[group.name].flatten(1).mean(1)
