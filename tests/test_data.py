"""The real loaders on format-faithful tiny copies, on the real Fashion-MNIST and on digits."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prunebench.cli import main
from prunebench.data import digits, mnist
from prunebench.data.idx import read_idx, write_idx
from prunebench.data.synthetic import write_mnist_like
from prunebench.errors import PrunebenchError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_roundtrip(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(tmp_path / name), array)


def test_truncated_idx_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(PrunebenchError, match=r"train-images-idx3-ubyte holds 3052 bytes but "
                       r"its header \[4, 28, 28\] needs 3152.*truncated"):
        read_idx(path)


def test_corrupt_gzip_and_wrong_magic_are_reported(tmp_path):
    bad_gz = tmp_path / "x.gz"
    bad_gz.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(PrunebenchError, match=r"cannot read .*x\.gz"):
        read_idx(bad_gz)
    wrong = tmp_path / "y"
    wrong.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # float idx, not unsigned bytes
    with pytest.raises(PrunebenchError, match="bad magic number"):
        read_idx(wrong)


@pytest.mark.parametrize("layout", ["", "fashion-mnist", "FashionMNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_found_in_every_layout(tmp_path, monkeypatch, layout, gz):
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    write_mnist_like(tmp_path / layout, n_train=30, n_test=20, gz=gz)
    data = mnist.load(mnist.FASHION_MNIST, tmp_path, fetch=False)
    assert data.train_x.shape == (30, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.train_y.tolist() == [i % 10 for i in range(30)]
    assert abs(float(data.train_x.mean())) < 1e-4  # normalised with training statistics
    assert data.source == str(tmp_path / layout).rstrip("/")


def test_env_variable_is_searched(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist", n_train=10, n_test=10)
    monkeypatch.setenv("PRUNEBENCH_DATA", str(tmp_path))
    assert len(mnist.load(mnist.MNIST, None, fetch=False).train_y) == 10


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    with pytest.raises(PrunebenchError) as info:
        mnist.load(mnist.MNIST, tmp_path, fetch=False)
    message = str(info.value)
    assert message.startswith(f"--data-root {tmp_path} holds no MNIST idx files (looked in")
    assert str(tmp_path / "MNIST/raw") in message and "--download" in message
    with pytest.raises(PrunebenchError, match="^MNIST not found; looked in nowhere"):
        mnist.load(mnist.MNIST, None, fetch=False)


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_a_data_root_given_is_used_or_refused_never_replaced(tmp_path, monkeypatch):
    """One file of Fashion-MNIST under --data-root: refused, naming the three it lacks, though
    Debian's folder holds all four (issue 39: it used to train on Debian's silently)."""
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    with pytest.raises(PrunebenchError) as info:
        mnist.load(mnist.FASHION_MNIST, tmp_path, fetch=False)
    assert str(info.value) == (
        f"--data-root {tmp_path}: {tmp_path} lacks train-labels-idx1-ubyte[.gz], "
        "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] of Fashion-MNIST; add them, "
        "or point --data-root at a folder with all four")
    assert mnist.load(mnist.FASHION_MNIST, None, fetch=False).source == str(DEBIAN)


def test_mismatched_labels_are_reported(tmp_path):
    folder = write_mnist_like(tmp_path, n_train=10, n_test=10)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(PrunebenchError, match="do not match"):
        mnist.load(mnist.MNIST, tmp_path, fetch=False)


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    data = mnist.load(mnist.FASHION_MNIST, None, fetch=False)
    assert data.source == str(DEBIAN)
    assert data.train_x.shape == (60_000, 1, 28, 28) and data.test_x.shape == (10_000, 1, 28, 28)
    assert np.bincount(data.train_y.numpy()).tolist() == [6_000] * 10
    assert np.bincount(data.test_y.numpy()).tolist() == [1_000] * 10


def test_digits_are_upsampled_and_split_stratified():
    data = digits.load()
    assert data.train_x.shape == (1347, 1, 28, 28) and data.test_x.shape == (450, 1, 28, 28)
    every = np.bincount(np.concatenate([data.train_y.numpy(), data.test_y.numpy()]))
    test = np.bincount(data.test_y.numpy())
    assert np.all(np.abs(test - every / 4) <= 1)  # each class 25% in the test split


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, root, train, download):
            raise OSError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    with pytest.raises(PrunebenchError,
                       match=f"downloading MNIST into {tmp_path} failed: no route"):
        mnist.load(mnist.MNIST, tmp_path, fetch=True)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_another_data_sets_files_are_refused_naming_what_they_are(capsys):
    """Fashion-MNIST's files given to the MNIST row (issue 39: they trained, filed as MNIST)."""
    assert main(["run", "--scenario", "lenet5-mnist", "--data-root", str(FASHION),
                 "--budget", "smoke", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"prunebench: error: lenet5-mnist: the files in {FASHION} are "
                   "Fashion-MNIST's, not MNIST's (train-images-idx3-ubyte.gz, "
                   "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                   "t10k-labels-idx1-ubyte.gz); point --data-root at the published files, or "
                   "add --allow-unknown-data to train on these anyway (the results will say so)")


def test_unknown_files_are_refused_unless_allowed_and_then_recorded(tmp_path, capsys):
    from prunebench.data.known import TINY_MARKER

    folder = write_mnist_like(tmp_path / "data", n_train=64, n_test=32)
    (folder / TINY_MARKER).unlink()  # no longer a marked synthetic copy: a stranger's files
    args = ["run", "--scenario", "lenet5-fashionmnist", "--data-root", str(folder), "--budget",
            "smoke", "--criteria", "l1", "--controls", "none", "--results",
            str(tmp_path / "results")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "match none of Fashion-MNIST's published files" in err
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.json"))
    assert main([*args, "--allow-unknown-data"]) == 0
    (result,) = (tmp_path / "results" / "lenet5-fashionmnist").glob("l1--*.json")
    assert json.loads(result.read_text())["data"] == \
        f"{folder} (unknown files, --allow-unknown-data)"
