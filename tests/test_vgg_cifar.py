"""VGG-16 on CIFAR: seed 001 Table 2's sizes, the pickle-batch loader, and both rows end to end."""

import pickle

import numpy as np
import pytest

from prunebench import scenarios
from prunebench.cli import main
from prunebench.data import cifar
from prunebench.data.synthetic import write_cifar_like
from prunebench.errors import PrunebenchError
from prunebench.measure.architecture import architecture_size

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

# seed 001 Table 2: (MACs, params)
TABLE_2 = {None: (313.7e6, 15.0e6), "prun1": (78.0e6, 1.0e6), "prun2": (52.0e6, 0.62e6)}


@pytest.mark.parametrize("target", [None, "prun1", "prun2"])
def test_sizes_reproduce_seed_001_table_2_within_1_5_percent(target):
    row = scenarios.get("vgg16-cifar10")
    size = architecture_size(row, row.target(target) if target else None)
    macs, params = TABLE_2[target]
    assert abs(size["macs"] / macs - 1) < 0.015
    assert abs(size["params"] / params - 1) < 0.015


def test_flops_command_json(capsys):
    assert main(["flops", "--scenario", "vgg16-cifar10", "--target", "prun1", "--json"]) == 0
    import json

    size = json.loads(capsys.readouterr().out)
    assert size["macs"] == 78_643_440 and size["params"] == 1_012_429
    assert size["widths"][:2] == [31, 53]
    assert size["macs_per_layer"]["features.conv1_1"] == 31 * 27 * 1024


@pytest.mark.parametrize("variant, classes", [(cifar.CIFAR10, 10), (cifar.CIFAR100, 100)])
def test_loader_reads_torchvision_layout(tmp_path, variant, classes):
    write_cifar_like(tmp_path, "cifar10" if classes == 10 else "cifar100", n_train=50, n_test=20)
    data = cifar.load(variant, tmp_path, fetch=False)
    assert data.train_x.shape == (50, 3, 32, 32) and data.test_x.shape == (20, 3, 32, 32)
    assert data.num_classes == classes and int(data.train_y.max()) < classes
    assert data.augment is not None


def test_augmentation_crops_and_flips_per_image():
    import torch

    images = torch.arange(2 * 32 * 32, dtype=torch.float32).view(2, 1, 32, 32)
    out = cifar.random_crop_flip(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    for original, augmented in zip(images, out):  # every row is a shifted, maybe mirrored, crop
        row = augmented[0, 16]
        assert any(torch.equal(row[r0:r0 + 20], original[0, y, c0:c0 + 20]) or
                   torch.equal(row.flip(0)[r0:r0 + 20], original[0, y, c0:c0 + 20])
                   for y in range(32) for r0 in range(0, 9) for c0 in range(0, 13))


class Exploit:
    def __reduce__(self):
        return (print, ("code ran",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    folder = write_cifar_like(tmp_path, "cifar10", n_train=10, n_test=5)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": Exploit(), "labels": [0]}, fh)
    with pytest.raises(PrunebenchError, match="cannot read CIFAR batch .*test_batch.*refusing"):
        cifar.load(cifar.CIFAR10, tmp_path, fetch=False)
    assert "code ran" not in capsys.readouterr().out


def test_truncated_and_missing_batches_name_the_file(tmp_path):
    folder = write_cifar_like(tmp_path, "cifar10", n_train=10, n_test=5)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:50])
    with pytest.raises(PrunebenchError, match="cannot read CIFAR batch .*data_batch_3"):
        cifar.load(cifar.CIFAR10, tmp_path, fetch=False)
    (folder / "data_batch_3").unlink()
    with pytest.raises(PrunebenchError, match="lacks data_batch_3"):
        cifar.load(cifar.CIFAR10, tmp_path, fetch=False)
    with pytest.raises(PrunebenchError, match="CIFAR-100 not found; looked in"):
        cifar.load(cifar.CIFAR100, tmp_path / "empty", fetch=False)


def test_wrong_variant_labels_are_reported(tmp_path):
    folder = write_cifar_like(tmp_path, "cifar10", n_train=10, n_test=5)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 42]}, fh, protocol=2)
    with pytest.raises(PrunebenchError, match="test labels outside 0..9"):
        cifar.load(cifar.CIFAR10, tmp_path, fetch=False)


@pytest.mark.parametrize("row, variant, macs", [
    ("vgg16-cifar10", "cifar10", "78,643,440"),
    ("vgg16-cifar100", "cifar100", "78,689,520"),  # fc2 has 90 x 512 more MACs
])
def test_row_runs_end_to_end_on_tiny_data(tmp_path, row, variant, macs):
    write_cifar_like(tmp_path / "data", variant, n_train=80, n_test=40)
    results = tmp_path / "res"
    assert main(["run", "--scenario", row, "--budget", "smoke", "--criteria", "l1,bn-scale",
                 "--data-root", str(tmp_path / "data"), "--results", str(results)]) == 0
    board = (results / "leaderboards" / f"{row}.md").read_text()
    assert "| l1 |" in board and "| bn-scale |" in board and macs in board
    assert "| scratch-e | prunebench (control)" in board  # BatchNorm re-initialised too
