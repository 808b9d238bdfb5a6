"""ResNet-50 on an ImageNet-style folder: sizes, loader errors, and the row end to end."""

import pytest

from prunebench import scenarios
from prunebench.cli import main
from prunebench.data import imagefolder
from prunebench.data.synthetic import write_imagefolder_like
from prunebench.errors import PrunebenchError
from prunebench.measure.architecture import architecture_size

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

ROW = scenarios.get("resnet50-imagenet")


def test_baseline_is_about_4_1_gmacs_and_25_6_m_params():
    size = architecture_size(ROW, None)
    assert abs(size["macs"] / 4.1e9 - 1) < 0.015 and abs(size["params"] / 25.6e6 - 1) < 0.015


def test_prun1_keeps_identity_paths_and_matches_seed_table_5_params():
    size = architecture_size(ROW, ROW.target("prun1"))
    assert abs(size["params"] / 15.1e6 - 1) < 0.015  # seed 001 Table 5: 15.1M
    removed = 1 - size["macs"] / architecture_size(ROW, None)["macs"]
    assert removed == pytest.approx(0.4445, abs=0.01)
    assert len(ROW.groups) == 32 and all(g.endswith(("conv1", "conv2")) for g in ROW.groups)
    # input narrowed, output not
    assert size["macs_per_layer"]["layer1.0.conv3"] == 40 * 256 * 56 * 56


def test_loader_reads_train_and_val(tmp_path):
    write_imagefolder_like(tmp_path / "imagenet", classes=3, per_class=(4, 2))
    data = imagefolder.load(tmp_path, False, 32)
    assert (data.n_train, len(data.test_set), data.num_classes) == (12, 6, 3)
    images, labels = next(data.test_batches(6, __import__("torch").device("cpu")))
    assert images.shape == (6, 3, 32, 32) and labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_missing_tree_and_undecodable_image(tmp_path):
    with pytest.raises(PrunebenchError, match="ImageNet not found; looked for train/ and val/"):
        imagefolder.load(tmp_path, False, 32)
    write_imagefolder_like(tmp_path, classes=2, per_class=(2, 2))
    broken = tmp_path / "val" / "class001" / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    data = imagefolder.load(tmp_path, False, 32)
    with pytest.raises(PrunebenchError, match=f"cannot decode image {broken}"):
        list(data.test_batches(8, __import__("torch").device("cpu")))


def test_row_runs_end_to_end_on_tiny_data(tmp_path):
    write_imagefolder_like(tmp_path / "data")
    results = tmp_path / "res"
    assert main(["run", "--scenario", "resnet50-imagenet", "--budget", "smoke", "--no-scratch",
                 "--criteria", "l1", "--data-root", str(tmp_path / "data"), "--results",
                 str(results)]) == 0
    board = (results / "leaderboards" / "resnet50-imagenet.md").read_text()
    assert "| – | l1 |" in board and "15,145,160" in board  # one seed, no letter
