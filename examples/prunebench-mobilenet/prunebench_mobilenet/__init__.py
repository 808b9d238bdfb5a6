"""torchvision's MobileNetV2 (width 0.5) on Fashion-MNIST, as a prunebench scenario plugin.

Everything a row needs: a model factory, data (prunebench's own idx loader, a reusable building
block), the task, the prunable groups (found automatically: every conv whose filters the
dependency graph removes on their own, so the convs a residual add couples stay whole),
targets and budgets. The first conv takes one grey channel at stride 1, as the images are 28x28.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torchvision
from torch import nn

from prunebench.data import mnist, synthetic
from prunebench.data.arrays import ArrayData
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget, Target
from prunebench.scenarios.base import Scenario, automatic_groups, ignoring_size

INPUT_SHAPE = (1, 28, 28)


def mobilenet_v2() -> nn.Module:
    model = torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10)
    first = model.features[0][0]
    model.features[0][0] = nn.Conv2d(1, first.out_channels, 3, stride=1, padding=1, bias=False)
    return model


def load(root: Path | None, fetch: bool, _image_size: int | None) -> ArrayData:
    return mnist.load(mnist.FASHION_MNIST, root, fetch)


BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=1, baseline_lr=0.05, finetune_epochs=1,
                    finetune_lr=0.01, steps=1, batch_size=32, calibration_batches=1, seeds=(0,),
                    train_limit=256, test_limit=100, speed_batch_sizes=(1,)),
    "quick": Budget("quick", baseline_epochs=5, baseline_lr=0.05, finetune_epochs=1,
                    finetune_lr=0.01, steps=1, batch_size=128, calibration_batches=4,
                    seeds=(0,)),
    "paper": Budget("paper", baseline_epochs=30, baseline_lr=0.05, finetune_epochs=3,
                    finetune_lr=0.01, steps=3, batch_size=128, calibration_batches=8,
                    seeds=(0, 1, 2)),
}


def scenario() -> Scenario:
    build = ignoring_size(mobilenet_v2)
    return Scenario(
        name="mobilenetv2-fashionmnist",
        description="torchvision MobileNetV2 (width 0.5) on Fashion-MNIST idx files (example "
                    "plugin)",
        build_model=build, load_data=load, task=Classification(),
        groups=automatic_groups(build, INPUT_SHAPE), input_shape=INPUT_SHAPE,
        targets={"half": Target("half", ratio=0.5), "quarter": Target("quarter", ratio=0.25)},
        budgets=BUDGETS, default_target="half",
        tiny_data=partial(synthetic.write_mnist_like, n_train=256, n_test=100,
                          subfolder="fashion-mnist"))
