"""Pruned models as ONNX, pt2 and TorchScript files: every first-party architecture exports and
computes what the model computes; `prunebench export` writes, checks and refuses; ONNX Runtime
is a deploy backend of `prunebench speed`."""

import json

import pytest
import torch
from torch import nn

from prunebench import scenarios
from prunebench.cli import main
from prunebench.export import parity
from prunebench.export.files import write_exports
from prunebench.export.formats import file_for, load
from prunebench.measure import speed
from prunebench.measure.architecture import architecture

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

#: one row per architecture of the matrix (the others share these models), at a small image:
#: exports keep the spatial size they were traced at, only the batch is free
ARCHITECTURES = {"lenet5-digits": (1, 28, 28), "lenet5bn-fashionmnist": (1, 28, 28),
                 "vgg16-cifar10": (3, 32, 32),
                 "resnet50-imagenet": (3, 64, 64), "fasterrcnn-coco": (3, 64, 64)}


def test_the_architectures_cover_every_first_party_row():
    models = {"lenet5": "lenet5-digits", "lenet5bn": "lenet5bn-fashionmnist",
              "vgg16": "vgg16-cifar10", "resnet50": "resnet50-imagenet",
              "fasterrcnn": "fasterrcnn-coco"}
    rows = [s.name for s in scenarios.registry().values()
            if s.source.startswith(scenarios.CORE + " ")]
    assert len(rows) == 9
    for name in rows:
        assert models[name.split("-")[0]] in ARCHITECTURES, name


@pytest.mark.parametrize("row", sorted(ARCHITECTURES))
def test_every_architecture_exports_to_onnx_and_pt2_with_parity(row, tmp_path):
    """At its default target, random weights; the detector's measured part is its backbone,
    whose outputs are a dict of feature maps (compared one by one)."""
    scenario = scenarios.get(row)
    model, _ = architecture(scenario, scenario.target(scenario.default_target))
    part = model.get_submodule(scenario.measure_root)
    done = write_exports(tmp_path / "m.pt", part, ARCHITECTURES[row], ("onnx", "pt2"))
    for fmt in ("onnx", "pt2"):
        assert "error" not in done[fmt], done[fmt]
        assert done[fmt]["parity"]["ok"], done[fmt]["parity"]
        assert done[fmt]["parity"]["batch_sizes"] == [1, 3]
        assert (tmp_path / done[fmt]["file"]).stat().st_size == done[fmt]["bytes"]
    assert done["onnx"]["exporter"] == "torch.onnx (dynamo)"


def test_parity_sees_a_difference_a_nan_and_a_wrong_shape():
    """The identity against exports that add 0.01, NaN, or give another shape: the inputs are
    the check's own seeded draws (batch 1, then 3), so the relative difference is known."""
    model = nn.Identity()
    draws = torch.Generator().manual_seed(0)
    largest = max(float(torch.randn(bs, 4, generator=draws).abs().max()) for bs in (1, 3))
    assert parity.check(model, lambda x: [x.clone()], (4,)).max_abs == 0
    far = parity.check(model, lambda x: [x + 0.01], (4,))
    assert far.max_abs == pytest.approx(0.01, rel=1e-4)
    assert far.max_rel == pytest.approx(0.01 / largest, rel=1e-4) and not far.ok
    assert parity.check(model, lambda x: [x + 0.01], (4,), tolerance=0.01 / largest * 1.01).ok
    nan = parity.check(model, lambda x: [x * float("nan")], (4,))
    assert not nan.ok and "NaN" in nan.problem
    wrong = parity.check(model, lambda x: [torch.zeros(len(x), 3)], (4,))
    assert not wrong.ok and "(1, 3)" in wrong.problem and "(1, 4)" in wrong.problem


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A lenet5-digits smoke cell run with --save-models: its result file."""
    folder = tmp_path_factory.mktemp("saved")
    assert main(["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--seeds", "0",
                 "--criteria", "l1", "--no-scratch", "--results", str(folder),
                 "--save-models"]) == 0
    return next((folder / "lenet5-digits").glob("l1--*.json"))


def test_save_models_writes_and_records_every_export(saved):
    record = json.loads(saved.read_text())
    assert set(record["exports"]) == {"onnx", "pt2", "torchscript"}
    for fmt, entry in record["exports"].items():
        assert entry["parity"]["ok"] and entry["parity"]["max_rel"] < 1e-4, fmt
        assert entry["bytes"] == (saved.parent / entry["file"]).stat().st_size
        assert entry["bytes"] < entry["bytes_original"] / 2  # widths 4,14 of 20,50
    scripted = torch.jit.load(str(file_for(saved.with_suffix(".pt"), "torchscript")))
    exported = load(file_for(saved.with_suffix(".pt"), "pt2"), "pt2")
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(exported(x)[0], scripted(x))


def test_export_writes_checks_and_refuses(saved, tmp_path, capsys):
    assert main(["export", str(saved), "--format", "onnx,pt2", "--out", str(tmp_path)]) == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx", ".pt2"]
    assert "ok: max |diff|" in capsys.readouterr().out
    onnx_file = tmp_path / file_for(saved.with_suffix(".pt"), "onnx").name
    beside = file_for(saved.with_suffix(".pt"), "onnx")
    original = beside.read_bytes()
    try:
        beside.write_bytes(original[:1000])  # a truncated file: refused in one line
        assert main(["export", str(saved), "--check", "--format", "onnx"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "is not a readable onnx file" in err
        # a file that loads but computes NaN (its weights overwritten): the parity fails
        import onnx

        model = onnx.load(str(onnx_file))
        weight = next(t for t in model.graph.initializer if len(t.dims) == 4)
        weight.raw_data = b"\xff" * len(weight.raw_data)
        onnx.save(model, str(beside))
        assert main(["export", str(saved), "--check", "--format", "onnx"]) == 1
        assert "NaN" in capsys.readouterr().out
    finally:
        beside.write_bytes(original)
    assert main(["export", str(saved), "--check"]) == 0


def test_export_refuses_bad_input_in_one_line(saved, tmp_path, capsys):
    for argv, says in (
            (["export", str(saved), "--format", "tflite"], "unknown format 'tflite'"),
            (["export", str(saved), "--tolerance", "0"], "a relative difference between 0 and 1"),
            (["export", str(saved), "--check", "--out", str(tmp_path)], "not both"),
            (["export", str(tmp_path / "none.json")], "none.json")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err
    unsaved = tmp_path / "unsaved.json"
    record = json.loads(saved.read_text())
    del record["model_file"]
    unsaved.write_text(json.dumps(record))
    assert main(["export", str(unsaved)]) == 2
    assert "--save-models" in capsys.readouterr().err


def test_onnxruntime_is_a_deploy_backend_computing_what_the_model_computes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 4)).eval()
    x = torch.randn(4, 3, 8, 8)
    runners, failures = speed.deploy_runners(model, x)
    assert "onnxruntime" in runners, failures
    with torch.no_grad():
        torch.testing.assert_close(runners["onnxruntime"](x), model(x),
                                   rtol=1e-4, atol=1e-5)


def test_the_fastest_deploy_backend_is_picked_and_named(monkeypatch):
    """With every other candidate made slower, ONNX Runtime is the one `fastest` returns."""
    import time

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
    real = speed.deploy_runners

    def slowed(m, x, exports=None):
        runners, failures = real(m, x, exports)
        for name in [n for n in runners if n != "onnxruntime"]:
            runners[name] = (lambda run: lambda t: (time.sleep(0.02), run(t))[1])(runners[name])
        return runners, failures

    monkeypatch.setattr(speed, "deploy_runners", slowed)
    name, _ = speed.fastest(model, torch.randn(2, 3, 8, 8), "deploy")
    assert name == "onnxruntime"


def test_onnx_runtime_threads_sleep_between_calls():
    """Spinning threads would steal the cores from the other model timed in turn with it."""
    from prunebench.export.formats import export, onnx_session

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    session = onnx_session(export(model, torch.randn(2, 3, 8, 8), "onnx").data,
                           torch.device("cpu"))
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"


def test_a_sweep_exports_each_model_to_onnx_once(monkeypatch):
    """Every batch size, micro-batch size and run of a sweep reuses a model's first export (the
    batch dimension is free): two models, two batch sizes, two runs, two exports."""
    from prunebench.export import formats
    exported = []
    real = formats.export

    def counted(part, example, fmt):
        exported.append(part[0].out_channels)
        return real(part, example, fmt)

    def no_compile(*args, **kwargs):
        raise RuntimeError("not in this test")  # keeps it fast; ONNX Runtime is what it counts

    monkeypatch.setattr(formats, "export", counted)
    monkeypatch.setattr(speed, "MICRO_BATCHES", (2,))  # batch 4 also runs as 2 halves
    monkeypatch.setattr(torch, "compile", no_compile)
    original = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
    pruned = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    rows = speed.speed_rows(original, pruned, (8, 4), (3, 8, 8), (1, 4), ("deploy",),
                            torch.device("cpu"), repeats=1, runs=2)
    assert [row["batch_size"] for row in rows if "error" not in row] == [1, 4]
    assert sorted(exported) == [4, 8]


def test_the_board_shows_the_exported_size_beside_the_unpruned_one(saved, tmp_path):
    record = json.loads(saved.read_text())["exports"]["onnx"]
    assert main(["leaderboard", "--results", str(saved.parent.parent),
                 "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "lenet5-digits.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| group |"))
    assert header.rstrip(" |").endswith("ONNX MB")
    base = next(line for line in lines if "baseline (unpruned)" in line)
    row = next(line for line in lines if "| l1 |" in line)
    assert base.rstrip(" |").endswith(f"{record['bytes_original'] / 1e6:.2f}")
    assert row.rstrip(" |").endswith(f"{record['bytes'] / 1e6:.2f}")
