"""Long runs: resume after kill -9, skip finished cells, one process per cell, time limits,
and reruns from a result file."""

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from prunebench.cli import main
from prunebench.harness.baseline import weights_digest
from prunebench.results.environment import environment
from tests.plugin_sources import FAULTY

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it


def start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "prunebench", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(victim: subprocess.Popen, folder: Path, pattern: str) -> None:
    """Until a file matching `pattern` appears in `folder`: on progress, not on the clock (a
    loaded machine only makes it later), but a victim that ended first fails the test with its
    output instead of waiting for ever; 15 minutes is a last resort against a hang."""
    give_up = time.monotonic() + 900
    while not list(folder.glob(pattern)):
        if time.monotonic() > give_up:
            victim.kill()
            pytest.fail(f"no {pattern} in 15 minutes and the run is still going: a hang?")
        if victim.poll() is not None:
            out = victim.stdout.read() if victim.stdout else ""
            pytest.fail(f"the run ended (code {victim.returncode}) before {pattern} appeared: "
                        f"{out[-2000:]}")
        time.sleep(0.05)


def metrics(results: Path) -> dict:
    out = {}
    for path in sorted((results / "lenet5-digits").glob("*.json")):
        record = json.loads(path.read_text())
        out[path.name] = (record["status"], record["baseline"]["metrics"]["top1"],
                          record["pruned"])
    return out


def resume_and_compare(args: list[str], tmp_path: Path, same_baseline: bool = False) -> None:
    """Run the killed command again to the end, run it once uninterrupted elsewhere, and check
    that both give the same numbers. `same_baseline`: the uninterrupted run starts from the
    killed run's baseline checkpoint (the kill came after it) rather than training it again."""
    for results in ("killed", "whole"):
        if results == "whole" and same_baseline:
            shutil.copytree(tmp_path / "killed" / "baselines", tmp_path / "whole" / "baselines")
        done = subprocess.run([sys.executable, "-m", "prunebench", *args, "--results", results],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "whole")


@pytest.mark.longest
def test_kill_9_during_baseline_training_then_resume_gives_the_same_results(tmp_path):
    # one cell after the baseline: what the kill interrupts is the baseline's training
    args = ["run", "--budget", "quick", "--criteria", "l1", "--seeds", "0", "--controls", "none"]
    victim = start(*args, "--results", "killed", cwd=tmp_path)
    partial = tmp_path / "killed" / "baselines" / "lenet5-digits"
    wait_for(victim, partial, "*.partial.pt")
    time.sleep(0.3)  # somewhere in the middle of the baseline's epochs
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    resume_and_compare(args, tmp_path)
    assert not list((tmp_path / "killed").rglob("*.partial.pt"))
    assert not list((tmp_path / "killed" / ".locks").glob("*"))  # the dead run's lock cleared


def test_finished_cells_are_skipped_and_force_reruns_them(tmp_path, capsys):
    results = str(tmp_path / "res")
    args = ["run", "--budget", "smoke", "--no-scratch", "--criteria", "l1,l2", "--results", results]
    assert main(args) == 0
    files = sorted((tmp_path / "res" / "lenet5-digits").glob("*.json"))
    stamps = [f.stat().st_mtime_ns for f in files]
    capsys.readouterr()
    assert main(args) == 0
    assert "l1, seed 0: skipped, done before" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert main([*args, "--force"]) == 0
    assert [f.stat().st_mtime_ns for f in files] != stamps
    assert sorted((tmp_path / "res" / "lenet5-digits").glob("*.json")) == files  # no duplicates


def test_two_processes_share_a_results_folder_without_running_a_cell_twice(tmp_path):
    args = ["run", "--budget", "smoke", "--criteria", "l1,l2,random,fpgm,kmeans-raw,taylor",
            "--results", "shared"]
    first, second = start(*args, cwd=tmp_path), start(*args, cwd=tmp_path)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    ran = [line.split(",")[0].strip("✓ ") for out in outputs for line in out.splitlines()
           if line.startswith("✓")]
    assert sorted(ran) == sorted(["l1", "l2", "random", "fpgm", "kmeans-raw", "taylor",
                                  "unpruned-ft", "scratch-e", "scratch-b"])
    assert len(list((tmp_path / "shared" / "lenet5-digits").glob("*.json"))) == 9
    assert len(list((tmp_path / "shared" / "baselines").rglob("*.pt"))) == 1


def test_a_cell_past_its_time_limit_fails_and_the_rest_runs(tmp_path, install_dist, capsys):
    install_dist("slow-criteria", {"slow": "slow_criteria:Slow"}, {"slow_criteria": FAULTY + '''
import time


class Slow(Criterion):
    def select(self, group, n_keep):
        time.sleep(30)
        return torch.arange(n_keep)
'''})
    assert main(["run", "--budget", "smoke", "--criteria", "slow,l1", "--cell-timeout", "2",
                 "--results", str(tmp_path)]) == 1
    records = {json.loads(p.read_text())["criterion"]["name"]: json.loads(p.read_text())
               for p in (tmp_path / "lenet5-digits").glob("*.json")}
    assert records["slow"]["status"] == "failed"
    assert "took longer than its time limit of 2 s" in records["slow"]["error"]
    assert records["slow"]["cost"]["cell_seconds"] < 10
    assert records["l1"]["status"] == "ok"


def as_version_1(record: dict, threads: int) -> dict:
    """A version-2 record as version 1 wrote it for a run on `threads` threads: metrics beside
    the sizes, no thread count in the budget, no settings."""
    v1 = {**record, "schema_version": 1,
          "budget": {k: v for k, v in record["budget"].items() if k != "threads"},
          "criterion": {k: v for k, v in record["criterion"].items() if k != "settings"},
          "environment": {**record["environment"], "torch_threads": threads}}
    for key in ("baseline", "pruned"):
        v1[key] = {**{k: v for k, v in record[key].items() if k != "metrics"},
                   **record[key]["metrics"]}
    return v1


def test_rerun_reproduces_a_result_from_its_file(tmp_path, capsys):
    assert main(["run", "--budget", "smoke", "--criteria", "l1,random", "--results",
                 str(tmp_path)]) == 0
    path = next((tmp_path / "lenet5-digits").glob("random--*.json"))
    before = json.loads(path.read_text())
    capsys.readouterr()
    assert main(["rerun", str(path)]) == 0
    after = json.loads(path.read_text())
    assert after["pruned"] == before["pruned"] and after["config_hash"] == before["config_hash"]
    assert after["command"] == before["command"]  # the original stays, the rerun is apart
    assert after["rerun"] == f"prunebench rerun {path}"
    assert "✓ random, seed 0" in capsys.readouterr().out
    path.write_text(json.dumps(as_version_1(before, threads=2)))
    assert main(["rerun", str(path)]) == 0
    assert "the cell's configuration changed" in capsys.readouterr().err


@pytest.mark.longest
def test_kill_9_during_fine_tuning_resumes_mid_schedule_with_the_same_results(tmp_path,
                                                                               paper_baseline):
    args = ["run", "--budget", "paper", "--no-scratch", "--criteria", "l1", "--seeds", "0"]
    shutil.copytree(paper_baseline, tmp_path / "killed" / "baselines")
    victim = start(*args, "--results", "killed", cwd=tmp_path)
    cells = tmp_path / "killed" / "lenet5-digits"
    wait_for(victim, cells, "*.step.pt")
    os.kill(victim.pid, signal.SIGKILL)  # after at least one of the four prune steps
    victim.wait()
    assert not list(cells.glob("*.json"))  # the cell had not finished
    resume_and_compare(args, tmp_path, same_baseline=True)
    history = json.loads(next(cells.glob("*.json")).read_text())["history"]
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    assert not list(cells.glob("*.pt"))  # progress files are gone once the cell is done
    assert len(list((tmp_path / "killed" / "baselines").rglob("*.pt"))) == 1  # the shared one


def test_two_shards_side_by_side_cover_the_matrix_exactly_once(tmp_path):
    from prunebench.cli.arguments import parse_shard
    from prunebench.errors import PrunebenchError

    args = ["run", "--budget", "smoke", "--no-scratch", "--criteria", "l1,l2,random,fpgm,taylor",
            "--seeds", "0,1"]
    assert main([*args, "--results", str(tmp_path / "whole")]) == 0
    shards = [start(*args, "--shard", f"{k}/2", "--results", "shared", cwd=tmp_path)
              for k in (1, 2)]
    for shard in shards:
        out, _ = shard.communicate(timeout=300)
        assert shard.returncode == 0, out[-2000:]
    whole = {p.name for p in (tmp_path / "whole" / "lenet5-digits").glob("*.json")}
    records = {p.name: json.loads(p.read_text())
               for p in (tmp_path / "shared" / "lenet5-digits").glob("*.json")}
    by_shard = [{name for name, r in records.items() if f"--shard {k}/2" in r["command"]}
                for k in (1, 2)]
    assert len(whole) == 10 and set(records) == whole
    assert by_shard[0] and by_shard[1] and not by_shard[0] & by_shard[1]
    assert by_shard[0] | by_shard[1] == whole
    assert len(list((tmp_path / "shared" / "baselines").rglob("*.pt"))) == 2  # one per seed
    for bad in ("0/3", "4/3", "1-3"):
        with pytest.raises(PrunebenchError, match="--shard"):
            parse_shard(bad)


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_run(tmp_path):
    import socket

    from prunebench.results.store import write_atomically

    host, named = socket.gethostname(), []
    write_atomically(tmp_path / "probe" / "w.json", lambda tmp: named.append(tmp.name))
    assert named[0].startswith(f".w.json@{host}@{os.getpid()}@") and named[0].endswith(".tmp")

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "results" / "lenet5-digits"
    folder.mkdir(parents=True)
    orphan = folder / f".x.json@{host}@{dead}@abc123.tmp"  # its writer was killed
    live = folder / f".y.json@{host}@{os.getpid()}@def456.tmp"  # being written right now
    other = folder / f".z.json@elsewhere@{dead}@ghi789.tmp"  # another machine's
    for path in (orphan, live, other):
        path.write_text("half a file")
    assert main(["run", "--budget", "smoke", "--criteria", "l1", "--results",
                 str(tmp_path / "results")]) == 0
    assert not orphan.exists() and live.exists() and other.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_umasks_mode_not_mkstemps_owner_only(tmp_path, monkeypatch,
                                                                   umask, mode):
    from prunebench.results import store
    monkeypatch.setattr(store, "UMASK", umask)
    assert store.write_text(tmp_path / "r.json", "{}").stat().st_mode & 0o777 == mode


def test_the_recorded_commit_is_dirty_for_changed_code_not_for_rewritten_results(tmp_path):
    from prunebench.results.environment import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    for name in ("prunebench/harness/train.py", "leaderboards/results/r.json", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "c")
    head = git_commit(tmp_path)
    assert len(head) == 40
    (tmp_path / "leaderboards/results/r.json").unlink()  # a run rewriting committed results
    (tmp_path / "README.md").write_text("2")
    assert git_commit(tmp_path) == head
    (tmp_path / "prunebench/harness/train.py").write_text("2")
    assert git_commit(tmp_path) == head + "+dirty"


def test_a_diverged_fine_tuning_fails_its_cell_by_name_and_leaves_no_progress_to_resume(
        tmp_path, install_dist, paper_baseline):
    """A refit that scales step 2's consumer by 1e30 sends that step's fine-tuning to NaN: the
    cell fails saying which phase diverged (not with an obscure error later), and step 1's
    checkpoint is discarded so a rerun after a fix starts from the baseline, not a bad state."""
    install_dist("diverging-criteria", {"diverges": "diverging:Diverges"}, {"diverging": '''
import torch
from prunebench.criterion import Criterion


class Diverges(Criterion):
    refits = True

    def __init__(self):
        self.step = 0

    def prepare(self, ctx):
        self.step += 1

    def select(self, group, n_keep):
        return torch.arange(n_keep)

    def refit(self, group, rows):
        return rows.weight * 1e30 if self.step == 2 else None
'''})
    cells = tmp_path / "lenet5-digits"
    seen_checkpoint = []

    def watch():  # step 1's checkpoint exists while step 2 runs
        while not seen_checkpoint:
            seen_checkpoint.extend(cells.glob("diverges--*.step.pt"))
            time.sleep(0.05)

    shutil.copytree(paper_baseline, tmp_path / "baselines")
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert main(["run", "--budget", "paper", "--no-scratch", "--criteria", "diverges",
                 "--seeds", "0", "--target", "half", "--results", str(tmp_path)]) == 1
    record = json.loads(next(cells.glob("diverges--*.json")).read_text())
    assert record["status"] == "failed"
    assert record["error"].startswith(
        "criterion 'diverges': step 2's fine-tuning diverged: the weights became NaN or "
        "infinite by step ")
    assert seen_checkpoint and not list(cells.glob("*.pt"))
    assert len(list((tmp_path / "baselines").rglob("*.pt"))) == 1  # the shared one, used


def test_new_cells_are_refused_when_their_baseline_is_not_the_finished_cells_one(tmp_path,
                                                                                  capsys):
    """A run resumed on another CPU retrains a baseline whose checkpoint is missing, and
    training is not bit-reproducible across instruction sets: its cells would be paired with
    the finished ones as if they shared weights."""
    results = tmp_path / "res"
    args = ["run", "--budget", "smoke", "--no-scratch", "--seeds", "0", "--results", str(results)]
    assert main([*args, "--criteria", "l1"]) == 0
    [record_path] = (results / "lenet5-digits").glob("l1--*.json")
    record = json.loads(record_path.read_text())
    [checkpoint] = (results / "baselines" / "lenet5-digits").glob("*.pt")
    trained = torch.load(checkpoint, weights_only=True)
    assert record["baseline_digest"] == weights_digest(trained["state_dict"])

    other = copy.deepcopy(trained)  # another CPU's training: the same schedule, other last bits
    other["state_dict"]["conv1.weight"].view(-1)[0] += 1e-6
    torch.save(other, checkpoint)
    capsys.readouterr()
    assert main([*args, "--criteria", "l2"]) == 2
    err = capsys.readouterr().err
    assert f"baseline {checkpoint} (top1 " in err
    assert f"is not the one 1 finished cells in {results} started from" in err
    assert "training is not bit-reproducible across CPUs" in err
    assert not list((results / "lenet5-digits").glob("l2--*.json"))
    assert main([*args, "--criteria", "l1", "--force"]) == 0  # redone cells are not paired

    # a record made before digests were recorded is compared by its baseline's metrics
    record = json.loads(record_path.read_text())
    del record["baseline_digest"]
    record_path.write_text(json.dumps(record))
    other["metrics"]["top1"] += 0.01
    torch.save(other, checkpoint)
    assert main([*args, "--criteria", "l2"]) == 2
    assert "is not the one 1 finished cells" in capsys.readouterr().err

    torch.save(trained, checkpoint)  # their weights back: the run goes on and pairs them
    capsys.readouterr()
    assert main([*args, "--criteria", "l2"]) == 0
    [l2] = (results / "lenet5-digits").glob("l2--*.json")
    assert json.loads(l2.read_text())["baseline_digest"] == weights_digest(trained["state_dict"])


def test_a_missing_baseline_is_not_retrained_on_another_cpu(tmp_path, capsys):
    """Retraining a lost baseline checkpoint on another CPU than the finished cells' would give
    other weights, even at the same instruction set (an AVX-512 AMD EPYC and an AVX-512 Intel
    Xeon trained a LeNet-5 to 91.84% and 92.18%): refused before the training, not after it."""
    results = tmp_path / "res"
    args = ["run", "--budget", "smoke", "--no-scratch", "--seeds", "0", "--results", str(results)]
    assert main([*args, "--criteria", "l1"]) == 0
    [record_path] = (results / "lenet5-digits").glob("l1--*.json")
    [checkpoint] = (results / "baselines" / "lenet5-digits").glob("*.pt")
    digest = weights_digest(torch.load(checkpoint, weights_only=True)["state_dict"])
    checkpoint.unlink()
    record = json.loads(record_path.read_text())
    here = record["environment"]["cpu"]
    isa = record["environment"]["cpu_capability"]
    record["environment"]["cpu"] = "Another CPU"  # of the same instruction set
    record_path.write_text(json.dumps(record))
    capsys.readouterr()

    assert main([*args, "--criteria", "l1,l2"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"prunebench: error: baseline {checkpoint} is missing and would "
                          f"be retrained here on {here} ({isa}), but the 1 finished cells that "
                          f"started from it were made on Another CPU ({isa}); training is not "
                          "bit-reproducible across CPUs")
    assert out == "" and not checkpoint.exists()  # refused before any work
    assert not list((results / "lenet5-digits").glob("l2--*.json"))
    assert main([*args, "--criteria", "l1"]) == 0  # nothing left to run: nothing to retrain

    record["environment"]["cpu"] = here  # made on this CPU: retrained, to the same weights
    record_path.write_text(json.dumps(record))
    assert main([*args, "--criteria", "l1,l2"]) == 0
    assert weights_digest(torch.load(checkpoint, weights_only=True)["state_dict"]) == digest


def test_the_board_names_the_seeds_only_another_cpu_can_finish(tmp_path):
    """A seed whose baseline checkpoint is gone can only be finished where it was trained: the
    board says so beside its missing cells, and says nothing of a seed whose checkpoint is
    there."""
    results = tmp_path / "res"
    args = ["run", "--budget", "smoke", "--no-scratch", "--results", str(results)]
    assert main([*args, "--criteria", "l1", "--seeds", "0,1"]) == 0
    assert main([*args, "--criteria", "l2", "--seeds", "0"]) == 0
    board = results / "leaderboards" / "lenet5-digits.md"
    assert "- Not run yet (no result file): `l2` seed 1.\n" in board.read_text()
    assert "can only be finished" not in board.read_text()
    [seed1] = (results / "baselines" / "lenet5-digits").glob("seed1--*.pt")
    seed1.unlink()
    assert main(["leaderboard", "--results", str(results)]) == 0
    text = board.read_text()
    env = environment(torch.device("cpu"))
    assert (f"- Not run yet (no result file): `l2` seed 1.\n- Seed 1 can only be finished on "
            f"a CPU like {env['cpu']} ({env['cpu_capability']}): the baseline checkpoint its "
            "cells started from is not in the results folder, and training is not "
            "bit-reproducible across CPUs") in text
    assert "Seed 0 can" not in text
    assert "- Held out of this table's numbers: 1 result of seed 1, which not every row" in text


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_kill_9_of_a_run_with_jobs_ends_its_jobs(tmp_path):
    run = start("run", "--budget", "smoke", "--criteria", "l1,l2,random", "--seeds", "0,1,2",
                "--controls", "none", "--jobs", "2", "--results", str(tmp_path), cwd=tmp_path)
    wait_for(run, tmp_path / "baselines" / "lenet5-digits", "*.pt")
    jobs = children_of(run.pid)
    assert len(jobs) == 2, jobs
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 2  # without the death signal they ran on for 5-11 s
    while jobs_alive(jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert jobs_alive(jobs) == [], "a job outlived the run that started it"


def jobs_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive
