"""`prunebench tiny-data` writes, for every row with data files, a copy its real loader reads."""

import pytest

from prunebench import scenarios
from prunebench.cli import main

ROWS = [s for s in scenarios.registry().values() if s.tiny_data is not None]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_tiny_copy_is_read_by_the_real_loader(tmp_path, row, capsys, monkeypatch):
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    assert main(["tiny-data", str(tmp_path), "--scenario", row.name]) == 0
    assert f"--scenario {row.name} --budget smoke --data-root {tmp_path}" in capsys.readouterr().out
    budget = row.budget("smoke")
    data = row.load_data(tmp_path, False, budget.image_size)
    assert data.n_train > 0 and data.source.startswith(str(tmp_path))
    images, labels = next(iter(data.test_batches(2, __import__("torch").device("cpu"))))
    assert len(images) == len(labels) == 2
    if row.task.name == "classification":  # a detector takes images of any size
        assert tuple(images[0].shape) == tuple(data.input_shape)
    else:
        assert images[0].shape[0] == 3 and {"boxes", "labels"} <= set(labels[0])


def test_rows_without_files_say_so(capsys):
    assert main(["tiny-data", "/tmp/x", "--scenario", "lenet5-digits"]) == 2
    assert "needs no data files" in capsys.readouterr().err


def test_every_row_is_covered():
    assert {r.name for r in ROWS} == {"lenet5-mnist", "lenet5-fashionmnist",
                                      "lenet5bn-fashionmnist", "vgg16-cifar10",
                                      "vgg16-cifar100", "resnet50-imagenet", "fasterrcnn-coco",
                                      "fasterrcnn-coco-transfer"}


def test_the_scenario_may_come_first_as_a_new_user_types_it(tmp_path, capsys):
    assert main(["tiny-data", "vgg16-cifar10", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "cifar-10-batches-py").is_dir()
    for args, message in ((["tiny-data", str(tmp_path / "b")], "tiny-data needs a scenario"),
                          (["tiny-data", "vgg16-cifar10", str(tmp_path / "c"), "--scenario",
                            "lenet5-mnist"], "one scenario and one folder")):
        capsys.readouterr()
        assert main(args) == 2
        assert message in capsys.readouterr().err
