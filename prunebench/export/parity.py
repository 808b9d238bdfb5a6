"""Does an exported file compute what the pruned model computes? Both run on the same random
inputs at two batch sizes (neither the one the export was traced at, so a batch dimension that
was frozen shows); the largest absolute difference over all outputs, and that over the largest
output magnitude, the relative difference the tolerance bounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from prunebench.export.formats import Runner, outputs
from prunebench.protocol.defaults import PARITY_TOLERANCE

BATCH_SIZES = (1, 3)
#: the largest |exported - eager| over the largest |eager| a float32 export may differ by
TOLERANCE = PARITY_TOLERANCE


@dataclass(frozen=True)
class Parity:
    batch_sizes: tuple[int, ...]
    max_abs: float
    max_rel: float
    tolerance: float
    problem: str = ""  # outputs of another shape or count: no difference to measure

    @property
    def ok(self) -> bool:
        return not self.problem and self.max_rel <= self.tolerance

    @classmethod
    def from_json(cls, value: dict) -> Parity:
        return cls(tuple(value["batch_sizes"]), value["max_abs"], value["max_rel"],
                   value["tolerance"], value.get("problem", ""))

    def to_json(self) -> dict:
        return {**asdict(self), "batch_sizes": list(self.batch_sizes), "ok": self.ok}

    def text(self) -> str:
        if self.problem:
            return f"FAILED: {self.problem}"
        verdict = "ok" if self.ok else "FAILED"
        return (f"{verdict}: max |diff| {self.max_abs:.2e}, relative {self.max_rel:.2e} "
                f"(tolerance {self.tolerance:g}) at batch sizes "
                f"{', '.join(map(str, self.batch_sizes))}")


def check(model: nn.Module, exported: Runner, input_shape: Sequence[int],
          tolerance: float = TOLERANCE, batch_sizes: Sequence[int] = BATCH_SIZES,
          seed: int = 0) -> Parity:
    """`exported` against `model` (eval mode, CPU) on seeded standard-normal inputs."""
    generator = torch.Generator().manual_seed(seed)
    model = model.eval()
    largest_diff, largest_ref = 0.0, 0.0
    for bs in batch_sizes:
        x = torch.randn(bs, *input_shape, generator=generator)
        with torch.no_grad():
            want = outputs(model(x))
        got = exported(x)
        if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
            shapes = (lambda ts: ", ".join(str(tuple(t.shape)) for t in ts))
            return Parity(tuple(batch_sizes), float("inf"), float("inf"), tolerance,
                          f"at batch size {bs} the export gives outputs {shapes(got)}, the "
                          f"model {shapes(want)}")
        for g, w in zip(got, want):
            diff = (g.float() - w.float()).abs()
            if not bool(diff.isfinite().all()):  # NaN would pass every comparison unseen
                return Parity(tuple(batch_sizes), float("inf"), float("inf"), tolerance,
                              f"at batch size {bs} the export gives NaN or infinite outputs "
                              "where the model does not")
            largest_diff = max(largest_diff, float(diff.max()))
            largest_ref = max(largest_ref, float(w.float().abs().max()))
    relative = largest_diff / largest_ref if largest_ref > 0 else \
        (0.0 if largest_diff == 0 else float("inf"))
    return Parity(tuple(batch_sizes), largest_diff, relative, tolerance)
