"""Containment: a cell whose criterion exits, crashes, hangs or changes the model fails alone;
result files cannot make the leaderboard write outside its folder; locks clear when their holder
dies; the same hash means the same numbers; bad input is one line and exit 2 before any work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from prunebench.cli import main
from prunebench.data.idx import write_idx
from prunebench.data.mnist import FILES
from prunebench.data.synthetic import write_mnist_like

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

HOSTILE = '''
import os
import sys
import time

import torch
from prunebench.criterion import Criterion, ScoreCriterion


class ExitsHard(Criterion):
    def select(self, group, n_keep):
        os._exit(1)


class CallsSysExit(Criterion):
    def select(self, group, n_keep):
        sys.exit(3)


class SwallowsTimeout(Criterion):
    """Catches everything, so an in-process timer's exception never ends it."""
    def select(self, group, n_keep):
        while True:
            try:
                time.sleep(60)
            except BaseException:
                pass


class ZeroesOthers(ScoreCriterion):
    def prepare(self, ctx):
        with torch.no_grad():
            ctx.model.fc1.weight.zero_()

    def score(self, group):
        return torch.arange(group.n_filters, dtype=torch.float32)
'''


@pytest.fixture
def hostile(install_dist):
    install_dist("hostile-criteria", {"exits-hard": "hostile:ExitsHard",
                                      "calls-sys-exit": "hostile:CallsSysExit",
                                      "swallows-timeout": "hostile:SwallowsTimeout",
                                      "zeroes-others": "hostile:ZeroesOthers"},
                 {"hostile": HOSTILE})


def smoke_l1(results: Path) -> list[str]:
    """The command line of one smoke cell (l1, no scratch row) into `results`."""
    return ["run", "--budget", "smoke", "--no-scratch", "--criteria", "l1", "--results",
            str(results)]


def records(results: Path, scenario: str = "lenet5-digits") -> dict[str, dict]:
    return {json.loads(p.read_text())["criterion"]["name"]: json.loads(p.read_text())
            for p in (results / scenario).glob("*.json")}


def test_exiting_crashing_and_hanging_criteria_fail_only_their_own_cells(tmp_path, hostile,
                                                                         capsys):
    results = tmp_path / "res"
    code = main(["run", "--budget", "smoke", "--no-scratch", "--cell-timeout", "8", "--criteria",
                 "exits-hard,l1,calls-sys-exit,swallows-timeout,zeroes-others,random",
                 "--results", str(results)])
    assert code == 1
    found = records(results)
    assert found["l1"]["status"] == found["random"]["status"] == "ok"
    errors = {name: r["error"] for name, r in found.items() if r["status"] != "ok"}
    assert "exited with code 1 without a result" in errors["exits-hard"]
    assert "called sys.exit(3)" in errors["calls-sys-exit"]
    assert "took longer than its time limit of 8 s" in errors["swallows-timeout"]
    assert found["swallows-timeout"]["cost"]["cell_seconds"] < 20
    assert "prepare() changed the model's fc1.weight" in errors["zeroes-others"]
    assert set(errors) == {"exits-hard", "calls-sys-exit", "swallows-timeout", "zeroes-others"}
    board = (results / "leaderboards" / "lenet5-digits.md").read_text()
    assert "| – | l1 |" in board  # one seed: no test, no letter
    assert not list((results / ".locks").glob("*"))  # a finished run leaves no lock


def test_a_killed_worker_is_reported_with_its_signal():
    from prunebench.harness.runner import Silent
    from prunebench.runtime.worker import run_contained

    def crash(_relay):
        import ctypes
        import faulthandler

        faulthandler.disable()  # pytest's would print the worker's stack
        ctypes.string_at(0)  # what a broken extension does: read address 0

    def finish(relay):
        relay.phase("p", 1)
        relay.epoch()
        return {"status": "ok"}

    assert run_contained(crash, Silent(), None, 1) == "was killed by signal SIGSEGV"
    assert run_contained(finish, Silent(), None, 1) == {"status": "ok"}


def _copy_with(source: Path, target: Path, **changes) -> None:
    record = json.loads(source.read_text())
    for key, value in changes.items():
        if key == "target_name":
            record["target"]["name"] = value
        else:
            record[key] = value
    target.write_text(json.dumps(record))


def test_leaderboard_never_writes_outside_its_folder(tmp_path, capsys):
    results, out, victim = tmp_path / "res", tmp_path / "boards", tmp_path / "elsewhere"
    assert main(smoke_l1(results)) == 0
    good = next((results / "lenet5-digits").glob("l1--*.json"))
    victim.mkdir()
    (victim / "precious.md").write_text("keep me")
    _copy_with(good, results / "lenet5-digits" / "evil-a.json", scenario=str(victim / "precious"))
    _copy_with(good, results / "lenet5-digits" / "evil-b.json",
               target_name="../../../elsewhere/y")
    (results / "lenet5-digits" / "binary.json").write_bytes(b"\x80\xff\x00garbage")
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    for name in ("evil-a.json", "evil-b.json", "binary.json"):
        assert name in err  # each named in a warning
    assert (victim / "precious.md").read_text() == "keep me"
    assert sorted(p.name for p in victim.iterdir()) == ["precious.md"]
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.md"))
    assert "| l1 |" in (out / "lenet5-digits.md").read_text()  # the rest still renders


def test_rerun_keeps_the_original_command_and_writes_beside_the_results(tmp_path, capsys):
    results, elsewhere = tmp_path / "res", tmp_path / "elsewhere"
    assert main([*smoke_l1(results), "--out", str(elsewhere)]) == 0
    path = next((results / "lenet5-digits").glob("l1--*.json"))
    before = json.loads(path.read_text())
    shutil.rmtree(elsewhere)
    assert main(["rerun", str(path)]) == 0
    after = json.loads(path.read_text())
    assert after["command"] == before["command"]  # rerunnable again
    assert after["rerun"] == f"prunebench rerun {path}"
    assert not elsewhere.exists()  # the recorded --out is not followed
    assert (results / "leaderboards" / "lenet5-digits.md").exists()
    assert main(["rerun", str(path)]) == 0


@pytest.mark.longest
def test_threads_are_part_of_the_cell_and_rerun_and_jobs_keep_them(tmp_path):
    """As a user runs them: each command in a fresh process."""
    results = tmp_path / "res"
    args = smoke_l1(results)

    def cli(*extra):
        done = subprocess.run([sys.executable, "-m", "prunebench", *extra], capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr

    cli(*args)
    cli(*args, "--threads", "2")
    found = [json.loads(p.read_text()) for p in (results / "lenet5-digits").glob("*.json")]
    assert sorted(r["budget"]["threads"] for r in found) == [1, 2]  # two cells, two files
    assert sorted(r["environment"]["torch_threads"] for r in found) == [1, 2]
    board = (results / "leaderboards" / "lenet5-digits.md").read_text()
    assert "budget `smoke`" in board and "budget `smoke, 2 threads`" in board  # two tables
    two = next(p for p in (results / "lenet5-digits").glob("*.json")
               if json.loads(p.read_text())["budget"]["threads"] == 2)
    cli("rerun", str(two))
    again = json.loads(two.read_text())
    assert again["environment"]["torch_threads"] == 2 and again["config_hash"] == two.stem[-16:]
    # --jobs 2 computes with the same thread count as a plain run: same files, same numbers
    jobs = tmp_path / "jobs"
    cli(*args[:-1], str(jobs), "--jobs", "2")
    plain = {p.name: json.loads(p.read_text()) for p in (results / "lenet5-digits").glob("*")}
    made = list((jobs / "lenet5-digits").glob("*.json"))
    assert len(made) == 1 and made[0].name in plain
    assert json.loads(made[0].read_text())["pruned"] == plain[made[0].name]["pruned"]


def test_locks_clear_when_their_holder_is_gone(tmp_path):
    from prunebench.results.locks import exclusive

    lock = tmp_path / "a.lock"
    lock.write_text("")  # a process died between creating the file and writing its owner
    with exclusive(lock) as mine:
        assert mine
        with exclusive(lock) as again:  # held: another open of the file cannot take it
            assert not again
    assert not lock.exists()
    lock.write_text(f"{os.uname().nodename} 1\n")  # names a live process that holds nothing
    with exclusive(lock) as mine:
        assert mine
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
fd = os.open({str(lock)!r}, os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with exclusive(lock) as mine:
        assert not mine
    holder.kill()
    holder.wait()
    with exclusive(lock) as mine:  # the kernel released it with its holder
        assert mine


def test_a_lock_file_left_behind_does_not_block_a_baseline_or_a_cell(tmp_path, capsys):
    results = tmp_path / "res"
    locks = results / ".locks"
    locks.mkdir(parents=True)
    for name in ("baseline--seed0--x", "lenet5-digits--l1--prun1--smoke--seed0--y"):
        (locks / f"{name}.lock").write_text("")
    assert main(smoke_l1(results)) == 0
    assert records(results)["l1"]["status"] == "ok"


def _mnist(tmp_path: Path, n_train: int = 40, n_test: int = 20, size: int = 28) -> Path:
    folder = write_mnist_like(tmp_path / "data", n_train=n_train, n_test=n_test)
    if size != 28:
        rng = np.random.default_rng(0)
        write_idx(folder / (FILES[0] + ".gz"), rng.integers(0, 255, (n_train, size, size)))
        write_idx(folder / (FILES[2] + ".gz"), rng.integers(0, 255, (n_test, size, size)))
    return folder


def _result(tmp_path: Path) -> Path:
    results = tmp_path / "made"
    assert main(smoke_l1(results)) == 0
    return next((results / "lenet5-digits").glob("l1--*.json"))


BAD = {
    "criterion-typo": (lambda t: ["run", "--criteria", "l11"],
                       "unknown criterion 'l11' (did you mean 'l1'?)"),
    "scenario-typo": (lambda t: ["run", "--scenario", "lenet5-digit"],
                      "unknown scenario 'lenet5-digit' (did you mean 'lenet5-digits'?)"),
    "target-typo": (lambda t: ["run", "--target", "hlaf"],
                    "unknown target 'hlaf' for lenet5-digits (did you mean 'half'?)"),
    "speed-zero-runs": (lambda t: ["speed", "--runs", "0"],
                        "--runs 0 must be a number of measurements from 1"),
    "leaderboard-empty-reference": (lambda t: ["leaderboard", "--results", str(t),
                                               "--reference", ""], "--reference is empty"),
    "out-is-a-file": (lambda t: ["run", "--budget", "smoke", "--out", str(_file(t))],
                      "--out"),
    "timeout-nan": (lambda t: ["run", "--cell-timeout", "nan"], "--cell-timeout nan"),
    "huge-seed": (lambda t: ["run", "--seeds", "99999999999999999999999"], "--seeds"),
    "results-under-a-file": (lambda t: ["run", "--results", str(_file(t) / "sub")],
                             "cannot be written"),
    "results-under-proc": (lambda t: ["run", "--results", "/proc/prunebench"],
                           "cannot be written"),
    "sensitivity-out-under-proc": (lambda t: ["sensitivity", "--out", "/proc/prunebench"],
                                   "cannot be written"),
    "speed-plot-under-proc": (lambda t: ["speed", "--plot", "/proc/prunebench/speed.png"],
                              "cannot be written"),
    "no-training-samples": (lambda t: ["run", "--scenario", "lenet5-mnist", "--budget", "smoke",
                                       "--data-root", str(_mnist(t, n_train=0))],
                            "has 0 training samples"),
    "images-smaller-than-kernel": (lambda t: ["run", "--scenario", "lenet5-mnist", "--budget",
                                              "smoke", "--data-root", str(_mnist(t, size=3))],
                                   "cannot take the data's samples of shape (1, 3, 3)"),
    "corrupt-gz": (lambda t: ["run", "--scenario", "lenet5-mnist", "--data-root",
                              str(_corrupt(t))], "cannot read"),
    "missing-data-root": (lambda t: ["run", "--scenario", "lenet5-fashionmnist", "--data-root",
                                     str(t / "absent")], "is not a folder"),
    "show-missing": (lambda t: ["show", str(t / "absent.json")], "does not exist"),
    "show-garbage": (lambda t: ["show", str(_garbage(t))], "is unreadable"),
    "show-missing-keys": (lambda t: ["show", str(_json(t, {"schema_version": 1}))], "lacks"),
    "rerun-garbage": (lambda t: ["rerun", str(_garbage(t))], "is unreadable"),
    "rerun-unbalanced-quote": (lambda t: ["rerun", str(_unbalanced(t))], "cannot be split"),
    "speed-repeats-0": (lambda t: ["speed", "--repeats", "0"], "--repeats 0"),
    "speed-per-layer-0": (lambda t: ["speed", "--per-layer", "0"], "--per-layer 0"),
    "tiny-data-into-a-file": (lambda t: ["tiny-data", str(_file(t)), "--scenario",
                                         "lenet5-mnist"], "is a file"),
    "sensitivity-ratios": (lambda t: ["sensitivity", "--ratios", "2"], "--ratios: '2'"),
    "sensitivity-seed": (lambda t: ["sensitivity", "--seed", "x"], "--seed 'x'"),
    "criterion-setting": (lambda t: ["run", "--criteria", "stability:nosuch=1"],
                          "has no setting 'nosuch'; it accepts: lam (float, default 1e-05)"),
    "speed-runs-unbounded": (lambda t: ["speed", "--runs", "1000000000"],
                             "--runs 1000000000 must be a number of measurements from 1 to 100"),
    "speed-batch-beyond-memory": (lambda t: ["speed", "--batch-sizes", "1,100000000000"],
                                  "--batch-sizes 100000000000: the unpruned model's feature maps"),
    "per-layer-beyond-memory": (lambda t: ["speed", "--per-layer", "100000000000"],
                                "more than the"),
    "memory-batch-beyond-memory": (lambda t: ["memory", "--batch-sizes", "1000000000000"],
                                   "give smaller batch sizes"),
    "plot-a-folder": (lambda t: ["memory", "--plot", str(t)], "must name a PNG file to write"),
    "round-to-beyond-the-widest": (lambda t: ["flops", "--round-to", "100000"],
                                   "up to the widest layer's 50 filters"),
    "tolerance-infinite": (lambda t: ["export", str(t / "r.json"), "--tolerance", "inf"],
                           "--tolerance inf must be a relative difference between 0 and 1"),
    "setting-below-its-limit": (lambda t: ["run", "--criteria", "stability:lam=-1"],
                                "setting lam=-1 is below 0"),
    "setting-above-its-limit": (lambda t: ["run", "--criteria", "kmeans-raw:restarts=1e20"],
                                "restarts='1e20' is not int"),
    "setting-not-a-choice": (lambda t: ["run", "--criteria", "obd-c:fisher=bogus"],
                             "setting fisher=bogus is none of true, sampled, empirical"),
    "setting-path-missing": (lambda t: ["run", "--criteria", "deep-feature-kmeans:model_b=vgg16:"
                                        f"vgg16_weights={t / 'absent.pth'}"], "does not exist"),
    "setting-image-size": (lambda t: ["run", "--criteria", "deep-feature-kmeans:image_size=1000000",
                                      "--dry-run"], "image_size=1000000 is above 1024"),
}


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.json"
    path.write_bytes(b"\x89PNG\x00\xff\xfe")
    return path


def _json(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(content))
    return path


def _corrupt(tmp_path: Path) -> Path:
    folder = _mnist(tmp_path)
    gz = folder / (FILES[0] + ".gz")
    gz.write_bytes(gz.read_bytes()[:30] + b"\x00" * 50)
    return folder


def _unbalanced(tmp_path: Path) -> Path:
    source = _result(tmp_path)
    record = json.loads(source.read_text())
    record["command"] = "prunebench run --criteria 'l1"
    source.write_text(json.dumps(record))
    return source


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_before_any_work(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRUNEBENCH_DATA", raising=False)
    make_args, message = BAD[case]
    args = make_args(tmp_path)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("prunebench: error: ") and message in err, err
    assert not warned, [str(w.message) for w in warned]  # a user's stderr would show it too
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if args[0] == "run":  # no progress drawn, no baseline trained
        assert captured.out == ""
        assert not list(tmp_path.rglob("baselines"))


def test_a_baseline_checkpoint_of_the_wrong_shapes_is_refused(tmp_path, capsys):
    import torch

    results = tmp_path / "res"
    args = smoke_l1(results)
    assert main(args) == 0
    checkpoint = next((results / "baselines").rglob("*.pt"))
    torch.save({"state_dict": {"conv1.weight": torch.zeros(3, 3)}, "metrics": {}}, checkpoint)
    capsys.readouterr()
    assert main([*args, "--force"]) == 2
    err = capsys.readouterr().err
    assert "does not fit lenet5-digits's model" in err and "delete it to retrain" in err


def test_a_damaged_result_file_is_run_again_not_a_stop(tmp_path, capsys):
    results = tmp_path / "res"
    args = smoke_l1(results)
    assert main(args) == 0
    path = next((results / "lenet5-digits").glob("l1--*.json"))
    good = json.loads(path.read_text())
    path.write_bytes(b'{"schema_version": 1, "status": "ok", "scena')  # half a file
    assert main(args) == 0
    assert json.loads(path.read_text())["pruned"] == good["pruned"]


def test_a_worker_computes_on_several_threads_after_its_parent_did():
    """GNU OpenMP: a forked main thread hangs on its parent's pool; the worker's fresh thread
    does not. In a fresh process with a time limit, since a failure here is a hang."""
    script = '''
import torch
from prunebench.harness.runner import Silent
from prunebench.runtime.worker import run_contained

torch.set_num_threads(2)
x = torch.randn(1500, 1500)
(x @ x).sum()  # the parent's pool has run on two threads


def work(_relay):
    y = torch.randn(1500, 1500)
    return {"threads": torch.get_num_threads(), "finite": bool((y @ y).isfinite().all())}


print(run_contained(work, Silent(), 60, 2))
'''
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'threads': 2, 'finite': True}"


def test_a_cells_thread_count_holds_for_blas_and_openmp_too():
    """numpy's BLAS and scikit-learn's OpenMP compute on the cell's thread count, not on one
    thread per core: a k-means's or a LASSO's last bits would depend on the machine, and two
    workers on two cores would each wait on a second BLAS thread."""
    script = '''
import numpy, sklearn.cluster
from threadpoolctl import threadpool_info, threadpool_limits
from prunebench.harness.runner import Silent
from prunebench.runtime.worker import run_contained

threadpool_limits(2)  # what BLAS takes on a two-core machine


def work(_relay):
    return sorted({(p["user_api"], p["num_threads"]) for p in threadpool_info()})


print(run_contained(work, Silent(), 60, 1), run_contained(work, Silent(), 60, 2))
'''
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("[('blas', 1), ('openmp', 1)] "
                                   "[('blas', 2), ('openmp', 2)]")
