"""LeNet-5 rows: MNIST and Fashion-MNIST (seed 001 Table 1), and the bundled digits default.

Every budget is identical for every criterion: SGD with momentum 0.9 and weight decay 5e-4; the
baseline's learning rate (0.05) decays with a cosine. `steps` pruning steps each end with
`finetune_epochs` of fine-tuning (seed 001 prunes iteratively with 2-5 fine-tune epochs per
step: `paper` uses 4 steps of 3) whose rate decays from 1e-3 to 1e-4 with a cosine restarted at
every step (seed 001 sec. 4.1: "Learning rate is varied in the range [0.001, 0.0001]"), then a
final phase fine-tunes the final widths for 12 epochs, decaying from 1e-2 to 1e-4 (its length
and start from the pilot of docs/protocol.md). `quick` is one-shot, so accuracy before
fine-tuning there measures the ranking alone. docs/matrix.md lists every number.

Targets: the seed's Prun-1 (4,14) and Prun-2 (3,8) widths, and half of every layer's filters.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from prunebench.data import digits, mnist, synthetic
from prunebench.data.arrays import ArrayData
from prunebench.models.lenet5 import LeNet5, LeNet5BN
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget, Target
from prunebench.protocol.schedule import decay
from prunebench.scenarios.base import Scenario, ignoring_size

GROUPS = ("conv1", "conv2")
TARGETS = {
    "prun1": Target("prun1", widths=(4, 14)),
    "prun2": Target("prun2", widths=(3, 8)),
    "half": Target("half", ratio=0.5),
}

#: seed 001 sec. 4.1's range, a cosine restarted at every step; the final phase from 1e-2
SEED_001_LENET = decay(1e-3, 1e-4)
#: the final phase of `paper`: the pilot of docs/protocol.md found doubling it adds under 0.1 points
PAPER_FINAL_EPOCHS = 12

MNIST_BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=1, baseline_lr=0.05, finetune_epochs=1, steps=1,
                    batch_size=64, calibration_batches=2, seeds=(0,), train_limit=2048,
                    test_limit=1000, speed_batch_sizes=(1,), final_epochs=1, **SEED_001_LENET),
    "quick": Budget("quick", baseline_epochs=3, baseline_lr=0.05, finetune_epochs=1, steps=1,
                    batch_size=128, calibration_batches=4, seeds=(0,), final_epochs=2,
                    **SEED_001_LENET),
    "paper": Budget("paper", baseline_epochs=20, baseline_lr=0.05, finetune_epochs=3, steps=4,
                    batch_size=64, calibration_batches=8, seeds=(0, 1, 2, 3, 4),
                    final_epochs=PAPER_FINAL_EPOCHS, **SEED_001_LENET),
}
DIGITS_BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=2, baseline_lr=0.05, finetune_epochs=1, steps=1,
                    batch_size=64, calibration_batches=2, seeds=(0,), train_limit=512,
                    test_limit=200, speed_batch_sizes=(1,), final_epochs=1, **SEED_001_LENET),
    "quick": Budget("quick", baseline_epochs=10, baseline_lr=0.05, finetune_epochs=1, steps=1,
                    batch_size=32, calibration_batches=4, seeds=(0, 1, 2), final_epochs=2,
                    **SEED_001_LENET),  # the quick start: a board in about a minute
    "paper": Budget("paper", baseline_epochs=40, baseline_lr=0.05, finetune_epochs=3, steps=4,
                    batch_size=64, calibration_batches=8, seeds=(0, 1, 2, 3, 4),
                    final_epochs=PAPER_FINAL_EPOCHS, **SEED_001_LENET),
}


def _lenet(name: str, description: str, load, budgets, tiny=None, model=LeNet5) -> Scenario:
    return Scenario(name=name, description=description, build_model=ignoring_size(model),
                    load_data=load, tiny_data=tiny,
                    task=Classification(), groups=GROUPS, input_shape=(1, 28, 28),
                    targets=TARGETS, budgets=budgets,
                    default_target="prun1")


def _load_mnist(root: Path | None, fetch: bool, _size: int | None) -> ArrayData:
    return mnist.load(mnist.MNIST, root, fetch)


def _load_fashion(root: Path | None, fetch: bool, _size: int | None) -> ArrayData:
    return mnist.load(mnist.FASHION_MNIST, root, fetch)


def _load_digits(_root: Path | None, _fetch: bool, _size: int | None) -> ArrayData:
    return digits.load()


_tiny_fashion = partial(synthetic.write_mnist_like, n_train=200, n_test=100,
                        subfolder="fashion-mnist")


def lenet5_digits() -> Scenario:
    return _lenet("lenet5-digits", "LeNet-5 on scikit-learn's bundled digits (upsampled to "
                  "28x28); needs no download", _load_digits, DIGITS_BUDGETS)


def lenet5_mnist() -> Scenario:
    return _lenet("lenet5-mnist", "LeNet-5 on MNIST idx files (seed 001 Table 1)", _load_mnist,
                  MNIST_BUDGETS, partial(synthetic.write_mnist_like, n_train=200, n_test=100,
                                         subfolder="mnist"))


def lenet5_fashionmnist() -> Scenario:
    return _lenet("lenet5-fashionmnist", "LeNet-5 on Fashion-MNIST idx files (Debian "
                  "dataset-fashion-mnist)", _load_fashion, MNIST_BUDGETS, _tiny_fashion)


def lenet5bn_fashionmnist() -> Scenario:
    return _lenet("lenet5bn-fashionmnist", "LeNet-5 with a BatchNorm after each conv on "
                  "Fashion-MNIST: where Network Slimming's BN-scale penalty applies",
                  _load_fashion, MNIST_BUDGETS, _tiny_fashion, model=LeNet5BN)
