"""Measured peak memory of one inference forward pass, to set beside eq. 16's estimate.

On a GPU: the CUDA allocator's peak (`torch.cuda.max_memory_allocated`) around the forward pass,
minus what was allocated before it, plus the parameters. On a CPU there is no allocator to ask,
so a fresh worker process (spawned, so no memory of ours leaks in) builds the model, hands freed
heap back to the system (glibc's malloc_trim), notes its resident set, resets the kernel's peak
mark (writing 5 to /proc/self/clear_refs), runs the forward pass and reads the peak (VmHWM): the
rise is what the forward pass needed. The parameters' bytes are added, as eq. 16 counts them; the
process's whole peak (Python and torch included) is reported apart.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import resource

import torch

from prunebench.protocol.config import Target


def _status_bytes(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _settle_and_reset_peak() -> int:
    """Resident bytes now, with freed heap returned and the peak mark reset to it."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: freed memory may stay resident and hide part of the rise
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_bytes("VmRSS")


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
        before = _settle_and_reset_peak()
        part(x)
        return {"peak_bytes": params + max(0, _status_bytes("VmHWM") - before),
                "process_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


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
