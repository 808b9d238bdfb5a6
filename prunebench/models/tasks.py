"""What a model is trained and judged on: the loss of a batch and the evaluation metrics."""

from __future__ import annotations

import contextlib
import io
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prunebench.criterion import Batch
from prunebench.data.base import Data
from prunebench.runtime import distributed
from prunebench.runtime.memory_format import cpu_channels_last


class Task(Protocol):
    name: str
    #: The metric leaderboards rank by (a key of what `evaluate` returns).
    headline: str

    def loss(self, model: nn.Module, batch: Batch) -> Tensor: ...

    def evaluate(self, model: nn.Module, data: Data, device: torch.device) -> dict: ...


class Classification:
    """Cross-entropy training; top-1 (and top-5, with 5+ classes) accuracy in percent."""

    name = "classification"
    headline = "top1"
    #: a classifier's MACs follow from its layers' shapes alone (allocation counts them on meta)
    macs_from_shapes = True

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def evaluate(self, model: nn.Module, data: Data, device: torch.device,
                 batch_size: int = 1000) -> dict[str, float]:
        was_training = model.training
        model.eval()
        top1 = top5 = total = 0
        # the layout changes outside inference mode: weights made inside it could not train again
        with cpu_channels_last(model, device), torch.inference_mode():
            for images, labels in data.test_batches(batch_size, device):
                logits = model(images)
                best = logits.topk(min(5, logits.shape[1]), dim=1).indices
                top1 += int((best[:, 0] == labels).sum())
                top5 += int((best == labels[:, None]).any(1).sum())
                total += len(labels)
        model.train(was_training)
        top1, top5, total = distributed.all_sum(torch.tensor([top1, top5, total])).tolist()
        metrics = {"top1": 100.0 * top1 / max(total, 1)}
        if data.num_classes >= 5:
            metrics["top5"] = 100.0 * top5 / max(total, 1)
        return metrics


COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl",
              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")  # seed 001 Table 4's columns


@contextlib.contextmanager
def _losses_without_moving_batchnorm(model: nn.Module):
    """torchvision detectors return losses only in training mode; while a criterion calibrates
    (the model in eval mode) BatchNorm must keep its running statistics."""
    was_training = model.training
    model.train()
    if not was_training:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    try:
        yield
    finally:
        model.train(was_training)


class Detection:
    """Sum of the detector's losses; COCO box AP/AR in percent from pycocotools' COCOeval.
    A metric COCOeval cannot compute (no ground truth of that size) is None."""

    name = "detection"
    headline = "AP"
    macs_from_shapes = False  # its proposals, and so its MACs, depend on the values

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        images, targets = batch
        with _losses_without_moving_batchnorm(model):
            losses = model(list(images), list(targets))
        return sum(losses.values())

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, data: Data, device: torch.device,
                 batch_size: int = 4) -> dict[str, float | None]:
        from pycocotools.cocoeval import COCOeval

        was_training = model.training
        model.eval()
        detections = []
        for images, targets in data.test_batches(batch_size, device):
            for output, target in zip(model(list(images)), targets):
                for (x1, y1, x2, y2), label, score in zip(output["boxes"].tolist(),
                                                          output["labels"].tolist(),
                                                          output["scores"].tolist()):
                    detections.append({"image_id": target["image_id"], "category_id": label,
                                       "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
        model.train(was_training)
        detections = distributed.all_items(detections)
        if not detections:
            return {k: 0.0 for k in COCO_STATS}
        coco: Any = data  # detection data: CocoData (or its RankShare)
        gt = coco.test_coco
        with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
            evaluator = COCOeval(gt, gt.loadRes(detections), "bbox")
            evaluator.params.imgIds = sorted({d["image_id"] for d in detections} |
                                             set(coco.test_set.ids))
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        return {k: (100.0 * float(v) if v >= 0 else None)
                for k, v in zip(COCO_STATS, evaluator.stats)}
