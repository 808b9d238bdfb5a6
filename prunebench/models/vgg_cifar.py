"""VGG-16 for CIFAR as in Li et al. (ICLR'17) and seed 001: 13 conv layers (3x3, padding 1), each
followed by BatchNorm and ReLU, five max-pools, then FC 512 (with BatchNorm and ReLU) and FC
classes. Layer names follow the seed's figures (conv1_1 ... conv5_3)."""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

WIDTHS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
CONV_NAMES = tuple(f"features.conv{b}_{i}" for b, block in enumerate(WIDTHS, 1)
                   for i in range(1, len(block) + 1))


class VGG16CIFAR(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for b, block in enumerate(WIDTHS, 1):
            for i, width in enumerate(block, 1):
                layers[f"conv{b}_{i}"] = nn.Conv2d(in_channels, width, 3, padding=1)
                layers[f"bn{b}_{i}"] = nn.BatchNorm2d(width)
                layers[f"relu{b}_{i}"] = nn.ReLU()
                in_channels = width
            layers[f"pool{b}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict(
            fc1=nn.Linear(512, 512), bn_fc1=nn.BatchNorm1d(512), relu_fc1=nn.ReLU(),
            fc2=nn.Linear(512, num_classes)))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))
