"""Where the time goes: the latency of each conv and linear layer of the original and the pruned
model, beside its MACs, so a real speed-up short of the theoretical one can be traced to the
layers that lose it (thin or odd widths that leave vector lanes empty, memory-bound layers).

The models run eagerly with BatchNorm folded into the convs and in channels_last, as `deploy` runs
them before freezing; a graph compiler may fuse layers, so the layer times add up to the eager
forward pass, not to the deploy one. Layers are timed with forward hooks (synchronised on GPU);
`rest` is what the forward pass spends outside them (activations, pooling, reshapes).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from prunebench.measure.flops import count_macs
from prunebench.measure.speed import sync

TIMED = (nn.Conv2d, nn.Linear)


def layer_latencies(model: nn.Module, x: Tensor, warmup: int = 3,
                    repeats: int = 10) -> dict[str, float]:
    """Median milliseconds per conv / linear layer of `model` on `x` (BatchNorm folded,
    channels_last), and of the `rest` of the forward pass."""
    from torch.fx.experimental.optimization import fuse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fused = fuse(model.eval()).to(memory_format=torch.channels_last)
    x = x.to(memory_format=torch.channels_last)
    started: dict[str, float] = {}
    current: dict[str, float] = {}  # seconds per layer in the pass under way
    handles = []
    for name, module in fused.named_modules():
        if isinstance(module, TIMED):
            handles.append(module.register_forward_pre_hook(_start(name, started, x.device)))
            handles.append(module.register_forward_hook(_stop(name, started, current, x.device)))
    passes: list[tuple[float, dict[str, float]]] = []
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                fused(x)
            for _ in range(repeats):
                current.clear()
                sync(x.device)
                begin = time.perf_counter()
                fused(x)
                sync(x.device)
                passes.append((time.perf_counter() - begin, dict(current)))
    finally:
        for handle in handles:
            handle.remove()
    medians = {name: 1000 * statistics.median(layers[name] for _, layers in passes)
               for name in passes[0][1]}
    rest = statistics.median(total - sum(layers.values()) for total, layers in passes)
    medians["rest"] = 1000 * max(rest, 0.0)
    return medians


def _start(name: str, started: dict[str, float], device: torch.device):
    def hook(_module: nn.Module, _inputs: object) -> None:
        sync(device)
        started[name] = time.perf_counter()
    return hook


def _stop(name: str, started: dict[str, float], current: dict[str, float],
          device: torch.device):
    def hook(_module: nn.Module, _inputs: object, _output: object) -> None:
        sync(device)
        current[name] = current.get(name, 0.0) + time.perf_counter() - started[name]
    return hook


def layer_rows(original: nn.Module, pruned: nn.Module, input_shape: Sequence[int],
               batch_size: int, device: torch.device, repeats: int = 10) -> list[dict]:
    """One row per layer (and `rest`): MACs and latency of both models, the theoretical and the
    real speed-up, and the rate each reaches (GMAC/s)."""
    x = torch.randn(batch_size, *input_shape, device=device)
    macs = [count_macs(m.to(device), input_shape)[1] for m in (original, pruned)]
    times = [layer_latencies(m, x, repeats=repeats) for m in (original, pruned)]
    rows = []
    for name in times[0]:
        row = {"layer": name, "batch_size": batch_size, "device": device.type,
               "ms_original": times[0][name], "ms_pruned": times[1][name],
               "speedup_real": times[0][name] / times[1][name] if times[1][name] else None}
        if name in macs[0]:
            before, after = macs[0][name], macs[1][name]
            row.update(macs_original=before, macs_pruned=after,
                       speedup_theoretical=before / after if after else None,
                       gmacs_original=before * batch_size / times[0][name] / 1e6,
                       gmacs_pruned=after * batch_size / times[1][name] / 1e6)
        rows.append(row)
    return rows
