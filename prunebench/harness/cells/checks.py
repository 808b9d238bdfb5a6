"""Every call into plugin code, guarded and its answer checked: whatever a criterion raises or
answers wrongly becomes a CriterionError that fails its own cell with a message naming it."""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from prunebench.criterion import ChannelGroup, Criterion, NotApplicable, PruneContext, check_keep
from prunebench.errors import CriterionError
from prunebench.runtime.threads import restore_thread_counts, thread_counts


def guard(name: str, what: str, call: Callable[..., Any], *args: Any) -> Any:
    """`call`'s answer; whatever it raises becomes the cell's named failure, and a thread count
    it changed (torch's, a BLAS's or OpenMP's) is set back, so a criterion's call changes no
    other computation's sums.

    A KeyboardInterrupt on the main thread may be the user's Ctrl-C and ends the run; in a
    worker the cell runs on another thread, where a signal never lands, so there it is the
    criterion's own. SystemExit is left to the worker, which reports the exit code."""
    threads = thread_counts()
    try:
        return call(*args)
    except (CriterionError, NotApplicable, SystemExit):
        raise
    except KeyboardInterrupt as exc:
        if threading.current_thread() is threading.main_thread():
            raise
        raise CriterionError(name, f"{what} raised KeyboardInterrupt: {exc}") from exc
    except BaseException as exc:  # plugin code may fail in any way
        raise CriterionError(name, f"{what} raised {type(exc).__name__}: {exc}") from exc
    finally:
        restore_thread_counts(threads)


def checked_penalty(name: str, criterion: Criterion, ctx: PruneContext) -> Tensor | None:
    value = guard(name, "penalty()", criterion.penalty, ctx)
    if value is not None and (not isinstance(value, Tensor) or value.numel() != 1
                              or not torch.isfinite(value).all()):
        raise CriterionError(name, f"penalty() must return a finite scalar Tensor or None, "
                                   f"got {value!r}")
    return value


def checked_sparsity_epochs(name: str, criterion: Criterion) -> float:
    """The sparsity epochs the criterion asks for now (its instance's, after `prepare`)."""
    epochs = getattr(criterion, "sparsity_epochs", 0.0)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) \
            or not math.isfinite(epochs) or epochs < 0:
        raise CriterionError(name, f"sparsity_epochs must be a finite number >= 0, got {epochs!r}")
    return float(epochs)


def checked_select(name: str, criterion: Criterion, group: ChannelGroup, n_keep: int) -> Tensor:
    answer = guard(name, f"select() on {group.name}", criterion.select, group, n_keep)
    try:
        return check_keep(answer, group, n_keep)
    except ValueError as exc:
        raise CriterionError(name, str(exc)) from None


def select_all(name: str, criterion: Criterion, groups: list[ChannelGroup],
               widths: tuple[int, ...]) -> dict[str, Tensor]:
    """The filters `criterion` keeps in each group, checked."""
    return {g.name: checked_select(name, criterion, g, n) for g, n in zip(groups, widths)}


def checked_state(name: str, criterion: Criterion) -> dict:
    """The criterion's `state()`, made of plain JSON values (a checkpoint loads no objects)."""
    state = guard(name, "state()", criterion.state)
    try:
        plain = json.loads(json.dumps(state))
    except (TypeError, ValueError):
        plain = None
    if not isinstance(plain, dict):
        raise CriterionError(name, f"state() must return a JSON-ready dict, got {state!r}")
    return plain


def checked_report(name: str, criterion: Criterion) -> dict:
    report = guard(name, "report()", criterion.report)
    try:
        return json.loads(json.dumps(report))
    except (TypeError, ValueError):
        raise CriterionError(name, f"report() must return a JSON-ready dict, got {report!r}") \
            from None


#: what a layer is besides its weights (nn.Conv2d's, nn.BatchNorm's, nn.Linear's settings)
LAYER_SETTINGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                  "groups", "padding_mode", "eps", "momentum", "affine",
                  "track_running_stats", "in_features", "out_features", "training")


def structure(model: nn.Module) -> dict[str, tuple]:
    """Each module by name: its class, its settings and how many hooks it carries (forward,
    forward pre, backward, the global ones counted on the root)."""
    shape = {}
    for path, module in model.named_modules():
        settings = tuple((k, repr(getattr(module, k))) for k in LAYER_SETTINGS
                         if k != "training" and hasattr(module, k))
        hooks = (len(module._forward_hooks), len(module._forward_pre_hooks),
                 len(module._backward_hooks), len(getattr(module, "_backward_pre_hooks", {})),
                 "forward" in vars(module))  # a forward patched onto the instance
        shape[path or "<root>"] = (type(module).__qualname__, settings, hooks,
                                   type(module).forward)
    return shape


@contextlib.contextmanager
def left_unchanged(name: str, what: str, model: nn.Module) -> Iterator[None]:
    """The block must leave the model's parameters and buffers as it found them: a criterion
    looks at the model in `prepare`; the sanctioned way to change weights is its sparsity epochs
    (`penalty`), which every reader of the board sees as its cost."""
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    shape = structure(model)
    yield
    now = structure(model)
    altered = [k for k, v in now.items() if shape.get(k) != v] + [k for k in shape if k not in now]
    if altered:
        raise CriterionError(name, f"{what} changed the model's structure at "
                                   f"{', '.join(sorted(set(altered))[:3])}: a criterion may not "
                                   "add hooks, replace modules or change a layer's settings")
    after = model.state_dict()
    changed = [k for k, v in before.items() if k not in after or not torch.equal(v, after[k])]
    changed += [k for k in after if k not in before]
    if changed:
        raise CriterionError(name, f"{what} changed the model's {', '.join(changed[:3])}"
                                   f"{' ...' if len(changed) > 3 else ''}; a criterion may "
                                   "change weights only through its sparsity epochs (penalty) "
                                   "or the weight its refit() returns")
