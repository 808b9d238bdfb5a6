"""One thread count for every computation of a cell: torch's pool and the pools of the
libraries criteria call (numpy's and scipy's BLAS, scikit-learn's OpenMP), set through
threadpoolctl. A sum's order, and so its last bits, depends on the count, and the budget's
`threads` is part of the cell's hash; left alone, BLAS would take one thread per core of the
machine, so a k-means or a LASSO would depend on the machine, and two workers on two cores
would each run two BLAS threads that wait on each other (a k-means++ start five times slower,
docs/long-runs.md)."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


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
