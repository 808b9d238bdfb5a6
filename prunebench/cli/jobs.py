"""`prunebench run --jobs N`: the matrix as N local processes sharing one results folder.

Small models (LeNet-5) gain little from a second thread per batch but fully from a second process.
Each job computes with the budget's thread count (`--threads`), as a plain run does, so a cell
gives the same numbers however it was scheduled. Every job walks the whole matrix, job K from the
K-th seed on
(so the jobs train different baselines at once), and takes each cell whose lock is free: a job
that is done early helps with what is left instead of idling, as fixed shards would. Every result
records the parent's command. The parent relays the jobs' lines and draws the matrix's progress
from the result files they write.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from rich.markup import escape

from prunebench.cli.eta import MatrixClock
from prunebench.cli.progress import progress_bars
from prunebench.errors import PrunebenchError
from prunebench.harness.matrix import Matrix
from prunebench.harness.plan import RunOptions
from prunebench.results.store import finished, result_path
from prunebench.runtime.worker import dying_with

POLL_SECONDS = 2.0


def job_argv(argv: Sequence[str], k: int, n: int, options: RunOptions) -> list[str]:
    """The job's command line: the user's, without --jobs, as job k of n."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--jobs":
            skip = True
        elif not arg.startswith("--jobs="):
            kept.append(arg)
    return [sys.executable, "-c", JOB_ENTRY, *kept, "--job-of", options.command,
            options.started, f"{k}/{n}"]


#: a job's entry: the installed prunebench, never a folder of that name in the current
#: directory (`python -m` would put the directory first on the import path)
JOB_ENTRY = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
             "from prunebench.cli import main; sys.exit(main())")


def run_jobs(matrix: Matrix, options: RunOptions, jobs: int, argv: Sequence[str]) -> int:
    """Run the jobs to their end, watching `matrix` (the parent's, from `prepare`) fill; the
    worst exit code among them (0, 1 failed cells, 2 bad input)."""
    if options.shard is not None or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise PrunebenchError("--jobs makes its own shards; run it without --shard and torchrun")
    env = {**os.environ, "COLUMNS": "1000"}  # lines unbroken
    children = [subprocess.Popen(job_argv(argv, k, jobs, options), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=env,
                                 preexec_fn=dying_with(os.getpid()))  # kill -9 of us ends them
                for k in range(1, jobs + 1)]
    with progress_bars() as progress:
        relays = [threading.Thread(target=_relay, args=(child, f"job {k}/{jobs}", progress),
                                   daemon=True) for k, child in enumerate(children, 1)]
        for relay in relays:
            relay.start()
        _watch(matrix, options, children, progress)
        for relay in relays:
            relay.join()
    return max(child.wait() for child in children)


def _relay(child: subprocess.Popen, name: str, progress) -> None:
    assert child.stdout is not None  # opened with stdout=PIPE
    for line in child.stdout:
        progress.console.print(f"[dim]{name}[/] {escape(line.rstrip())}", highlight=False,
                               soft_wrap=True)


def _watch(matrix: Matrix, options: RunOptions, children: list[subprocess.Popen],
           progress) -> None:
    """The matrix bar: cells whose result files exist, and the time left at the pace so far."""
    epochs = {result_path(options.results, cell.config): cell.epochs()
              for cells in matrix.cells.values() for cell in cells}
    clock = MatrixClock()
    clock.start(sum(epochs.values()))
    waiting = dict(epochs)
    for path in [p for p in waiting if finished(p) is not None]:  # done by an earlier run
        clock.drop(waiting.pop(path))
    task = progress.add_task("matrix", total=len(epochs), completed=len(epochs) - len(waiting),
                             left=clock.text())
    while any(child.poll() is None for child in children):
        time.sleep(POLL_SECONDS)
        for path in [p for p in waiting if p.exists()]:
            clock.advance(waiting.pop(path))
            progress.advance(task)
        progress.update(task, left=clock.text())
