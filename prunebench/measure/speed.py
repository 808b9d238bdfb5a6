"""Latency and throughput of the original and the pruned model, the way a deployment sees them.

Two runtimes, because how a model is run decides the speed-up:
  eager   `model.eval()` under `torch.inference_mode()`
  deploy  BatchNorm folded into the convs (`torch.fx.experimental.optimization.fuse`),
          channels_last, then the fastest, for that model and batch size, of: a frozen
          TorchScript trace optimised for inference, the same under the oneDNN Graph fuser (CPU),
          `torch.compile`, and ONNX Runtime on the model's ONNX export (its own BatchNorm
          folding and kernels; CPU execution provider, CUDA on a GPU); every row names the
          backend it used. Each model gets its own
          fastest backend: a speed-up measured against a slower run of the original is no
          speed-up a user would see. A batch that splits into micro-batches of a size in
          `MICRO_BATCHES` also tries each backend over those ("torchscript x4/64"): a pruned net's
          thin layers are memory-bound once a whole large batch of activations no longer fits in
          cache, and a server splitting its batch is what a careful user would ship.
Timings: each model's fastest backend is picked on a few calls; then, after warm-up, the two
chosen runners take turns, `repeats` rounds, each turn an untimed call (to bring the model's
weights back into cache) and a timed one, synchronised on GPU, so drift in the machine's load hits
both alike. The median is the latency, the 25th and 75th percentiles its spread. Weights do not
change speed, so the models here carry random weights.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import cast

import torch
from torch import Tensor, nn

from prunebench.runtime.determinism import inductor_follows

RUNTIMES = ("eager", "deploy")
MICRO_BATCHES = (32, 64)
Runner = Callable[[Tensor], object]


@dataclass(frozen=True)
class Timing:
    backend: str
    median_ms: float
    p25_ms: float
    p75_ms: float


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_call(run: Runner, x: Tensor) -> float:
    start = time.perf_counter()
    run(x)
    sync(x.device)
    return time.perf_counter() - start


def time_runners(runs: Sequence[Runner], x: Tensor, warmup: int,
                 repeats: int) -> list[list[float]]:
    """Seconds per call of each runner: `warmup` untimed calls each, then `repeats` rounds in
    which every runner in turn makes one untimed call, so the caches hold its weights again
    as they would in a deployment running it alone, and one timed call."""
    with torch.inference_mode():
        for run in runs:
            for _ in range(warmup):
                run(x)
        sync(x.device)
        times: list[list[float]] = [[] for _ in runs]
        for _ in range(repeats):
            for run, seconds in zip(runs, times):
                if len(runs) > 1:
                    run(x)
                    sync(x.device)
                seconds.append(_timed_call(run, x))
    return times


#: a sweep's ONNX exports by model: exporting takes seconds, and the batch dimension is free, so
#: every batch size, micro-batch size and run of one sweep reuses the model's first export
OnnxExports = dict[nn.Module, bytes]


def deploy_runners(model: nn.Module, x: Tensor, exports: OnnxExports | None = None
                   ) -> tuple[dict[str, Runner], dict[str, str]]:
    """The deploy candidates that build on this model, and why the others did not."""
    from torch.fx.experimental.optimization import fuse

    runners: dict[str, Runner] = {}
    failures: dict[str, str] = {}
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
            inductor_follows()
            runners["compile"] = torch.compile(fused, dynamic=False)
        except Exception as exc:
            failures["compile"] = f"{type(exc).__name__}: {exc}"
        try:
            runners["onnxruntime"] = _onnxruntime(model, x, exports)
        except Exception as exc:  # e.g. an operator the exporters cannot write
            failures["onnxruntime"] = f"{type(exc).__name__}: {exc}"
    return runners, failures


def _onnxruntime(model: nn.Module, x: Tensor, exports: OnnxExports | None = None) -> Runner:
    """The model exported to ONNX in memory (`formats.export`; taken from `exports` when it is
    there, and kept there) and run by ONNX Runtime, which folds BatchNorm and picks its kernels
    itself: the CPU execution provider, the CUDA one for a GPU tensor (onnxruntime-gpu)."""
    import copy

    from prunebench.export.formats import export, onnx_runner, onnx_session

    data = exports.get(model) if exports is not None else None
    if data is None:
        example = torch.randn(2, *x.shape[1:])  # batch 1 would be taken for a fixed size
        data = export(copy.deepcopy(model).cpu().eval(), example, "onnx").data
        if exports is not None:
            exports[model] = data
    run = onnx_runner(onnx_session(data, x.device), x.device)
    if x.device.type == "cuda":
        return run  # outputs stay on the GPU, as ONNX Runtime's values

    def on_cpu(inputs: Tensor) -> object:  # arrays as tensors, without a copy
        out = [torch.from_numpy(a) for a in cast(list, run(inputs))]
        return out[0] if len(out) == 1 else out
    return on_cpu


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


def _micro_batched(run: Runner, size: int) -> Runner:
    """`run` applied to consecutive slices of `size` inputs, outputs concatenated."""
    def chunked(x: Tensor) -> object:
        parts = [run(part) for part in x.split(size)]
        if all(isinstance(p, Tensor) for p in parts):
            return torch.cat(cast(list[Tensor], parts))
        return parts  # ONNX Runtime's arrays: the work is done, joining them is not timed
    return chunked


def _deploy_candidates(model: nn.Module, x: Tensor, exports: OnnxExports | None = None
                       ) -> tuple[dict[str, Runner], dict[str, str]]:
    """Every deploy backend on the whole batch and, where the batch splits into micro-batches,
    on micro-batches too."""
    runners, failures = deploy_runners(model, x, exports)
    batch = x.shape[0]
    for size in MICRO_BATCHES:
        if batch <= size or batch % size:
            continue
        small, small_failures = deploy_runners(model, x[:size], exports)
        for name, run in small.items():
            runners[f"{name} x{batch // size}/{size}"] = _micro_batched(run, size)
        failures.update({f"{k} (micro-batches of {size})": v for k, v in small_failures.items()})
    return runners, failures


def fastest(model: nn.Module, x: Tensor, runtime: str, warmup: int = 2,
            trials: int = 3, exports: OnnxExports | None = None) -> tuple[str, Runner]:
    """The runner `runtime` uses for `model` on inputs like `x`: the model itself in eager mode,
    the deploy candidate with the lowest median over `trials` calls otherwise."""
    if runtime == "eager":
        return "eager", model
    runners, failures = _deploy_candidates(model, x, exports)
    best: tuple[float, str, Runner] | None = None
    for name, run in runners.items():
        try:
            median = statistics.median(time_runners([run], x, warmup, trials)[0])
        except Exception as exc:  # e.g. no C++ compiler for inductor
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        if best is None or median < best[0]:
            best = (median, name, run)
    if best is None:
        raise RuntimeError("no deploy backend ran: " + "; ".join(f"{k}: {v}" for k, v in
                                                                 failures.items()))
    return best[1], best[2]


def compare(original: nn.Module, pruned: nn.Module, input_shape: Sequence[int], batch_size: int,
            runtime: str, device: torch.device, warmup: int = 3, repeats: int = 10,
            exports: OnnxExports | None = None) -> tuple[Timing, Timing]:
    """Latencies of both models at one batch size in one runtime, timed alternately."""
    x = torch.randn(batch_size, *input_shape, device=device)
    if runtime != "eager":
        x = x.to(memory_format=torch.channels_last)
    chosen = [fastest(model.to(device).eval(), x, runtime, exports=exports)
              for model in (original, pruned)]
    times = time_runners([run for _, run in chosen], x, warmup, repeats)
    before, after = (_timing(name, seconds) for (name, _), seconds in zip(chosen, times))
    return before, after


def speed_rows(original: nn.Module, pruned: nn.Module, macs: tuple[int, int],
               input_shape: Sequence[int], batch_sizes: Sequence[int], runtimes: Sequence[str],
               device: torch.device, repeats: int = 10, runs: int = 1,
               on_row: Callable[[], None] | None = None) -> list[dict]:
    """One row per runtime and batch size: latencies, throughputs, theoretical and real
    speed-up (original over pruned) and their ratio, the efficiency. With `runs` > 1 the pair
    is measured that many times, each with fresh runners: the row is the run of median real
    speed-up, and `speedup_runs` keeps every run's (one run can be far off). `on_row` is called
    after each row (a progress bar)."""
    theoretical = macs[0] / macs[1]
    rows = []
    exports: OnnxExports = {}  # each model exported to ONNX once for the whole sweep
    for runtime in runtimes:
        for bs in batch_sizes:
            try:
                pairs = [compare(original, pruned, input_shape, bs, runtime, device,
                                 repeats=repeats, exports=exports) for _ in range(runs)]
            except RuntimeError as exc:
                rows.append({"batch_size": bs, "runtime": runtime, "device": device.type,
                             "error": str(exc)})
                if on_row is not None:
                    on_row()
                continue
            reals = [before.median_ms / after.median_ms for before, after in pairs]
            middle = sorted(range(runs), key=lambda i: reals[i])[(runs - 1) // 2]
            before, after = pairs[middle]
            real = reals[middle]
            rows.append({
                "batch_size": bs, "runtime": runtime, "device": device.type,
                "backend_original": before.backend, "backend_pruned": after.backend,
                "original": asdict(before), "pruned": asdict(after),
                "throughput_original": 1000 * bs / before.median_ms,
                "throughput_pruned": 1000 * bs / after.median_ms,
                "speedup_theoretical": theoretical, "speedup_real": real,
                "efficiency": real / theoretical,
                **({"speedup_runs": reals} if runs > 1 else {}),
            })
            if on_row is not None:
                on_row()
    return rows
