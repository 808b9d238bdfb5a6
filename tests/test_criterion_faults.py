"""A criterion's faults beyond exceptions (issue 39, item 5): BaseExceptions become its cell's
named failure, a thread count it changes is set back before the harness computes again, and a
process it starts does not outlive its cell."""

import os
import time
from dataclasses import replace

import pytest

from prunebench.cli.options import make_options, make_plan
from prunebench.harness.runner import run_matrix

SOURCE = '''
import os
import subprocess
import sys

import torch
from threadpoolctl import threadpool_info, threadpool_limits
from prunebench.criterion import Criterion, ScoreCriterion


class Interrupts(Criterion):
    def select(self, group, n_keep):
        raise KeyboardInterrupt("from the criterion")


class Bail(BaseException):
    pass


class RaisesBase(Criterion):
    def select(self, group, n_keep):
        raise Bail("not an Exception")


class L1Threads(ScoreCriterion):
    """l1, but it asks for two threads in prepare(), torch's and OpenMP's (which keeps a count
    per thread, so it holds on the thread that computes the cell), and notes what its next call
    finds."""

    def prepare(self, ctx):
        torch.set_num_threads(2)
        threadpool_limits(limits=2, user_api="openmp")

    def score(self, group):
        self.threads = torch.get_num_threads()
        self.openmp = sorted({lib["num_threads"] for lib in threadpool_info()
                              if lib["user_api"] == "openmp"})
        return group.conv.weight.detach().abs().flatten(1).sum(1)

    def report(self):
        return {"threads_in_score": self.threads, "openmp_threads_in_score": self.openmp}


class Uniterable(Criterion):
    def select(self, group, n_keep):
        return object()


class Hooks(ScoreCriterion):
    def prepare(self, ctx):
        ctx.groups[0].conv.register_forward_hook(lambda m, i, o: o * 0)

    def score(self, group):
        return torch.ones(group.n_filters)


class Swaps(ScoreCriterion):
    def prepare(self, ctx):
        ctx.model.relu1 = torch.nn.Tanh()

    def score(self, group):
        return torch.ones(group.n_filters)


class Strides(ScoreCriterion):
    def prepare(self, ctx):
        ctx.groups[1].conv.stride = (2, 2)

    def score(self, group):
        return torch.ones(group.n_filters)


class Spawns(ScoreCriterion):
    def prepare(self, ctx):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(os.environ["SPAWNED_PID_FILE"], "w") as f:
            f.write(str(child.pid))

    def score(self, group):
        return torch.ones(group.n_filters)
'''

ENTRIES = {"interrupts": "fault_criteria:Interrupts", "raises-base": "fault_criteria:RaisesBase",
           "l1-threads": "fault_criteria:L1Threads", "spawns": "fault_criteria:Spawns",
           "hooks": "fault_criteria:Hooks", "swaps": "fault_criteria:Swaps",
           "strides": "fault_criteria:Strides", "uniterable": "fault_criteria:Uniterable"}


@pytest.fixture
def outcome(tmp_path, install_dist, monkeypatch):
    install_dist("fault-criteria", ENTRIES, {"fault_criteria": SOURCE})
    monkeypatch.setenv("SPAWNED_PID_FILE", str(tmp_path / "spawned.pid"))
    plan = make_plan(criteria="l1," + ",".join(ENTRIES), budget="smoke", seeds="0",
                     controls="none")
    options = make_options(results=tmp_path / "results", argv=["run"])
    return {r.criterion.name: r for r in run_matrix(plan, options).records}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_base_exceptions_fail_their_own_cell_with_a_name(outcome):
    assert outcome["l1"].ok
    assert outcome["interrupts"].status == "failed"
    assert "select() on conv1 raised KeyboardInterrupt: from the criterion" in \
        outcome["interrupts"].error
    assert "select() on conv1 raised Bail: not an Exception" in outcome["raises-base"].error
    assert "select() on conv1 returned object, not indices" in outcome["uniterable"].error


@pytest.mark.parametrize(("name", "where"), [("hooks", "conv1"), ("swaps", "relu1"),
                                             ("strides", "conv2")])
def test_prepare_may_not_change_the_models_structure(outcome, name, where):
    assert outcome[name].status == "failed"
    assert f"prepare() changed the model's structure at {where}: a criterion may not add " \
        "hooks, replace modules or change a layer's settings" in outcome[name].error


def test_a_thread_count_the_criterion_changes_is_set_back(outcome):
    """The smoke budget's one thread, torch's and OpenMP's, not the criterion's two, by its very
    next call (and so
    for the fine-tuning after it); its numbers are l1's. Its fine-tuning phases are l1's own
    (exact reuse), whose key holds the thread count: a count left at two would train anew."""
    l1, threads = outcome["l1"].measured, outcome["l1-threads"].measured
    assert threads.criterion_report == {"threads_in_score": 1, "openmp_threads_in_score": [1]}
    assert threads.pruned == l1.pruned
    assert [replace(s, reused_from=None) for s in threads.history] == list(l1.history)
    assert all((s.reused_from or "").startswith("l1, seed 0") for s in threads.history)


def test_a_process_the_criterion_starts_ends_with_its_cell(outcome, tmp_path):
    assert outcome["spawns"].ok
    pid = int((tmp_path / "spawned.pid").read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


STATEFUL = '''
import torch
from prunebench.criterion import ScoreCriterion

RESTORED = []
STOP_AT_STEP_2 = [True]


class Counts(ScoreCriterion):
    """l1 that counts its steps in state(); it is interrupted once, at step 2's prepare."""

    def __init__(self):
        self.seen = 0

    def prepare(self, ctx):
        self.seen += 1
        if self.seen == 2 and STOP_AT_STEP_2[0]:
            STOP_AT_STEP_2[0] = False
            raise KeyboardInterrupt("the user stops the run")

    def state(self):
        return {"seen": self.seen}

    def restore(self, state):
        RESTORED.append(state)
        self.seen = state["seen"]

    def score(self, group):
        return group.conv.weight.detach().abs().flatten(1).sum(1)
'''


def test_a_resumed_cell_gives_the_criterion_back_its_state(tmp_path, install_dist):
    """Stopped at step 2 (a Ctrl-C on the main thread ends the run), then run again: the
    criterion is restored with the state it had after step 1, and the cell finishes."""
    from dataclasses import replace

    install_dist("stateful", {"counts": "stateful:Counts"}, {"stateful": STATEFUL})
    import stateful

    plan = make_plan(criteria="counts", budget="smoke", seeds="0", controls="none")
    plan = replace(plan, budget=replace(plan.budget, steps=2))
    options = make_options(results=tmp_path / "results", isolate=False, argv=["run"])
    with pytest.raises(KeyboardInterrupt):
        run_matrix(plan, options)
    assert list((tmp_path / "results" / "lenet5-digits").glob("counts--*.step.pt"))
    (record,) = run_matrix(plan, options).records
    assert record.ok and stateful.RESTORED == [{"seen": 1}]
