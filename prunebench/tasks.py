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
    """Cross-entropy training; top-1 accuracy in percent on the test split."""

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
        correct = total = 0
        for images, labels in data.test_batches(batch_size, device):
            correct += int((model(images).argmax(1) == labels).sum())
            total += len(labels)
        model.train(was_training)
        return {"top1": 100.0 * correct / max(total, 1)}
