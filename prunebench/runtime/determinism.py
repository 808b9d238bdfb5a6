"""Deterministic kernels on the CPU without paying for the compiler at start-up.

`torch.use_deterministic_algorithms(True)` also imports `torch._inductor.config` to set the
compiler's own flag: about a second of every `prunebench run` (and of each of its `--jobs`), for
a compiler that only the speed measurement's `compile` runtime uses. The same two flags, the
compiler's set where it is about to compile (`inductor_follows`)."""

from __future__ import annotations

import sys

import torch


def use_deterministic_algorithms() -> None:
    """torch's kernel flag, as `torch.use_deterministic_algorithms(True, warn_only=True)`
    sets it, and the compiler's if the compiler is already loaded."""
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    if "torch._inductor.config" in sys.modules:
        inductor_follows()


def inductor_follows() -> None:
    """The compiler's flag as torch's function would have set it; call before torch.compile."""
    import torch._inductor.config as inductor_config

    inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
