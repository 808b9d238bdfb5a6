"""Each cell in a worker process the harness can wait on and kill.

Plugin code may exit (`sys.exit`, `os._exit`), crash (a segfault in an extension), hang, catch
every exception around its work, or use all memory. In a forked worker none of that reaches the
matrix: the worker sends progress events and finally its record through a pipe; the parent relays
the events, kills the worker at the cell's time limit, and turns a worker that ended without a
record into that cell's failure with the reason (exit code, signal, time limit).

A fork shares the parent's loaded data and baseline weights copy-on-write, so a worker costs
milliseconds, and the cell computes exactly what it would have in the parent. The worker dies
with its parent (PR_SET_PDEATHSIG), so `kill -9` of a run leaves no cell running on.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from prunebench.errors import PrunebenchError
from prunebench.runtime.threads import use_blas_threads, use_threads

#: what a worker's message means: its record, progress, or how it ended
T = TypeVar("T")
RECORD, PHASE, EPOCH, RAISED, EXITED = "record", "phase", "epoch", "raised", "exited"


class CellTimeout(Exception):
    """Raised (in-process cells) or reported (workers) when a cell outlives its time limit."""


class Relay:
    """A worker's progress callbacks, sent to the parent that draws them."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def phase(self, label: str, epochs: float) -> None:
        self.conn.send((PHASE, label, epochs))

    def epoch(self) -> None:
        self.conn.send((EPOCH,))


class Progress(Protocol):
    """What a cell reports while it runs (the runner's reporter, or a worker's relay)."""

    def phase(self, label: str, epochs: float) -> None: ...
    def epoch(self) -> None: ...


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies; elsewhere nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _child(conn, work: Callable[[Relay], object], threads: int, parent: int) -> None:
    """The worker: the cell runs on a fresh thread. A forked process's main thread inherits its
    parent's GNU OpenMP pool without the pool's threads, and hangs the first time it asks for
    several; a new thread starts a pool of its own."""
    _die_with_parent(parent)
    with contextlib.suppress(OSError):  # its own process group, ended with the cell (below)
        os.setpgid(0, 0)
    use_blas_threads(threads)  # here, on the main thread, or OpenBLAS ignores it
    runner = threading.Thread(target=_work, args=(conn, work, threads), daemon=True)
    runner.start()
    runner.join()


def _work(conn, work: Callable[[Relay], object], threads: int) -> None:
    use_threads(threads)
    try:
        record = work(Relay(conn))
    except SystemExit as exc:
        conn.send((EXITED, exc.code))
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException as exc:  # the harness's own error: the parent raises it
        conn.send((RAISED, exc if isinstance(exc, PrunebenchError) else
                   RuntimeError(f"{type(exc).__name__} in a cell's worker: {exc}")))
        os._exit(1)
    conn.send((RECORD, record))
    conn.close()


def _why(code: int | None, exited: object) -> str:
    if exited is not None:
        return f"called sys.exit({exited!r})"
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory, or killed from outside)" if -code == signal.SIGKILL else ""
        return f"was killed by signal {name}{hint}"
    return f"exited with code {code} without a result (os._exit?)"


def run_contained(work: Callable[[Relay], T], progress: Progress, timeout: float | None,
                  threads: int) -> T | str:
    """What `work` returns, computed in a forked worker; or, when the worker ended without an
    answer, a str saying why (one sentence: "... took longer than ...", "was killed by signal
    SIGSEGV", ...)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(target=_child, args=(send, work, threads, os.getpid()))
    worker.start()
    send.close()  # the worker holds the only writing end: its death is an end of file here
    deadline = None if timeout is None else time.monotonic() + timeout
    exited: object = None
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not receive.poll(left):
                return f"took longer than its time limit of {timeout:g} s"
            try:
                message = receive.recv()
            except EOFError:
                break
            kind = message[0]
            if kind == RECORD:
                return message[1]
            if kind == PHASE:
                progress.phase(*message[1:])
            elif kind == EPOCH:
                progress.epoch()
            elif kind == RAISED:
                raise message[1]
            elif kind == EXITED:
                exited = message[1]
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        receive.close()
        end_group(worker.pid)
    return _why(worker.exitcode, exited)


def end_group(leader: int | None) -> None:
    """Kill what is left of a finished worker's process group: processes a criterion started
    do not outlive its cell."""
    if leader is not None:
        with contextlib.suppress(OSError):  # no such group: the worker made none, or it is gone
            os.killpg(leader, signal.SIGKILL)


def dying_with(parent: int) -> Callable[[], None]:
    """A `preexec_fn` for a child process that must not outlive `parent` (kill -9 included)."""
    return lambda: _die_with_parent(parent)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """In-process cells (torchrun, CUDA): interrupt the block after `seconds` with a SIGALRM
    timer (main thread only). A worker is stopped by `run_contained` instead."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise CellTimeout(f"took longer than its time limit of {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
