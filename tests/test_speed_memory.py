"""Speed and memory measurement: known answers and correctness, never timings as pass/fail."""

import json

import pytest
import torch
from torch import nn

from prunebench import scenarios
from prunebench.cli import main
from prunebench.errors import PrunebenchError
from prunebench.measure import speed
from prunebench.measure.architecture import architecture
from prunebench.measure.compare import memory_report
from prunebench.measure.speed import speed_rows
from prunebench.protocol.config import Target, rounded
from prunebench.results.record import SpeedSweep

LENET = scenarios.get("lenet5-digits")


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 4, 3, padding=1), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))).mean((2, 3))


@pytest.mark.slow
def test_every_deploy_backend_computes_the_eager_function(monkeypatch):
    monkeypatch.setattr(speed, "MICRO_BATCHES", (2,))  # a batch of 4 also runs as 2 halves
    torch.manual_seed(0)
    model = BNNet().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them matters
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
    x = torch.randn(4, 3, 8, 8).to(memory_format=torch.channels_last)
    runners, failures = speed._deploy_candidates(model, x)
    built = set(runners) | {name.removesuffix(" (micro-batches of 2)") for name in failures}
    assert {"torchscript", "torchscript-onednn", "compile", "onnxruntime", "torchscript x2/2",
            "onnxruntime x2/2"} <= built
    assert runners, failures
    with torch.inference_mode():
        expected = model(x)
        for name, run in runners.items():
            torch.testing.assert_close(run(x), expected, rtol=1e-4, atol=1e-4, msg=name)


def test_speed_rows_carry_the_macs_ratio_and_consistent_fields(monkeypatch):
    original, _ = architecture(LENET, None)
    pruned, _ = architecture(LENET, LENET.target("prun1"))
    timings = {1: (speed.Timing("eager", 2.0, 1.5, 2.5), speed.Timing("eager", 0.5, 0.4, 0.6)),
               4: (speed.Timing("eager", 8.0, 7.0, 9.0), speed.Timing("eager", 4.0, 3.0, 5.0))}
    monkeypatch.setattr(speed, "compare", lambda *args, **kw: timings[args[3]])
    rows = speed_rows(original, pruned, (2_000_000, 250_000), (1, 28, 28), (1, 4), ("eager",),
                      torch.device("cpu"), repeats=2)
    assert [(r["runtime"], r["batch_size"]) for r in rows] == [("eager", 1), ("eager", 4)]
    # by hand: theory 2,000,000 / 250,000 = 8; batch 1: 2.0 / 0.5 ms; batch 4: 8.0 / 4.0 ms
    assert [r["speedup_theoretical"] for r in rows] == [8.0, 8.0]
    assert [r["speedup_real"] for r in rows] == [4.0, 2.0]
    assert [r["efficiency"] for r in rows] == [0.5, 0.25]
    assert [r["throughput_pruned"] for r in rows] == [2000.0, 1000.0]
    assert [r["throughput_original"] for r in rows] == [500.0, 500.0]
    assert rows[1]["original"] == {"backend": "eager", "median_ms": 8.0, "p25_ms": 7.0,
                                   "p75_ms": 9.0}


def test_several_runs_give_the_median_run_and_keep_every_run(monkeypatch):
    """Three independent measurements of batch 1 give speed-ups 4, 1.6 and 2: the row is the
    median run's (2.0, with its own timings), and every run's speed-up is kept."""
    from prunebench.report.speed_board import real_text

    original, _ = architecture(LENET, None)
    pruned, _ = architecture(LENET, LENET.target("prun1"))
    runs = iter([(speed.Timing("eager", 2.0, 1.5, 2.5), speed.Timing("eager", 0.5, 0.4, 0.6)),
                 (speed.Timing("eager", 2.0, 1.5, 2.5), speed.Timing("eager", 1.25, 1.0, 1.5)),
                 (speed.Timing("eager", 3.0, 2.5, 3.5), speed.Timing("eager", 1.5, 1.0, 2.0))])
    monkeypatch.setattr(speed, "compare", lambda *args, **kw: next(runs))
    row, = speed_rows(original, pruned, (2_000_000, 250_000), (1, 28, 28), (1,), ("eager",),
                      torch.device("cpu"), repeats=2, runs=3)
    assert row["speedup_runs"] == [4.0, 1.6, 2.0] and row["speedup_real"] == 2.0
    assert row["original"]["median_ms"] == 3.0 and row["efficiency"] == 0.25
    assert real_text(row["speedup_real"], row["speedup_runs"]) == "2.00x (1.60-4.00, 3 runs)"
    assert real_text(2.0) == "2.00x"  # a sweep saved before --runs


def test_speed_command_json(capsys):
    assert main(["speed", "--scenario", "lenet5-digits", "--target", "prun2", "--runtime",
                 "eager", "--batch-sizes", "2", "--repeats", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows[0]["speedup_runs"]) == 3  # the default: three independent runs
    assert {"batch_size", "runtime", "device", "speedup_theoretical",
            "speedup_real"} <= set(rows[0])
    assert rows[0]["target"] == "prun2" and rows[0]["device"] == "cpu"


def test_rounding_widths_to_a_multiple():
    vgg = scenarios.get("vgg16-cifar10")
    full = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    target = rounded(vgg.target("prun2"), full, vgg.groups, 8)
    assert target.name == "prun2-r8"
    assert target.widths == (24, 56, 72, 72, 120, 120, 120, 88, 48, 48, 48, 48, 48)
    assert rounded(Target("x", widths=(4, 14)), (20, 50), ("a", "b"), 16).widths == (16, 16)
    assert rounded(Target("x", widths=(19, 50)), (20, 50), ("a", "b"), 8).widths == (20, 50)
    with pytest.raises(PrunebenchError, match="--round-to 0 must be a positive integer"):
        rounded(Target("x", widths=(4, 14)), (20, 50), ("a", "b"), 0)


def test_round_to_reaches_run_and_flops(capsys, tmp_path):
    assert main(["flops", "--target", "prun1", "--round-to", "8", "--json"]) == 0
    size = json.loads(capsys.readouterr().out)
    assert size["target"] == "prun1-r8" and size["widths"] == [8, 16]


@pytest.mark.slow
def test_memory_eq_16_beside_a_measured_peak():
    rows = memory_report(LENET, LENET.target("prun1"), (64,), torch.device("cpu"))
    row = rows[0]
    assert row["trm_bytes_original"] == 431_080 * 4 + 15_230 * 4 * 64  # eq. 16 by hand
    # the wider model holds more parameters and larger feature maps
    assert row["measured_bytes_original"] > row["measured_bytes_pruned"]
    assert row["trm_bytes_pruned"] == 119_028 * 4 + (4 * 576 + 14 * 64 + 510) * 4 * 64
    assert row["process_bytes_original"] > 50e6  # a fresh process with torch loaded


def test_per_layer_rows_name_every_layer_with_its_macs_and_the_rest(capsys):
    assert main(["speed", "--scenario", "lenet5-digits", "--target", "prun1", "--per-layer", "4",
                 "--repeats", "2", "--json"]) == 0
    rows = {row["layer"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["conv1", "conv2", "fc1", "fc2", "rest"]
    # widths 4,14: conv1 4*25*576, conv2 14*4*25*64, fc1 224*500, fc2 500*10; unpruned 2,293,000
    assert {k: rows[k]["macs_pruned"] for k in ("conv1", "conv2", "fc1", "fc2")} == \
        {"conv1": 57_600, "conv2": 89_600, "fc1": 112_000, "fc2": 5_000}
    assert sum(rows[k]["macs_original"] for k in ("conv1", "conv2", "fc1", "fc2")) == 2_293_000
    for name in ("conv1", "conv2", "fc1", "fc2"):
        row = rows[name]
        assert row["ms_original"] > 0 and row["ms_pruned"] > 0
        assert row["speedup_theoretical"] == pytest.approx(row["macs_original"] /
                                                           row["macs_pruned"])
        assert row["gmacs_pruned"] == pytest.approx(
            row["macs_pruned"] * 4 / row["ms_pruned"] / 1e6)
    assert "macs_original" not in rows["rest"]
    assert {"ms_original", "ms_pruned", "speedup_real"} <= set(rows["rest"])


def test_a_saved_per_layer_report_explains_its_section_on_the_speed_board(tmp_path):
    """`--per-layer B --results` saves the layers beside the sweeps; the board puts them under
    the sweep of the same target, names the layers furthest below their theoretical speed-up
    and the share of the pass outside conv and linear layers (checked here on edited times)."""
    from prunebench.report.speed_board import layer_lines

    results = tmp_path / "r"
    assert main(["speed", "--scenario", "lenet5-digits", "--target", "prun1", "--per-layer",
                 "4", "--repeats", "2", "--results", str(results), "--json"]) == 0
    assert main(["speed", "--scenario", "lenet5-digits", "--target", "prun1", "--runtime",
                 "eager", "--batch-sizes", "1", "--repeats", "2", "--runs", "1", "--results",
                 str(results), "--json"]) == 0
    saved = json.loads((results / "speed" / "lenet5-digits--prun1--cpu--layers.json")
                       .read_text())
    assert saved["layers"] == 4 and saved["environment"]["cpu_capability"]
    times = {"conv1": (1.0, 0.5), "conv2": (2.0, 1.0), "fc1": (1.0, 0.25), "fc2": (0.5, 0.5),
             "rest": (0.5, 0.75)}  # real speed-up 2, 2, 4, 1 of theory 5, 17.86, 3.57, 1
    for row in saved["rows"]:
        row["ms_original"], row["ms_pruned"] = times[row["layer"]]
        row["speedup_real"] = row["ms_original"] / row["ms_pruned"]
    text = "\n".join(layer_lines(SpeedSweep.from_json(saved)))
    assert ("Furthest below their theoretical speed-up (real / theory): conv2 0.11 (89,600 of "
            "1,600,000 MACs), conv1 0.40 (57,600 of 288,000 MACs), fc2 1.00 (5,000 of 5,000 "
            "MACs).") in text
    assert "Outside conv and linear layers: 10% of the original's pass, 25% of the pruned" in text
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "b")]) == 0
    board = (tmp_path / "b" / "speed-cpu.md").read_text()
    assert board.index("## lenet5-digits: `prun1`") < board.index("### Per layer at batch 4")
    assert f"({saved['environment']['cpu_capability']})" in board
