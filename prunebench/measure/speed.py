"""Latency and throughput of the original and the pruned model, the way a deployment sees them.

Two runtimes, because how a model is run decides the speed-up:
  eager   `model.eval()` under `torch.inference_mode()`
  deploy  BatchNorm folded into the convs (`torch.fx.experimental.optimization.fuse`),
          channels_last, then the fastest, for that model and batch size, of: a frozen
          TorchScript trace optimised for inference, the same under the oneDNN Graph fuser (CPU),
          and `torch.compile`; every row names the backend it used. Each model gets its own
          fastest backend: a speed-up measured against a slower run of the original is no
          speed-up a user would see.
Timings: warm-up calls first, then `repeats` timed calls, each synchronised on GPU; the median is
the latency, the 25th and 75th percentiles its spread. Weights do not change speed, so the models
here carry random weights.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

RUNTIMES = ("eager", "deploy")
Runner = Callable[[Tensor], object]


@dataclass(frozen=True)
class Timing:
    backend: str
    median_ms: float
    p25_ms: float
    p75_ms: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runner(run: Runner, x: Tensor, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of `repeats` timed calls after `warmup` untimed ones."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            run(x)
        _sync(x.device)
        for _ in range(repeats):
            start = time.perf_counter()
            run(x)
            _sync(x.device)
            times.append(time.perf_counter() - start)
    return times


def deploy_runners(model: nn.Module, x: Tensor) -> tuple[dict[str, Runner], dict[str, str]]:
    """The deploy candidates that build on this model, and why the others did not."""
    from torch.fx.experimental.optimization import fuse

    runners, failures = {}, {}
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "no CUDA runtime"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fused = fuse(model.eval()).to(memory_format=torch.channels_last)
        except Exception as exc:  # fx cannot trace every model (e.g. a detector's control flow)
            return {}, {"fuse": f"{type(exc).__name__}: {exc}"}
        try:
            with torch.inference_mode():
                traced = torch.jit.trace(fused, x, check_trace=False)
                runners["torchscript"] = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        except Exception as exc:
            failures["torchscript"] = f"{type(exc).__name__}: {exc}"
        if x.device.type == "cpu":
            try:
                runners["torchscript-onednn"] = _onednn_fused(fused, x)
            except Exception as exc:
                failures["torchscript-onednn"] = f"{type(exc).__name__}: {exc}"
        try:
            runners["compile"] = torch.compile(fused, dynamic=False)
        except Exception as exc:
            failures["compile"] = f"{type(exc).__name__}: {exc}"
    return runners, failures


def _onednn_fused(model: nn.Module, x: Tensor) -> Runner:
    """A frozen TorchScript trace run under the oneDNN Graph fuser (CPU only); the fuser is a
    global switch, so it is on only while this runner runs."""
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False))

    def run(inputs: Tensor) -> object:
        before = torch.jit.onednn_fusion_enabled()
        torch.jit.enable_onednn_fusion(True)
        try:
            return frozen(inputs)
        finally:
            torch.jit.enable_onednn_fusion(before)
    return run


def _timing(backend: str, seconds: list[float]) -> Timing:
    ms = sorted(s * 1000 for s in seconds)
    quartiles = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return Timing(backend, statistics.median(ms), quartiles[0], quartiles[2])


def measure(model: nn.Module, input_shape: Sequence[int], batch_size: int, runtime: str,
            device: torch.device, warmup: int = 3, repeats: int = 10) -> Timing:
    """The latency of `model` at one batch size in one runtime (the fastest deploy backend)."""
    model = model.to(device).eval()
    x = torch.randn(batch_size, *input_shape, device=device)
    if runtime == "eager":
        return _timing("eager", time_runner(model, x, warmup, repeats))
    x = x.to(memory_format=torch.channels_last)
    runners, failures = deploy_runners(model, x)
    timings = []
    for name, run in runners.items():
        try:
            timings.append(_timing(name, time_runner(run, x, warmup, repeats)))
        except Exception as exc:  # e.g. no C++ compiler for inductor
            failures[name] = f"{type(exc).__name__}: {exc}"
    if not timings:
        raise RuntimeError("no deploy backend ran: " + "; ".join(f"{k}: {v}" for k, v in
                                                                 failures.items()))
    return min(timings, key=lambda t: t.median_ms)


def speed_rows(original: nn.Module, pruned: nn.Module, macs: tuple[int, int],
               input_shape: Sequence[int], batch_sizes: Sequence[int], runtimes: Sequence[str],
               device: torch.device, repeats: int = 10) -> list[dict]:
    """One row per runtime and batch size: latencies, throughputs, theoretical and real
    speed-up (original over pruned) and their ratio, the efficiency."""
    theoretical = macs[0] / macs[1]
    rows = []
    for runtime in runtimes:
        for bs in batch_sizes:
            try:
                before = measure(original, input_shape, bs, runtime, device, repeats=repeats)
                after = measure(pruned, input_shape, bs, runtime, device, repeats=repeats)
            except RuntimeError as exc:
                rows.append({"batch_size": bs, "runtime": runtime, "device": device.type,
                             "error": str(exc)})
                continue
            real = before.median_ms / after.median_ms
            rows.append({
                "batch_size": bs, "runtime": runtime, "device": device.type,
                "backend_original": before.backend, "backend_pruned": after.backend,
                "original": asdict(before), "pruned": asdict(after),
                "throughput_original": 1000 * bs / before.median_ms,
                "throughput_pruned": 1000 * bs / after.median_ms,
                "speedup_theoretical": theoretical, "speedup_real": real,
                "efficiency": real / theoretical,
            })
    return rows
