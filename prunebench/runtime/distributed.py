"""One cell across several processes under `torchrun`: DistributedDataParallel training, data
split by rank, statistics reduced across ranks, and files touched by rank 0 alone.

Launched plainly (no WORLD_SIZE in the environment, or WORLD_SIZE=1) every helper here is a no-op,
so the harness has one code path. Under torchrun every rank runs the same control flow; decisions
that read the results folder (is this cell done, who holds this lock, what does this checkpoint
hold) are taken by rank 0 and broadcast, so ranks cannot disagree and deadlock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
from torch import Tensor, nn

from prunebench.criterion import Batch

T = TypeVar("T")


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (NCCL on GPU, Gloo on CPU) and return this
    rank's device; without torchrun, `device` unchanged."""
    if active():  # already joined
        return _local_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return _local_device(device)


def _local_device(device: torch.device) -> torch.device:
    if device.type != "cuda":
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def stop() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def from_main(compute: Callable[[], T]) -> T:
    """`compute()` run on rank 0 and its (picklable) value handed to every rank. An exception on
    rank 0 is raised on every rank."""
    if not active():
        return compute()
    box: list[Any] = [None]
    if is_main():
        try:
            box[0] = ("ok", compute())
        except Exception as exc:  # the other ranks must not wait for a value that never comes
            box[0] = ("error", exc)
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def check_same(what: str, value: object) -> None:
    """Raise if the ranks hold different `value`s (a picklable summary of what they computed)."""
    values = all_items([value])
    if any(v != values[0] for v in values[1:]):
        raise RuntimeError(f"the {len(values)} ranks disagree on {what}: {values}")


@contextlib.contextmanager
def held_by_main(lock: Callable[[], contextlib.AbstractContextManager[bool]]) -> Iterator[bool]:
    """The lock `lock()` opens, taken by rank 0 alone for all ranks: every rank gets whether it
    was taken; rank 0 releases it when the block ends."""
    if not active():
        with lock() as mine:
            yield mine
        return
    with (lock() if is_main() else contextlib.nullcontext(False)) as mine:
        yield from_main(lambda: mine)


def _reduce_device(value: Tensor) -> torch.device:
    return value.device if dist.get_backend() == "nccl" else torch.device("cpu")


def all_sum(value: Tensor) -> Tensor:
    """The sum of `value` over ranks (a copy; `value` itself is unchanged)."""
    if not active():
        return value
    total = value.detach().to(_reduce_device(value)).clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(value.device)


def all_items(items: list) -> list:
    """Every rank's `items`, concatenated in rank order."""
    if not active():
        return items
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """The module a training step calls: DDP around `model` (gradients averaged over ranks,
    BatchNorm buffers from rank 0), or `model` itself."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


S = TypeVar("S", list, Tensor)


def share(items: S) -> S:
    """This rank's part (every world_size-th element from its rank on) of a sequence every rank
    holds alike; one with fewer elements than ranks goes whole to every rank."""
    if not active() or len(items) < world_size():
        return items
    return cast(S, items[rank()::world_size()])


def share_batch(batch: Batch) -> Batch:
    """This rank's samples of a batch every rank drew alike (see `share`)."""
    inputs, targets = batch
    return share(inputs), share(targets)


def chunks(items: list, size: int) -> list[list]:
    """`items` cut into consecutive lists of `size` (the last may be shorter)."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def rank_batches(order: list, batch_size: int) -> list[list]:
    """`order` cut into batches of `batch_size`, each cut to this rank's share: for loaders that
    read only the samples this rank trains on."""
    return [share(batch) for batch in chunks(order, batch_size)]


def rank_test_batches(order: list, batch_size: int) -> list[list]:
    """`order` cut into batches of `batch_size`, every world_size-th of them from this rank's
    on: the test batches this rank evaluates."""
    return chunks(order, batch_size)[rank()::world_size()]


def share_weight(samples: int) -> float:
    """What this rank's mean loss over `samples` is weighted by so that DDP's average of the
    ranks' gradients is the gradient of the mean loss over all their samples."""
    if not active():
        return 1.0
    total = int(all_sum(torch.tensor(samples, dtype=torch.float64)))
    return samples * world_size() / total


@dataclass(frozen=True)
class RankShare:
    """A data set as one rank sees it: the same training batches, in the same order as every
    rank, cut to this rank's share; every world_size-th test batch. A data set with
    `reads_rank_share` reads only those itself; the others are read whole and cut here. Sizes
    are the whole set's, so every rank runs the steps a single process would."""

    data: Any

    def __getattr__(self, name: str):
        return getattr(self.data, name)

    def limited(self, train_limit: int | None, test_limit: int | None) -> RankShare:
        return RankShare(self.data.limited(train_limit, test_limit))

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      device: torch.device) -> Iterator[Batch]:
        batches = self.data.train_batches(batch_size, generator, device)
        if getattr(self.data, "reads_rank_share", False):  # it loads only this rank's samples
            yield from batches
            return
        for batch in batches:
            yield share_batch(batch)

    def test_batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]:
        batches = self.data.test_batches(batch_size, device)
        if getattr(self.data, "reads_rank_share", False):
            yield from batches
            return
        for index, batch in enumerate(batches):
            if index % world_size() == rank():
                yield batch


def for_ranks(data):
    """`data` as this rank should see it."""
    return RankShare(data) if active() else data
