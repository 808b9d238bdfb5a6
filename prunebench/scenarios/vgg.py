"""VGG-16 on CIFAR-10 and CIFAR-100 (seed 001 Tables 2-3, seed 000, seed 002 Table 2).

Schedules, identical for every criterion (SGD, momentum 0.9, weight decay 5e-4, batch 128; the
baseline's learning rate 0.1 decays with a cosine):
  smoke  tiny data (64 / 32 samples): 1 baseline epoch, 1 step x 1 fine-tune epoch, batch 16
  quick  30 baseline epochs; one-shot, 5 fine-tune epochs, then a final 5
  paper  160 baseline epochs (Li et al.); 16 steps x 5 fine-tune epochs = 80 epochs (seed 001
         reaches Prun-1 after 82 epochs), then a final 20 (not measured: the LeNet-5 pilot's
         final phase, 4 steps' worth, in this row's steps)
Fine-tuning decays from 1e-3 to 1e-4 with a cosine restarted at every step and in the final
phase: seed 001 sec. 4.2, "We vary learning rate in the range [0.001, 0.0001]".
Targets: the seed's Prun-1 and Prun-2 widths (seed 001 Table 2) and half of every layer.
"""

from __future__ import annotations

from functools import partial

from prunebench.data import cifar
from prunebench.data.synthetic import write_cifar_like
from prunebench.models.tasks import Classification
from prunebench.models.vgg_cifar import CONV_NAMES, VGG16CIFAR
from prunebench.protocol.config import Budget, Target
from prunebench.protocol.schedule import decay
from prunebench.scenarios.base import Scenario, ignoring_size

TARGETS = {
    "prun1": Target("prun1", widths=(31, 53, 84, 84, 146, 146, 146, 117, 62, 62, 62, 62, 62)),
    "prun2": Target("prun2", widths=(20, 50, 71, 71, 116, 116, 116, 87, 42, 42, 42, 42, 42)),
    "half": Target("half", ratio=0.5),
}
SEED_001_VGG = decay(1e-3, 1e-4)  # sec. 4.2
BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=1, baseline_lr=0.05, finetune_epochs=1,
                    **SEED_001_VGG, steps=1, batch_size=16, calibration_batches=1, seeds=(0,),
                    train_limit=64, test_limit=32, speed_batch_sizes=(1,)),
    "quick": Budget("quick", baseline_epochs=30, baseline_lr=0.1, finetune_epochs=5,
                    **SEED_001_VGG, steps=1, batch_size=128, calibration_batches=8, seeds=(0,),
                    final_epochs=5),
    "paper": Budget("paper", baseline_epochs=160, baseline_lr=0.1, finetune_epochs=5,
                    **SEED_001_VGG, final_epochs=20, steps=16, batch_size=128,
                    calibration_batches=16,
                    seeds=(0, 1, 2)),
}


def _scenario(variant: cifar.Variant, name: str) -> Scenario:
    return Scenario(
        name=name, description=f"VGG-16 (BN) on {variant.title} pickle batches (seed 001 Table 2)",
        build_model=ignoring_size(VGG16CIFAR, variant.num_classes),
        load_data=partial(cifar.load, variant), task=Classification(), groups=CONV_NAMES,
        input_shape=(3, 32, 32), targets=TARGETS, budgets=BUDGETS, default_target="prun1",
        tiny_data=partial(write_cifar_like, variant=variant.torchvision_class.lower(), n_train=80,
                          n_test=40))


def vgg16_cifar10() -> Scenario:
    return _scenario(cifar.CIFAR10, "vgg16-cifar10")


def vgg16_cifar100() -> Scenario:
    return _scenario(cifar.CIFAR100, "vgg16-cifar100")
