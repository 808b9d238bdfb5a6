"""Measured peak memory of one inference forward pass, to set beside eq. 16's estimate.

On a GPU: the CUDA allocator's peak (`torch.cuda.max_memory_allocated`) around the forward pass,
minus what was allocated before it, plus the parameters. On a CPU there is no allocator to ask,
so a fresh worker process (spawned, so no memory of ours leaks in) builds the model, notes its peak
resident set, runs the forward pass, and reports how far the peak rose; the parameters' bytes are
added, as eq. 16 counts them. The process's own baseline (Python, torch) is reported apart.
"""

from __future__ import annotations

import multiprocessing
import resource

import torch

from prunebench.config import Target


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _forward_peak(scenario_name: str, widths: list[int] | None, batch_size: int,
                  device: str) -> dict:
    from prunebench import scenarios
    from prunebench.measure.architecture import architecture
    from prunebench.measure.memory import parameter_bytes

    scenario = scenarios.get(scenario_name)
    target = Target("measured", widths=tuple(widths)) if widths is not None else None
    model, _ = architecture(scenario, target)
    part = model.get_submodule(scenario.measure_root).to(device)
    x = torch.randn(batch_size, *scenario.input_shape, device=device)
    params = parameter_bytes(model)
    with torch.inference_mode():
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            part(x)
            torch.cuda.synchronize()
            return {"peak_bytes": params + torch.cuda.max_memory_allocated() - before,
                    "process_bytes": None}
        before = _peak_rss_bytes()
        part(x)
        return {"peak_bytes": params + max(0, _peak_rss_bytes() - before),
                "process_bytes": _peak_rss_bytes()}


def _worker(queue, *args) -> None:
    try:
        queue.put(_forward_peak(*args))
    except Exception as exc:  # reported to the parent, which raises it there
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def measured_peak(scenario_name: str, widths: list[int] | None, batch_size: int,
                  device: torch.device) -> dict:
    """Peak bytes of a forward pass at `batch_size` (see the module docstring)."""
    if device.type == "cuda":
        return _forward_peak(scenario_name, widths, batch_size, "cuda")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_worker, args=(queue, scenario_name, widths, batch_size, "cpu"))
    worker.start()
    result = queue.get(timeout=600)
    worker.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result
