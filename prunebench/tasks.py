"""What a model is trained and judged on: the loss of a batch and the evaluation metrics."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prunebench.criterion import Batch
from prunebench.data.base import Data


class Task(Protocol):
    name: str
    #: The metric leaderboards rank by (a key of what `evaluate` returns).
    headline: str

    def loss(self, model: nn.Module, batch: Batch) -> Tensor: ...

    def evaluate(self, model: nn.Module, data: Data, device: torch.device) -> dict[str, float]: ...


class Classification:
    """Cross-entropy training; top-1 (and top-5, with 5+ classes) accuracy in percent."""

    name = "classification"
    headline = "top1"

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, data: Data, device: torch.device,
                 batch_size: int = 1000) -> dict[str, float]:
        was_training = model.training
        model.eval()
        top1 = top5 = total = 0
        for images, labels in data.test_batches(batch_size, device):
            logits = model(images)
            best = logits.topk(min(5, logits.shape[1]), dim=1).indices
            top1 += int((best[:, 0] == labels).sum())
            top5 += int((best == labels[:, None]).any(1).sum())
            total += len(labels)
        model.train(was_training)
        metrics = {"top1": 100.0 * top1 / max(total, 1)}
        if data.num_classes >= 5:
            metrics["top5"] = 100.0 * top5 / max(total, 1)
        return metrics
