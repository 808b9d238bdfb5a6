"""Faster R-CNN with a ResNet-50 FPN backbone, as torchvision's `fasterrcnn_resnet50_fpn` builds
it, except that every backbone layer trains and uses ordinary BatchNorm: frozen BatchNorm only
makes sense over pretrained weights, and torch-pruning cannot slice its buffers."""

from __future__ import annotations

from torch import nn


def fasterrcnn_resnet50_fpn(image_size: int | None = None, num_classes: int = 91) -> nn.Module:
    """`image_size` sets the detector's own resize (min and max side); None keeps 800/1333."""
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor

    backbone = _resnet_fpn_extractor(resnet50(weights=None), trainable_layers=5)
    sizes = {"min_size": image_size, "max_size": image_size} if image_size else {}
    return FasterRCNN(backbone, num_classes=num_classes, **sizes)
