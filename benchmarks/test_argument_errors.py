"""How long a user waits for a one-line argument error (issue 39: 2.4-6.4 s when the whole stack
was imported first). Each case is a fresh `prunebench` process, as a user starts it.

    python -m pytest benchmarks/test_argument_errors.py --benchmark-only

Errors that need neither torch nor a plugin (an unknown criterion, a bad seed list, --jobs,
--runs, --repeats, --plot, --tolerance) are checked before the heavy imports and must come in
under a second; those that need a scenario (a target, a budget) or a criterion's class (a
setting) come after them, and are timed here for comparison.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

EARLY = {"unknown-criterion": ["run", "--criteria", "nosuch"],
         "bad-seeds": ["run", "--seeds", "x"],
         "zero-jobs": ["run", "--jobs", "0"],
         "unbounded-runs": ["speed", "--runs", "1000000000"]}
LATE = {"unknown-target": ["run", "--target", "hlaf"],
        "setting-below-its-limit": ["run", "--criteria", "stability:lam=-1"]}


def refused(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True,
                          text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("case", sorted(EARLY))
def test_early_errors_come_in_under_a_second(benchmark, case):
    benchmark.pedantic(refused, args=(EARLY[case],), rounds=3, iterations=1)
    assert benchmark.stats.stats.median < 1.0


@pytest.mark.parametrize("case", sorted(LATE))
def test_errors_that_need_the_stack(benchmark, case):
    benchmark.pedantic(refused, args=(LATE[case],), rounds=3, iterations=1)
