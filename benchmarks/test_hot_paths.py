"""Timings of the hot paths: criterion scoring on VGG-16, surgery, and one LeNet-5 training epoch
through the harness against a bare PyTorch loop over the same tensors.

    python -m pytest benchmarks/ --benchmark-only

The last one fails if the harness is more than 5% slower than the bare loop (timings belong here,
never in the pass/fail tests of tests/).
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
import torch.nn.functional as F

from prunebench import plugins, scenarios, surgery
from prunebench.config import Budget
from prunebench.criterion import PruneContext
from prunebench.measure.architecture import architecture
from prunebench.models.lenet5 import LeNet5
from prunebench.tasks import Classification
from prunebench.train import phase_generator, train

VGG = scenarios.get("vgg16-cifar10")


@pytest.fixture(scope="module")
def vgg_groups():
    model, _ = architecture(VGG, None)
    return surgery.channel_groups(model, VGG.groups, torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("name", ["l1", "fpgm", "kmeans-raw", "agglomerative-cosine"])
def test_criterion_scoring_on_vgg16(benchmark, vgg_groups, name):
    criterion = plugins.load(name).cls()
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


def test_lenet_epoch_harness_vs_bare_loop(benchmark):
    data = scenarios.get("lenet5-digits").load_data(None, False, None)
    budget = Budget("bench", 0, 0.05, 0, 0.05, 1, 64, 1, (0,), momentum=0.9, weight_decay=5e-4)
    device = torch.device("cpu")

    def harness():
        torch.manual_seed(0)
        model = LeNet5()
        train(model, data, Classification(), budget, epochs=1, lr=0.05,
              generator=phase_generator(0, "bench"), device=device)

    def bare():
        torch.manual_seed(0)
        model = LeNet5()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        model.train()
        order = torch.randperm(len(data.train_y), generator=phase_generator(0, "bench"))
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def median_seconds(fn, rounds=7):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    benchmark.pedantic(harness, rounds=5, iterations=1)
    bare_s, harness_s = median_seconds(bare), median_seconds(harness)
    benchmark.extra_info.update(bare_s=bare_s, harness_s=harness_s)
    assert harness_s <= 1.05 * bare_s, f"harness {harness_s:.3f}s vs bare loop {bare_s:.3f}s"
