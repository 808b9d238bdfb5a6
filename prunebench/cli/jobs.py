"""`prunebench run --jobs N`: the matrix as N local processes sharing one results folder.

Small models (LeNet-5) gain little from a second thread per batch but fully from a second process,
so N jobs each get cores/N threads. Every job walks the whole matrix, job K from the K-th seed on
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

from prunebench import plugins
from prunebench.cli.eta import MatrixClock
from prunebench.cli.run import progress_bars
from prunebench.errors import PrunebenchError
from prunebench.plan import RunPlan
from prunebench.schedule import cell_epochs, load_criteria, matrix_cells
from prunebench.store import finished, result_path

POLL_SECONDS = 2.0


def job_argv(argv: Sequence[str], k: int, n: int, plan: RunPlan) -> list[str]:
    """The job's command line: the user's, without --jobs, as job k of n."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--jobs":
            skip = True
        elif not arg.startswith("--jobs="):
            kept.append(arg)
    return [sys.executable, "-m", "prunebench", *kept, "--job-of", plan.command, plan.started,
            f"{k}/{n}"]


def run_jobs(plan: RunPlan, jobs: int, argv: Sequence[str]) -> int:
    """Run the jobs to their end; the worst exit code among them (0, 1 failed cells, 2 bad input)."""
    if jobs < 1:
        raise PrunebenchError(f"--jobs {jobs} must be a positive number of processes")
    if plan.shard is not None or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise PrunebenchError("--jobs makes its own shards; run it without --shard and torchrun")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "COLUMNS": "1000"}  # lines unbroken
    children = [subprocess.Popen(job_argv(argv, k, jobs, plan), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=env)
                for k in range(1, jobs + 1)]
    with progress_bars() as progress:
        relays = [threading.Thread(target=_relay, args=(child, f"job {k}/{jobs}", progress),
                                   daemon=True) for k, child in enumerate(children, 1)]
        for relay in relays:
            relay.start()
        _watch(plan, children, progress)
        for relay in relays:
            relay.join()
    return max(child.wait() for child in children)


def _relay(child: subprocess.Popen, name: str, progress) -> None:
    for line in child.stdout:
        progress.console.print(f"[dim]{name}[/] {escape(line.rstrip())}", highlight=False,
                               soft_wrap=True)


def _watch(plan: RunPlan, children: list[subprocess.Popen], progress) -> None:
    """The matrix bar: cells whose result files exist, and the time left at the pace so far."""
    loaded = load_criteria(plan.criteria, plugins.discover())  # a broken one's cells: no epochs
    epochs = {}
    for cells in matrix_cells(plan).values():
        for cell in cells:
            epochs[result_path(plan.results, cell)] = cell_epochs(plan.budget, loaded,
                                                                  cell.criterion)
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
