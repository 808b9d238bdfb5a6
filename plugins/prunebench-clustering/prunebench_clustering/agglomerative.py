"""Seed 000 (Maurya, VGG-16 on CIFAR): agglomerative clustering of a layer's filters on cosine
similarity, one filter kept per cluster."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering
from torch import Tensor

from prunebench.criterion import ChannelGroup, Criterion
from prunebench_clustering.representatives import nearest_members


class AgglomerativeCosine(Criterion):
    """Average-linkage agglomerative clustering on cosine distance into n_keep clusters; keeps
    the filter nearest (in cosine) each cluster's mean direction."""

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        filters = group.conv.weight.detach().flatten(1).double().cpu().numpy()
        if n_keep >= len(filters):
            return torch.arange(len(filters))
        norms = np.linalg.norm(filters, axis=1, keepdims=True)
        directions = filters / np.maximum(norms, 1e-12)
        labels = AgglomerativeClustering(n_clusters=n_keep, metric="cosine",
                                         linkage="average").fit_predict(filters)
        centres = np.stack([directions[labels == c].mean(0) for c in range(n_keep)])
        # on unit vectors, the nearest in Euclidean distance to the normalised mean direction
        # is the one of highest cosine similarity to it
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        return nearest_members(directions, labels, centres, n_keep)
