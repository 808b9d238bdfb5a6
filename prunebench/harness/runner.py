"""Runs a matrix, identical for every criterion and kind of cell:

  for each seed: its baseline (cached, shared) -> for each cell: skip it if done, else hold its
  lock, run it in a worker process, write its record.

The runner never asks which criterion or kind of cell it runs. A cell's failure (its criterion
raised, answered nonsense, does not apply, exited, crashed or outlived its time limit) is that
cell's record; the matrix goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from prunebench.criterion import NotApplicable
from prunebench.data.base import Data
from prunebench.errors import CriterionError, PrunebenchError, TrainingDiverged
from prunebench.harness.baseline import Baseline, check_retrainable, check_same_weights
from prunebench.harness.cells.base import Cell, CellEnv, Matrix, discard_progress
from prunebench.harness.cells.reuse import forget
from prunebench.harness.matrix import build_matrix
from prunebench.harness.plan import RunOptions, RunPlan, utc_now
from prunebench.protocol.config import CellConfig
from prunebench.results.environment import environment
from prunebench.results.locks import exclusive, lock_path, remove_orphaned_temporaries
from prunebench.results.record import Criterion, Environment, Failure, Measured, Record
from prunebench.results.store import finished, read_results, result_path, write_result
from prunebench.runtime import distributed
from prunebench.runtime.determinism import use_deterministic_algorithms
from prunebench.runtime.threads import use_threads
from prunebench.runtime.worker import CellTimeout, Progress, run_contained, time_limit


class Reporter(Progress, Protocol):
    """Progress callbacks; the CLI draws them with rich, tests pass `Silent()`."""

    def start(self, total_cells: int, total_epochs: float) -> None: ...
    def cell_done(self, record: Record) -> None: ...
    def cell_skipped(self, cell: Cell, why: str) -> None: ...


class Silent:
    def start(self, total_cells: int, total_epochs: float) -> None: ...
    def phase(self, label: str, epochs: float) -> None: ...
    def epoch(self) -> None: ...
    def cell_done(self, record: Record) -> None: ...
    def cell_skipped(self, cell: Cell, why: str) -> None: ...


@dataclass
class Outcome:
    records: list[Record] = field(default_factory=list)  # cells run now
    paths: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # done before, or held by another process

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if r.status == "failed"]


@dataclass(frozen=True)
class _Run:
    """What every cell of one seed shares."""

    plan: RunPlan
    options: RunOptions
    data: Data
    env: dict
    baseline: Baseline
    reporter: Reporter


@dataclass(frozen=True)
class Prepared:
    """What holds before a run's first output, made once per process by `prepare`: the plan's
    data, loaded (missing, corrupt or unusable data refused in one line), its matrix, built once
    for the run, the `--jobs` parent's watch and `--dry-run` alike, and the baselines checked
    (`check_baselines_retrainable`)."""

    data: Data
    matrix: Matrix


def prepare(plan: RunPlan, options: RunOptions, *, baselines: bool = True) -> Prepared:
    """Load the data and check the baselines (`baselines=False`: a `--jobs` child, whose
    parent checked them before starting it). The data is loaded on one thread
    (`RunPlan.load_data`)."""
    data = plan.load_data()
    matrix = build_matrix(plan, options)
    if baselines:
        check_baselines_retrainable(matrix, options)
    return Prepared(data, matrix)


def run_matrix(plan: RunPlan, options: RunOptions | None = None,
               reporter: Reporter | None = None, prepared: Prepared | None = None) -> Outcome:
    """Run every cell of the plan this process takes; `prepared`: what the caller made before
    its first output, or None to make it here.

    Cells and baselines run in forked workers with the budget's thread count (worker.py)."""
    options = options or RunOptions()
    reporter = reporter or Silent()
    prepared = prepared or prepare(plan, options)
    if distributed.is_main():
        remove_orphaned_temporaries(options.results)
    contained = _contained(options)
    if options.device.type == "cpu":  # same seed, same numbers (CUDA would need more settings)
        use_deterministic_algorithms()
    matrix = prepared.matrix
    data = distributed.for_ranks(prepared.data)
    # in-process cells compute here; workers set the count themselves, and the parent, which
    # only reads checkpoints, stays on one thread
    use_threads(1 if contained else plan.budget.threads)
    env = environment(options.device)
    outcome = Outcome()
    reporter.start(sum(len(cells) for cells in matrix.cells.values()), matrix.total_epochs)
    seeds = list(matrix.cells)
    turn = options.job or options.shard  # process K of N starts at the K-th seed: processes
    if turn is not None:  # sharing a folder train different baselines at once, not wait
        first = (turn[0] - 1) % len(seeds)
        seeds = seeds[first:] + seeds[:first]
    for seed in seeds:
        todo = [c for c in matrix.cells[seed] if not _done(options, c, outcome, reporter)]
        if options.job is not None and options.job[0] % 2 == 0:
            # even jobs take a seed's cells from its end, so two cells one after the other
            # (l2, lamp: phases bit-identical at fixed widths) run in one job, the second
            # reusing the first's phases, not side by side in two jobs each training them
            todo.reverse()
        if not todo:
            continue
        reporter.phase(f"baseline, seed {seed}", matrix.baseline_epochs)
        if contained:  # trained (or waited for) in a worker; read here from its checkpoint
            answer = run_contained(partial(_trained, matrix, seed, data), reporter, None,
                                   plan.budget.threads)
            if isinstance(answer, str):
                raise PrunebenchError(f"the worker training the baseline of seed {seed} {answer}")
        base = matrix.baseline(seed, data, reporter.epoch)
        redone = {c.config.hash() for c in todo}  # under --force their records are replaced
        check_same_weights(base, (r for r in read_results(options.results)
                                  if r.config_hash not in redone), options.results,
                           Environment(**env).machine)
        run = _Run(plan, options, data, env, base, reporter)
        for cell in todo:
            _run_locked(run, cell, outcome)
        if all(result_path(options.results, c.config).exists() for c in matrix.cells[seed]):
            forget(options.results, plan.scenario.name, seed)  # its phases: no more use
    return outcome


def check_baselines_retrainable(matrix: Matrix, options: RunOptions) -> None:
    """Before any work (`prepare`): each seed with cells left to run must be able to start them
    from the weights its finished cells started from (`check_retrainable`). Only CPU runs: the
    CPU and its instruction set decide there."""
    if options.device.type != "cpu" or options.force or not options.results.is_dir():
        return
    env = environment(options.device)
    records = read_results(options.results)
    for cells in matrix.cells.values():
        hashes = {c.config.hash() for c in cells}
        made = [r for r in records if r.config_hash in hashes and r.done()]
        if len(made) < len(hashes):
            check_retrainable(made, options.results, Environment(**env).machine)


def _trained(matrix: Matrix, seed: int, data: Data, relay: Progress) -> dict:
    matrix.baseline(seed, data, relay.epoch)
    return {}


def _done(options: RunOptions, cell: Cell, outcome: Outcome, reporter: Reporter) -> bool:
    """Whether the cell's result is already there (same config hash) and need not run again."""
    if options.force:
        return False
    path = result_path(options.results, cell.config)
    if distributed.from_main(partial(finished, path)) is None:
        return False
    outcome.skipped.append(path)
    reporter.cell_skipped(cell, f"done before ({path.name})")
    return True


def _run_locked(run: _Run, cell: Cell, outcome: Outcome) -> None:
    """Run the cell once among all processes sharing the results folder: hold its lock, skip it
    if another process holds or has finished it, write its record. Under torchrun the ranks run
    it together and rank 0 takes the lock and writes the record."""
    results = run.options.results
    path = result_path(results, cell.config)
    lock = partial(exclusive, cell_lock_path(results, cell.config))
    with distributed.held_by_main(lock) as mine:
        if not mine:
            outcome.skipped.append(path)
            run.reporter.cell_skipped(cell, "another process is running it")
            return
        if _done(run.options, cell, outcome, run.reporter):
            return  # another process finished it while this one trained the baseline
        record = run_cell(run, cell)
        outcome.records.append(record)
        if distributed.is_main():
            outcome.paths.append(write_result(path, record))
        distributed.barrier()
    run.reporter.cell_done(record)


def cell_lock_path(results: Path, config: CellConfig) -> Path:
    """The lock a process holds while it runs the cell of `config` in `results`."""
    return lock_path(results, f"{config.scenario}--{result_path(results, config).stem}")


def run_cell(run: _Run, cell: Cell) -> Record:
    """The cell's record: its header, then what the cell measured or why it has nothing."""
    options, started = run.options, utc_now()
    env = CellEnv(run.plan.scenario, run.data, run.baseline, options.device,
                  result_path(options.results, cell.config).with_suffix(".pt"), run.reporter,
                  options.save_models and distributed.is_main())
    begun = time.perf_counter()
    answer: Measured | Failure | str
    if _contained(options):
        answer = run_contained(lambda relay: _measured(cell, replace(env, progress=relay)),
                               run.reporter, options.cell_timeout, cell.config.budget.threads)
    else:
        try:
            with time_limit(options.cell_timeout):
                answer = _measured(cell, env)
        except CellTimeout as exc:
            answer = str(exc)
    if isinstance(answer, str):  # the worker ended without an answer
        answer = Failure("failed", f"criterion '{cell.config.label}': the cell {answer}")
    if isinstance(answer, Failure) and distributed.is_main():
        discard_progress(env.files)
    ended = {"status": answer.status, "error": answer.error} if isinstance(answer, Failure) \
        else {"measured": answer}
    return replace(header(run, cell), **ended, started=started, finished=utc_now(),
                   cell_seconds=time.perf_counter() - begun)


def _contained(options: RunOptions) -> bool:
    """Cells run in worker processes except under torchrun (the ranks' collectives would not
    survive a fork) and on CUDA (a forked process cannot use the parent's CUDA context)."""
    return options.isolate and not distributed.active() and options.device.type == "cpu"


def _measured(cell: Cell, env: CellEnv) -> Measured | Failure:
    """What the cell measured, or why its criterion failed or does not apply."""
    try:
        return cell.run(env)
    except CriterionError as exc:
        return Failure("failed", str(exc))
    except NotApplicable as exc:
        return Failure("not-applicable", f"criterion '{cell.config.label}': {exc}")
    except TrainingDiverged as exc:  # its model cannot be measured; the matrix goes on
        return Failure("failed", f"criterion '{cell.config.label}': {exc}")
    except MemoryError:  # the worker's own: the matrix goes on
        return Failure("failed", f"criterion '{cell.config.label}': the cell ran out of memory "
                                 "(MemoryError)")


def header(run: _Run, cell: Cell) -> Record:
    """What a record says before the cell runs: what it is, what made it, where it started."""
    config, info, scenario = cell.config, cell.info, run.plan.scenario
    return Record(
        scenario=config.scenario, task=scenario.task.name, headline=scenario.task.headline,
        criterion=Criterion(config.criterion, dict(config.settings), info.distribution,
                            info.version, info.target),
        target=config.target, widths=tuple(config.widths), seed=config.seed,
        budget=config.budget, config_hash=config.hash(), data=run.data.source,
        device=str(run.options.device), command=run.options.command,
        environment=Environment(**{**run.env, "torch_threads": config.budget.threads}),
        role=config.role,
        baseline_checkpoint=str(run.baseline.path.relative_to(run.options.results)),
        baseline_digest=run.baseline.digest,
        ranks=distributed.world_size(), run_started=run.options.started,
        rerun=run.options.rerun, macs_reduction=config.macs_reduction, floor=config.floor)
