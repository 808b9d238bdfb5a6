"""Figures beside the leaderboard, per-layer sensitivity, and speed in every result."""

import json
import re

import pytest
from PIL import Image

from prunebench.cli import main


@pytest.mark.slow
def test_leaderboard_links_figures_that_exist_and_are_stable(tmp_path):
    results = tmp_path / "res"
    assert main(["run", "--budget", "smoke", "--criteria", "l1,random", "--results",
                 str(results)]) == 0
    record = json.loads(next((results / "lenet5-digits").glob("l1--*.json")).read_text())
    assert [(r["runtime"], r["batch_size"], r["device"]) for r in record["speed"]] == [
        ("eager", 1, "cpu")]
    out = tmp_path / "boards"
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    text = (out / "lenet5-digits.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert linked == ["lenet5-digits-accuracy-vs-macs.png",
                      "lenet5-digits-prun1-smoke-layer-macs.png",
                      "lenet5-digits-prun1-smoke-finetuning.png",
                      "lenet5-digits-prun1-smoke-speedup.png",
                      "lenet5-digits-smoke-performance-profile.png"]
    first = {}
    for name in linked:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
        first[name] = (out / name).read_bytes()
    # one architecture per table: its speed-up once, under the table, not a column per row
    assert "CPU speed-up of this architecture (every row keeps the same widths), eager at " \
        "batch 1: median" in text and "| CPU speed-up |" not in text
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    assert all((out / name).read_bytes() == data for name, data in first.items())


@pytest.mark.slow
def test_sensitivity_curves_start_at_the_baseline(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--no-scratch", "--results",
                 str(tmp_path / "res")]) == 0
    record = json.loads(next((tmp_path / "res" / "lenet5-digits").glob("l1--*.json")).read_text())
    assert main(["sensitivity", "--budget", "smoke", "--ratios", "0.5,0.9", "--results",
                 str(tmp_path / "res"), "--out", str(out)]) == 0
    saved = json.loads((out / "lenet5-digits-sensitivity-l1-smoke.json").read_text())
    curves = saved["curves"]
    assert list(curves) == ["conv1", "conv2"]
    for curve in curves.values():
        assert [ratio for ratio, _ in curve] == [0.0, 0.5, 0.9]
        assert all(0 <= value <= 100 for _, value in curve)
    for curve in curves.values():  # both start at the baseline the run's cells started from
        assert curve[0] == [0.0, record["baseline"]["metrics"]["top1"]]
    with Image.open(out / "lenet5-digits-sensitivity-l1-smoke.png") as image:
        assert image.format == "PNG"
    # by default the curves go to RESULTS/sensitivity/, out of the results reader's way: run,
    # rerun and leaderboard on that folder still work, with no warning (issue 22 item 1)
    assert main(["sensitivity", "--budget", "smoke", "--ratios", "0.5", "--results",
                 str(tmp_path / "res")]) == 0
    assert list((tmp_path / "res" / "sensitivity").glob("*.json"))
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path / "res")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["rerun", str(next((tmp_path / "res" / "lenet5-digits").glob("l1--*.json")))]) == 0


def test_sensitivity_refuses_training_and_refitting_criteria(capsys):
    assert main(["sensitivity", "--criterion", "stability", "--budget", "smoke"]) == 2
    assert "training-free criterion" in capsys.readouterr().err
    assert main(["sensitivity", "--criterion", "cp", "--budget", "smoke"]) == 2
    assert "refits the next layer after removal" in capsys.readouterr().err


def test_per_layer_labels_drop_only_the_prefix_every_layer_shares():
    from prunebench.report.plots import short_names

    assert short_names(["conv1", "layer1.0.conv1", "layer3.2.conv2", "fc"]) == [
        "conv1", "layer1.0.conv1", "layer3.2.conv2", "fc"]  # ResNet's stage names stay
    assert short_names(["backbone.body.conv1", "backbone.body.layer1.0.conv1"]) == [
        "conv1", "layer1.0.conv1"]
    assert short_names(["a.b", "a.b"]) == ["b", "b"]  # never an empty label
