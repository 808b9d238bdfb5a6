"""What a run computes (`RunPlan`) and how it is carried out (`RunOptions`), as typed values: a
notebook builds them without command-line strings (`cli/options.py` parses those).

Everything in a `RunPlan` and the device and threads of its budget decide the numbers; the
options decide only where results go, which cells this process takes and how long one may run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from prunebench.data.base import Data
from prunebench.errors import PrunebenchError
from prunebench.protocol.config import (
    CONTROL,
    CONTROLS,
    CRITERION,
    UNIFORM,
    Budget,
    CriterionSpec,
    Target,
)
from prunebench.protocol.defaults import DEFAULT_RESULTS
from prunebench.results.record import Record
from prunebench.scenarios.base import Scenario


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


#: what a record's data says after the files it names, when they were not the published ones
UNKNOWN_DATA = " (unknown files, --allow-unknown-data)"


@dataclass(frozen=True)
class RunPlan:
    """A matrix: criteria (with their settings) x targets x seeds on one scenario and budget,
    plus the control rows `controls` (config.CONTROLS): `unpruned-ft` once per seed, `scratch-e`
    and `scratch-b` per target and seed, `uniform` per global target and seed (`scratch`, the
    old name of `scratch-e`, only to rerun an old record as it was)."""

    scenario: Scenario
    criteria: tuple[CriterionSpec, ...]
    targets: tuple[Target, ...]
    seeds: tuple[int, ...]
    budget: Budget
    controls: tuple[str, ...] = CONTROLS
    data_root: Path | None = None
    download: bool = False
    backbone_from: Path | None = None  # results of the row a transfer row builds on
    #: train on files that are not the data set's published ones (`--allow-unknown-data`);
    #: the record's data names them so
    allow_unknown_data: bool = False

    def __post_init__(self) -> None:  # plain names are criteria with default settings
        object.__setattr__(self, "criteria", tuple(
            CriterionSpec(c) if isinstance(c, str) else c for c in self.criteria))

    @property
    def target(self) -> Target:
        """The first target: the one of rows that take a single target (transfer)."""
        return self.targets[0]

    def load_data(self) -> Data:
        """The row's data, at the budget's image size and limited to its sample counts; empty
        or unusable data is refused here, before any work. It is loaded on one thread whatever
        the budget's count (a resize's sums, and so their last bits, depend on it), and the
        caller's count is restored."""
        budget, threads = self.budget, torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            loaded = plugin_call(self.scenario, "its data loader", self.scenario.load_data,
                                 self.data_root, self.download, budget.image_size)
            if not callable(getattr(loaded, "limited", None)):
                raise PrunebenchError(f"{named(self.scenario)}: its data loader returned "
                                      f"{type(loaded).__name__}, not a data set; fix the plugin")
            data = loaded.limited(budget.train_limit, budget.test_limit)
            return check_data(self.known(data), self.scenario, budget)
        finally:
            torch.set_num_threads(threads)


    def known(self, data: Data) -> Data:
        """The data if its files are the published ones; other files only with
        `allow_unknown_data`, and then its source says so in every record."""
        unknown = getattr(data, "unknown", None)
        if not unknown:
            return data
        if not self.allow_unknown_data:
            raise PrunebenchError(f"{self.scenario.name}: {unknown}; point --data-root at the "
                                  "published files, or add --allow-unknown-data to train on "
                                  "these anyway (the results will say so)")
        return replace(data, source=data.source + UNKNOWN_DATA)  # type: ignore[type-var]


def check_data(data: Data, scenario: Scenario, budget: Budget) -> Data:
    """Refuse data a run cannot learn from or be measured on, naming what is wrong."""
    has_test = next(iter(data.test_batches(1, torch.device("cpu"))), None) is not None
    if data.n_train < 1 or not has_test:
        raise PrunebenchError(f"the {scenario.name} data in {data.source} has {data.n_train} "
                              f"training samples and {'some' if has_test else 'no'} test "
                              "samples; a run needs both (check --data-root)")
    model = plugin_call(scenario, "building its model", scenario.model, budget).eval()
    probe = torch.zeros(1, *data.input_shape)
    try:
        with torch.no_grad():
            model.get_submodule(scenario.prune_root)(probe)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a plugin's model may fail in any way
        raise PrunebenchError(f"{scenario.name}'s model cannot take the data's samples of shape "
                              f"{tuple(data.input_shape)} from {data.source} "
                              f"({type(exc).__name__}: {first_line(exc)})") from None
    return data


def named(scenario: Scenario) -> str:
    return f"scenario '{scenario.name}' from {scenario.source or 'unknown'}"


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


def plugin_call(scenario: Scenario, what: str, call, *args):
    """A call into a scenario's code: whatever it raises becomes one line naming the scenario
    and its plugin (prunebench's own errors pass as they are)."""
    try:
        return call(*args)
    except (PrunebenchError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # a plugin may fail in any way, sys.exit() included
        raise PrunebenchError(f"{named(scenario)}: {what} raised {type(exc).__name__}: "
                              f"{first_line(exc)}; fix the plugin, or check --data-root") \
            from None


def plan_of_record(record: Record, data_root: Path | None = None, download: bool = False,
                   backbone_from: Path | None = None) -> RunPlan:
    """The one-cell plan that computes a result's cell again, exactly as recorded: its scenario,
    criterion and settings (or the control row), target widths, seed and whole budget, thread
    count included."""
    from prunebench import scenarios
    role = record.role
    controls = (record.criterion.name,) if role.kind == CONTROL else \
        (UNIFORM,) if role.kind == UNIFORM else ()
    return RunPlan(scenarios.get(record.scenario),
                   (record.criterion.spec,) if role.kind == CRITERION else (),
                   (Target(record.target, widths=record.widths or None,
                           macs_reduction=record.macs_reduction),), (record.seed,), record.budget,
                   controls=controls, data_root=data_root, download=download,
                   backbone_from=backbone_from,
                   allow_unknown_data=record.data.endswith(UNKNOWN_DATA))


@dataclass(frozen=True)
class RunOptions:
    """How a plan runs: none of these changes a number."""

    results: Path = DEFAULT_RESULTS
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    force: bool = False  # rerun cells whose result already exists
    cell_timeout: float | None = None  # seconds before a cell is stopped and marked failed
    shard: tuple[int, int] | None = None  # (K, N): run only the K-th of N slices of the matrix
    job: tuple[int, int] | None = None  # (K, N): job K of `--jobs N`, which starts at seed K
    save_models: bool = False  # write each cell's pruned model beside its result
    isolate: bool = True  # each cell in a worker process (see worker.py)
    command: str = "prunebench run"  # recorded in every result
    rerun: str | None = None  # `prunebench rerun FILE`, recorded beside the original command
    started: str = ""  # when the run began (UTC, ISO 8601), for the board's wall time

    def __post_init__(self) -> None:
        timeout = self.cell_timeout
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise PrunebenchError(f"--cell-timeout {timeout:g} must be a positive number of "
                                  "seconds")
        if not self.started:
            object.__setattr__(self, "started", utc_now())
