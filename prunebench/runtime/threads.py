"""One thread count for every computation of a cell: torch's pool and the pools of the
libraries criteria call (numpy's and scipy's BLAS, scikit-learn's OpenMP), set through
threadpoolctl. A sum's order, and so its last bits, depends on the count, and the budget's
`threads` is part of the cell's hash; left alone, BLAS would take one thread per core of the
machine, so a k-means or a LASSO would depend on the machine, and two workers on two cores
would each run two BLAS threads that wait on each other (a k-means++ start five times slower,
docs/long-runs.md)."""

from __future__ import annotations

from functools import cache

import torch
from threadpoolctl import ThreadpoolController, threadpool_limits

#: torch's thread count, then each pool's (`thread_counts`)
Counts = tuple[int, tuple[int, ...]]


def use_threads(count: int) -> None:
    """Compute on `count` threads from now on, in torch and every BLAS and OpenMP pool. OpenMP
    keeps a count per thread: call it on the thread that computes. OpenBLAS takes a count set
    on the process's main thread only (checked with OpenBLAS 0.3.31): a worker whose cell runs
    on another thread calls `use_blas_threads` on its main thread first."""
    torch.set_num_threads(count)
    threadpool_limits(limits=count)


def use_blas_threads(count: int) -> None:
    """BLAS computes on `count` threads, whichever thread calls it (call it on the main one)."""
    threadpool_limits(limits=count, user_api="blas")


@cache
def _pools() -> ThreadpoolController:
    """The BLAS and OpenMP pools loaded when first asked (finding them takes milliseconds; a
    count is read in microseconds, so a criterion's every call can be checked)."""
    return ThreadpoolController()


def thread_counts() -> Counts:
    """torch's thread count and each known pool's, to set back with `restore_thread_counts`."""
    return torch.get_num_threads(), tuple(lib.num_threads for lib in _pools().lib_controllers)


def restore_thread_counts(counts: Counts) -> None:
    """Set back every count that changed since `thread_counts` read `counts`: a plugin that
    set torch's or a BLAS's thread count changes no other computation's sums. Call it on the
    thread that read them (OpenMP keeps a count per thread)."""
    torch_count, pools = counts
    if torch.get_num_threads() != torch_count:
        torch.set_num_threads(torch_count)
    for lib, count in zip(_pools().lib_controllers, pools):
        if lib.num_threads != count:
            lib.set_num_threads(count)
