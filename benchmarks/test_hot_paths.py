"""Timings of the hot paths: criterion scoring on VGG-16, surgery, and one LeNet-5 training epoch
at each width the published boards fine-tune at, through the harness against a bare PyTorch loop
over the same tensors.

    python -m pytest benchmarks/ --benchmark-only

The epoch benchmark fails where the harness is more than 5% slower than the bare loop (timings
belong here, never in the pass/fail tests of tests/).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from prunebench import scenarios
from prunebench.criteria import registry
from prunebench.criterion import PruneContext
from prunebench.harness import allocation
from prunebench.harness.train import phase_generator, train
from prunebench.measure.architecture import architecture
from prunebench.models import surgery
from prunebench.models.lenet5 import LeNet5
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget
from prunebench.runtime.memory_format import suits_channels_last

VGG = scenarios.get("vgg16-cifar10")


@pytest.fixture(scope="module")
def vgg_groups():
    model, _ = architecture(VGG, None)
    return surgery.channel_groups(model, VGG.groups, torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("name", ["l1", "fpgm", "kmeans-raw", "agglomerative-cosine"])
def test_criterion_scoring_on_vgg16(benchmark, vgg_groups, name):
    criterion = registry.load(name).cls()
    ctx = PruneContext(None, vgg_groups, None, torch.Generator().manual_seed(0),
                       torch.device("cpu"), lambda: iter(()))
    criterion.prepare(ctx)
    benchmark.pedantic(lambda: [criterion.select(g, g.n_filters // 2) for g in vgg_groups],
                       rounds=3, iterations=1)


def test_surgery_vgg16_to_prun2(benchmark):
    widths = VGG.target("prun2").widths

    def prune():
        model = VGG.model()
        surgery.keep_first(model, VGG.groups, widths, torch.zeros(1, 3, 32, 32))
    benchmark.pedantic(prune, rounds=3, iterations=1)


LENET = scenarios.get("lenet5-fashionmnist")
FULL = (20, 50)


def _board_widths() -> dict[str, tuple[int, ...]]:
    """Every width the published LeNet-5 boards fine-tune at: the unpruned (the baseline's
    epochs), the fixed targets, and the uniform widths of the global targets."""
    macs_of = allocation.scenario_macs(LENET)
    widths = {"unpruned": FULL}
    widths.update({name: LENET.target(name).resolve(FULL, LENET.groups)
                   for name in ("prun1", "prun2", "half")})
    for factor in (2, 4):
        widths[f"macs-{factor}x uniform"] = allocation.allocate(
            allocation.uniform_scores(FULL), macs_of, round(macs_of(FULL) / factor)).widths
    return widths


BOARD_WIDTHS = _board_widths()


@pytest.mark.parametrize("name", list(BOARD_WIDTHS))
def test_lenet_epoch_harness_vs_bare_loop(benchmark, name):
    """One training epoch at each board width (a pruned fine-tuning epoch, or the baseline's):
    the harness's `train` (its memory layout chosen by the architecture) against a bare SGD loop
    over the same tensors in the standard layout; at most 5% slower."""
    widths = BOARD_WIDTHS[name]
    digits = scenarios.get("lenet5-digits").load_data(None, False, None)
    # four passes over digits' 1,437 training images: an epoch of ~1 s, long enough to time
    data = replace(digits, train_x=digits.train_x.repeat(4, 1, 1, 1),
                   train_y=digits.train_y.repeat(4))
    budget = Budget("bench", 0, 0.05, 0, 0.05, 1, 64, 1, (0,), momentum=0.9, weight_decay=5e-4)
    device = torch.device("cpu")

    def pruned() -> LeNet5:
        torch.manual_seed(0)
        model = LeNet5()
        surgery.keep_first(model, LENET.groups, widths, torch.zeros(1, 1, 28, 28))
        return model

    def harness():
        train(pruned(), data, Classification(), budget, epochs=1, lr=0.05,
              generator=phase_generator(0, "bench"), device=device)

    def bare():
        model = pruned()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        model.train()
        order = torch.randperm(len(data.train_y), generator=phase_generator(0, "bench"))
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def seconds(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    benchmark.pedantic(harness, rounds=3, iterations=1)
    rounds = [(seconds(bare), seconds(harness)) for _ in range(7)]  # alternating: same drift
    bare_s, harness_s = (statistics.median(times) for times in zip(*rounds))
    benchmark.extra_info.update(widths=list(widths), bare_s=bare_s, harness_s=harness_s,
                                channels_last=suits_channels_last(pruned()),
                                isa=torch.backends.cpu.get_cpu_capability())
    assert harness_s <= 1.05 * bare_s, \
        f"{name} {widths}: harness {harness_s:.3f}s vs bare loop {bare_s:.3f}s"
