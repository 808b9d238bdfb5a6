"""Saved pruned models rebuild exactly; the detector of the transfer row carries them."""

import json

import pytest
import torch

from prunebench import scenarios
from prunebench.cli import main
from prunebench.errors import PrunebenchError
from prunebench.export.files import load_pruned, save_pruned
from prunebench.harness.cells.transfer import attach_backbone
from prunebench.models.lenet5 import LeNet5

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

LENET = scenarios.get("lenet5-digits")


def pruned_lenet():
    from prunebench.models import surgery
    torch.manual_seed(0)
    model = LeNet5()
    surgery.remove_filters(model, torch.zeros(1, 1, 28, 28),
                           {"conv1": torch.tensor([1, 3, 5, 7]), "conv2": torch.arange(0, 28, 2)})
    return model


def test_saved_model_rebuilds_with_identical_outputs(tmp_path):
    model = pruned_lenet().eval()
    path = tmp_path / "m.pt"
    save_pruned(path, model, LENET, (1, 28, 28))
    again = load_pruned(path, LENET).eval()
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(again(x), model(x))
    scripted = torch.jit.load(str(tmp_path / "m.torchscript.pt"))  # deployable without prunebench
    torch.testing.assert_close(scripted(x), model(x))
    exported = torch.export.load(str(tmp_path / "m.pt2")).module()
    torch.testing.assert_close(exported(x), model(x))
    assert (again.conv1.out_channels, again.conv2.out_channels) == (4, 14)


def test_files_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    save_pruned(path, pruned_lenet(), LENET, (1, 28, 28))
    with pytest.raises(PrunebenchError, match="holds a lenet5-digits model, not a vgg16-cifar10"):
        load_pruned(path, scenarios.get("vgg16-cifar10"))
    saved = torch.load(path, weights_only=True)
    saved["widths"] = [5, 14]  # widths that do not match the weights
    torch.save(saved, path)
    with pytest.raises(PrunebenchError, match=r"does not fit lenet5-digits at widths \[5, 14\]"):
        load_pruned(path, LENET)


def test_detector_backbone_gets_the_pruned_resnet_weights():
    from torchvision.models import resnet50

    from prunebench.export.files import narrow

    source = scenarios.get("resnet50-imagenet")
    torch.manual_seed(0)
    resnet = resnet50()
    widths = list(source.target("prun1").widths)
    narrow(resnet, source, widths, (3, 64, 64))
    detector_row = scenarios.get("fasterrcnn-coco-transfer")
    detector = detector_row.model(detector_row.budget("smoke"))
    attach_backbone(detector, resnet.state_dict(), widths, detector_row, (3, 64, 64))
    body = detector.backbone.body
    assert body.layer1[0].conv1.out_channels == 40 and body.layer4[2].conv2.out_channels == 320
    assert torch.equal(body.layer3[1].conv2.weight, resnet.layer3[1].conv2.weight)
    assert torch.equal(body.layer2[0].bn1.running_var, resnet.layer2[0].bn1.running_var)


@pytest.mark.longest
def test_transfer_row_end_to_end(tmp_path, capsys, monkeypatch):
    # the detector takes the saved weights; the ONNX, pt2 and TorchScript files --save-models
    # also writes (two thirds of the ResNet-50 cell's time) are tested in test_deploy_exports
    monkeypatch.setattr("prunebench.export.files.write_exports", lambda *args, **kwargs: {})
    data = tmp_path / "data"
    assert main(["tiny-data", str(data), "--scenario", "resnet50-imagenet"]) == 0
    assert main(["tiny-data", str(data), "--scenario", "fasterrcnn-coco"]) == 0
    assert main(["run", "--scenario", "fasterrcnn-coco-transfer", "--budget", "smoke",
                 "--data-root", str(data), "--results", str(tmp_path / "det")]) == 2
    assert "needs --backbone-from" in capsys.readouterr().err
    assert main(["run", "--scenario", "resnet50-imagenet", "--budget", "smoke", "--no-scratch",
                 "--criteria", "l1",
                 "--data-root", str(data), "--results", str(tmp_path / "inet"),
                 "--save-models"]) == 0
    assert main(["run", "--scenario", "fasterrcnn-coco-transfer", "--budget", "smoke",
                 "--criteria", "l1,l2", "--data-root", str(data), "--backbone-from",
                 str(tmp_path / "inet"), "--results", str(tmp_path / "det")]) == 1  # l2 not run
    records = {json.loads(p.read_text())["criterion"]["name"]: json.loads(p.read_text())
               for p in (tmp_path / "det" / "fasterrcnn-coco-transfer").glob("*.json")}
    assert records["l1"]["status"] == "ok" and records["l1"]["pruned"]["params"] == 31_396_534
    assert records["l1"]["widths"]["pruned"][:6] == [40] * 6
    assert "AP50" in records["l1"]["pruned"]["metrics"]
    assert "run it with --save-models" in records["l2"]["error"]
    done = next((tmp_path / "det" / "fasterrcnn-coco-transfer").glob("l1--*.json"))
    stamp = done.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", "--scenario", "fasterrcnn-coco-transfer", "--budget", "smoke",
                 "--criteria", "l1", "--data-root", str(data), "--backbone-from",
                 str(tmp_path / "inet"), "--results", str(tmp_path / "det")]) == 0
    assert "l1, seed 0: skipped, done before" in capsys.readouterr().out  # like every row
    assert done.stat().st_mtime_ns == stamp
