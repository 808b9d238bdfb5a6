"""LeNet-5 in the Caffe variant the seeds use: conv 20, conv 50 (5x5), FC 500, FC classes.

Seed 001 sec. 4.1: "Two convolutional (20,50) and two fully connected layers (800,500)". Each conv
is followed by its own ReLU module (so activation hooks see one layer each) and 2x2 max-pooling, so
a 28x28 input gives 50x4x4 = 800 features for the first FC.
"""

from __future__ import annotations

from torch import Tensor, nn


class LeNet5(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


class LeNet5BN(LeNet5):
    """LeNet-5 with a BatchNorm after each conv (before its ReLU), as Network Slimming places
    them (Liu et al., ICCV'17, sec. 3): the model on which a BN-scale penalty can be judged."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__(in_channels, num_classes)
        self.bn1, self.bn2 = nn.BatchNorm2d(20), nn.BatchNorm2d(50)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))
