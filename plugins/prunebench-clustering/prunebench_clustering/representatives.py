"""The step every clustering criterion shares: one kept filter per cluster, the member nearest
the cluster's centre."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor

from prunebench.criterion import Limits

TIE_TOLERANCE = 1e-9  # relative (and absolute) gap within which members tie


def nearest_members(vectors: np.ndarray, labels: np.ndarray, centres: np.ndarray,
                    n_keep: int) -> Tensor:
    """Per cluster, the index of the member closest (Euclidean) to `centres[cluster]`; ties (up
    to TIE_TOLERANCE) go to the lower index. Should clustering give fewer than `n_keep`
    non-empty clusters (only possible with identical vectors), the remaining slots go to the
    filters farthest from their kept representative, so the answer always has `n_keep`
    distinct indices."""
    kept, distance = [], np.zeros(len(vectors))
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        gaps = np.linalg.norm(vectors[members] - centres[cluster], axis=1)
        # equal up to rounding is a tie: two members are exactly equidistant from their mean,
        # and the last bits of the distances must not pick the higher index
        tied = gaps <= gaps.min() * (1 + TIE_TOLERANCE) + TIE_TOLERANCE
        chosen = members[int(np.flatnonzero(tied)[0])]
        kept.append(int(chosen))
        distance[members] = np.linalg.norm(vectors[members] - vectors[chosen], axis=1)
    rest = [i for i in np.argsort(-distance, kind="stable") if i not in set(kept)]
    kept += [int(i) for i in rest[: n_keep - len(kept)]]
    return torch.tensor(sorted(kept), dtype=torch.long)


RESTARTS = 10  # scikit-learn's long-standing n_init for k-means++, which the boards used


def kmeans_representatives(vectors: np.ndarray, n_keep: int, seed: int,
                           restarts: int = RESTARTS) -> Tensor:
    """k-means++ (`restarts` seeded runs, the best inertia kept) into `n_keep` clusters; keep
    the filter nearest each centroid."""
    if n_keep >= len(vectors):
        return torch.arange(len(vectors))
    km = KMeans(n_clusters=n_keep, init="k-means++", n_init=restarts,
                random_state=seed).fit(vectors)
    return nearest_members(vectors, km.labels_, km.cluster_centers_, n_keep)


#: k-means runs: at least one; a thousand already costs minutes on VGG-16's widest layers
RESTART_LIMITS = Limits(low=1, high=1000)


def check_restarts(restarts: int) -> int:
    """The `restarts` setting: at least one k-means run."""
    if restarts < 1:
        raise ValueError(f"restarts={restarts} must be at least 1 (k-means runs, best kept)")
    return restarts


def seed_from(generator: torch.Generator) -> int:
    """A NumPy/scikit-learn seed drawn from the harness's seeded generator."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
