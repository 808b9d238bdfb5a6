"""k-means++ on the raw filters: seed 002's clustering baseline (Li, Xu and Zhu, 2018)."""

from __future__ import annotations

from torch import Tensor

from prunebench.criterion import ChannelGroup, Criterion, PruneContext
from prunebench_clustering.representatives import (
    RESTART_LIMITS,
    RESTARTS,
    check_restarts,
    kmeans_representatives,
    seed_from,
)


class KMeansRaw(Criterion):
    """k-means++ on flattened filter weights; keeps the filter nearest each centroid. Setting
    `restarts`: k-means runs, the best kept (default 10)."""

    limits = {"restarts": RESTART_LIMITS}

    def __init__(self, restarts: int = RESTARTS) -> None:
        self.restarts = check_restarts(restarts)

    def prepare(self, ctx: PruneContext) -> None:
        self._seed = seed_from(ctx.generator)

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        vectors = group.conv.weight.detach().flatten(1).double().cpu().numpy()
        return kmeans_representatives(vectors, n_keep, self._seed, self.restarts)
