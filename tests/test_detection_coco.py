"""Faster R-CNN on COCO: the pycocotools path with known answers, loader errors, the row end to
end."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from prunebench.cli import main
from prunebench.data import coco
from prunebench.data.synthetic import write_coco_like
from prunebench.errors import PrunebenchError
from prunebench.models.tasks import COCO_STATS, Detection

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it


@pytest.fixture
def data(tmp_path):
    write_coco_like(tmp_path, n_train=4, n_val=3)
    return coco.load(tmp_path, False, 64)


class Oracle(nn.Module):
    """Answers each test image with its ground truth, optionally with the category shifted."""

    def __init__(self, data, shift=0):
        super().__init__()
        self.answers = [data.test_set[(i, False)][1] for i in range(len(data.test_set))]
        self.shift, self.seen = shift, 0
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images):
        out = []
        for _ in images:
            target = self.answers[self.seen]
            self.seen += 1
            out.append({"boxes": target["boxes"], "labels": target["labels"] + self.shift,
                        "scores": torch.ones(len(target["labels"]))})
        return out


def test_cocoeval_gives_100_for_perfect_and_0_for_wrong_category(data):
    perfect = Detection().evaluate(Oracle(data), data, torch.device("cpu"))
    assert set(perfect) == set(COCO_STATS)
    assert perfect["AP"] == pytest.approx(100.0) and perfect["AR100"] == pytest.approx(100.0)
    wrong = Detection().evaluate(Oracle(data, shift=10), data, torch.device("cpu"))
    assert wrong["AP"] == 0.0


def test_targets_follow_the_json_and_flip_with_the_image(tmp_path, data):
    instances = json.loads((tmp_path / "annotations" / "instances_train2017.json").read_text())
    first = instances["images"][0]["id"]
    anns = [a for a in instances["annotations"] if a["image_id"] == first]
    image, target = data.train_set[(0, False)]
    x, y, w, h = anns[0]["bbox"]
    assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    assert target["labels"].tolist() == [a["category_id"] for a in anns]
    red, green, blue = image[:, y + h // 2, x + w // 2].tolist()  # the box is drawn in its colour
    colour = anns[0]["category_id"]
    assert [red, green, blue].index(max(red, green, blue)) == colour - 1
    flipped, flipped_target = data.train_set[(0, True)]
    assert torch.equal(flipped, image.flip(-1))
    assert flipped_target["boxes"][0].tolist() == [96 - x - w, y, 96 - x, y + h]


def test_json_without_annotations_names_the_file(tmp_path):
    write_coco_like(tmp_path, n_train=2, n_val=2)
    path = tmp_path / "annotations" / "instances_val2017.json"
    content = json.loads(path.read_text())
    del content["annotations"]
    path.write_text(json.dumps(content))
    with pytest.raises(PrunebenchError, match=f"{path} has no 'annotations'"):
        coco.load(tmp_path, False, 64)
    path.write_text("{not json")
    with pytest.raises(PrunebenchError, match=f"cannot read COCO annotations {path}"):
        coco.load(tmp_path, False, 64)
    with pytest.raises(PrunebenchError, match="COCO not found; looked for"):
        coco.load(tmp_path / "elsewhere", False, 64)


def test_undecodable_image_names_the_file(tmp_path):
    write_coco_like(tmp_path, n_train=2, n_val=2)
    victim = sorted((tmp_path / "val2017").iterdir())[0]
    victim.write_bytes(b"\xff\xd8 truncated")
    data = coco.load(tmp_path, False, 64)
    with pytest.raises(PrunebenchError, match=f"cannot decode image {victim}"):
        list(data.test_batches(2, torch.device("cpu")))


def test_training_order_and_flips_come_from_the_generator(data):
    def labels(seed):
        return [[t["image_id"] for t in targets] for _, targets in
                data.train_batches(2, torch.Generator().manual_seed(seed), torch.device("cpu"))]
    assert labels(3) == labels(3)
    assert sorted(sum(labels(3), [])) == data.train_set.ids


def test_synthetic_images_are_real_jpegs(tmp_path):
    write_coco_like(tmp_path, n_train=1, n_val=1)
    for path in (tmp_path / "train2017").iterdir():
        with Image.open(path) as image:
            assert image.format == "JPEG" and np.asarray(image).shape == (96, 96, 3)


@pytest.mark.longest
def test_row_runs_end_to_end_with_cocoeval_numbers(tmp_path):
    write_coco_like(tmp_path / "data")
    results = tmp_path / "res"
    assert main(["run", "--scenario", "fasterrcnn-coco", "--budget", "smoke", "--no-scratch",
                 "--criteria", "l1",
                 "--data-root", str(tmp_path / "data"), "--results", str(results)]) == 0
    record = json.loads(next((results / "fasterrcnn-coco").glob("l1--*.json")).read_text())
    assert set(COCO_STATS) <= set(record["pruned"]["metrics"])
    assert set(COCO_STATS) <= set(record["baseline"]["metrics"])
    assert record["widths"]["pruned"][:2] == [40, 40] and record["pruned"]["params"] == 31_396_534
    assert all(k.startswith("backbone.") for k in record["pruned"]["macs_per_layer"])
    board = (results / "leaderboards" / "fasterrcnn-coco.md").read_text()
    assert "AP after FT" in board and "(widths 40x6,80x8,160x12,320x6)" in board
