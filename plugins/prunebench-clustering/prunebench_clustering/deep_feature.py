"""Seed 002 (Li, Zhu, Sun), Algorithm 1: represent each filter of model A by the output of a
second network, model B (VGG-16, "the output of the last fully-connected layer"), run k-means on
those representations, and keep the filter closest to each centroid.

How a filter becomes an image for model B: the layer's weights are scaled by their largest
magnitude (so relative norms survive) into [-1, 1], then mapped to [0, 1]. A filter of 3 input
channels is an RGB image already; any other filter's input-channel slices are laid out as a square
mosaic (ceil(sqrt(c_in)) tiles a side, empty tiles at 0.5) and repeated into 3 channels. The image
is upsampled with nearest-neighbour (each weight a crisp block) to `image_size` pixels a side
(64 by default, $PRUNEBENCH_DFK_IMAGE_SIZE; 224 is VGG's native size at 12x the cost), and
normalised with ImageNet's mean and standard deviation.

Model B's weights: ImageNet weights from $PRUNEBENCH_VGG16_WEIGHTS or torchvision's cache
(vgg16-397923af.pth) when present; otherwise a VGG-16 randomly initialised with seed 0. Nothing is
downloaded. The result file records which was used.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from prunebench.criterion import ChannelGroup, Criterion, PruneContext
from prunebench_clustering.representatives import kmeans_representatives, seed_from

IMAGENET_FILE = "vgg16-397923af.pth"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def imagenet_weights_path() -> Path | None:
    explicit = os.environ.get("PRUNEBENCH_VGG16_WEIGHTS")
    candidate = Path(explicit) if explicit else Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE
    return candidate if candidate.is_file() else None


def load_model_b() -> tuple[nn.Module, str]:
    """VGG-16 in eval mode, and a description of its weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.vgg16(weights=None)
    path = imagenet_weights_path()
    if path is None:
        return model.eval(), "random-init (seed 0)"
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), f"imagenet ({path.name})"


def filters_to_images(weight: Tensor, size: int) -> Tensor:
    """(C_out, C_in, k, k) filters -> (C_out, 3, size, size) normalised images (module docstring)."""
    w = weight.detach().float()
    w = (w / w.abs().max().clamp_min(1e-12) + 1) / 2
    c_out, c_in, kh, kw = w.shape
    if c_in != 3:
        tiles = math.ceil(math.sqrt(c_in))
        padded = torch.full((c_out, tiles * tiles, kh, kw), 0.5, device=w.device)
        padded[:, :c_in] = w
        mosaic = padded.view(c_out, tiles, tiles, kh, kw).permute(0, 1, 3, 2, 4)
        w = mosaic.reshape(c_out, 1, tiles * kh, tiles * kw).expand(-1, 3, -1, -1)
    images = F.interpolate(w, size=(size, size), mode="nearest")
    return (images - MEAN.to(w.device)) / STD.to(w.device)


class DeepFeatureKMeans(Criterion):
    """k-means on VGG-16 representations of the filters (seed 002, Algorithm 1)."""

    def __init__(self) -> None:
        self.image_size = int(os.environ.get("PRUNEBENCH_DFK_IMAGE_SIZE", 64))
        self._model_b: nn.Module | None = None
        self._weights = ""

    def prepare(self, ctx: PruneContext) -> None:
        self._seed = seed_from(ctx.generator)
        self._device = ctx.device
        if self._model_b is None:
            model, self._weights = load_model_b()
            self._model_b = model.to(ctx.device)

    @torch.inference_mode()
    def represent(self, weight: Tensor) -> np.ndarray:
        """W' of Algorithm 1, step 3: model B's last FC output for every filter."""
        images = filters_to_images(weight.to(self._device), self.image_size)
        outputs = [self._model_b(chunk) for chunk in images.split(32)]
        return torch.cat(outputs).double().cpu().numpy()

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        return kmeans_representatives(self.represent(group.conv.weight), n_keep, self._seed)

    def report(self) -> dict:
        return {"model_b": "torchvision vgg16", "model_b_weights": self._weights,
                "image_size": self.image_size}
