"""The unpruned architecture against a target's: speed across batch sizes and runtimes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from prunebench.measure.architecture import architecture, model_size
from prunebench.measure.speed import speed_rows
from prunebench.protocol.config import Target
from prunebench.results.environment import environment
from prunebench.scenarios.base import Scenario


def speed_report(scenario: Scenario, target: Target, batch_sizes: Sequence[int],
                 runtimes: Sequence[str], device: torch.device, repeats: int = 10,
                 runs: int = 1, on_row: Callable[[], None] | None = None) -> dict:
    """Rows of `measure.speed.speed_rows` for the part of the model the row measures."""
    original, _ = architecture(scenario, None)
    pruned, widths = architecture(scenario, target)
    macs = (model_size(original, scenario, scenario.input_shape)["macs"],
            model_size(pruned, scenario, scenario.input_shape)["macs"])
    part = scenario.measure_root
    rows = speed_rows(original.get_submodule(part), pruned.get_submodule(part), macs,
                      scenario.input_shape, batch_sizes, runtimes, device, repeats, runs,
                      on_row)
    env = environment(device)
    for row in rows:
        row.update(scenario=scenario.name, target=target.name)
    return {"rows": rows, "widths": widths, "device": str(device),
            "hardware": f"{env['cpu']} ({env['cpu_capability']}), {env['cpu_count']} cores, "
                        f"torch threads {env['torch_threads']}, {env['gpu'] or 'no GPU'}"}


def layer_report(scenario: Scenario, target: Target, batch_size: int, device: torch.device,
                 repeats: int = 10) -> dict:
    """Rows of `measure.layers.layer_rows` for the part of the model the row measures, with the
    widths and the batch size (`layers`), as `speed_report` gives them."""
    from prunebench.measure.layers import layer_rows

    original, _ = architecture(scenario, None)
    pruned, widths = architecture(scenario, target)
    part = scenario.measure_root
    rows = layer_rows(original.get_submodule(part), pruned.get_submodule(part),
                      scenario.input_shape, batch_size, device, repeats)
    for row in rows:
        row.update(scenario=scenario.name, target=target.name)
    return {"rows": rows, "widths": widths, "device": str(device), "layers": batch_size}


def memory_report(scenario: Scenario, target: Target, batch_sizes: Sequence[int],
                  device: torch.device, on_row: Callable[[], None] | None = None
                  ) -> list[dict]:
    """Eq. 16 beside the measured peak, original and pruned, per batch size; `on_row` is
    called after each batch size (a progress bar)."""
    from prunebench.measure.memory import trm_bytes
    from prunebench.measure.peak import measured_peak

    original, full = architecture(scenario, None)
    pruned, widths = architecture(scenario, target)
    rows = []
    for bs in batch_sizes:
        row = {"scenario": scenario.name, "target": target.name, "batch_size": bs,
               "device": device.type}
        for label, model, w in (("original", original, None), ("pruned", pruned, widths)):
            row[f"trm_bytes_{label}"] = trm_bytes(model, scenario.input_shape, bs,
                                                  model.get_submodule(scenario.measure_root))
            peak = measured_peak(scenario.name, w, bs, device)
            row[f"measured_bytes_{label}"] = peak["peak_bytes"]
            row[f"process_bytes_{label}"] = peak["process_bytes"]
        rows.append(row)
        if on_row is not None:
            on_row()
    return rows
