"""`torchrun` with two Gloo processes on this CPU: one cell across ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from prunebench.cli import main
from prunebench.runtime import distributed

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

CELL = ["run", "--scenario", "lenet5-digits", "--budget", "smoke", "--no-scratch", "--criteria",
        "l1,taylor",
        "--seeds", "0"]


def _results(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (folder / "lenet5-digits").glob("*.json")}


def test_two_ranks_prune_like_one_process_and_write_one_result_per_cell(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "prunebench", *CELL, "--results", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert main([*CELL, "--results", str(tmp_path / "single")]) == 0

    ddp, single = _results(tmp_path / "ddp"), _results(tmp_path / "single")
    assert sorted(ddp) == sorted(single) and len(ddp) == 2  # one file per cell, same names
    assert not list((tmp_path / "ddp").rglob("*.tmp"))
    assert not list((tmp_path / "ddp").rglob("*.lock"))
    for name, record in ddp.items():
        assert record["status"] == "ok" and record["ranks"] == 2
        assert single[name]["ranks"] == 1
        # taylor's gradients were reduced across ranks: the same filters as in one process
        assert record["history"][0]["kept"] == single[name]["history"][0]["kept"], name
        assert record["pruned"]["metrics"]["top1"] == pytest.approx(
            single[name]["pruned"]["metrics"]["top1"], abs=2.0)
    assert done.stdout.count("✓") == 2  # rank 0 alone reports


def test_a_criterion_that_raises_under_torchrun_fails_its_cell_on_every_rank(tmp_path,
                                                                             install_dist):
    install_dist("boom-criteria", {"boom": "boom_criteria:Boom"}, {"boom_criteria": """
        from prunebench.criterion import Criterion

        class Boom(Criterion):
            def select(self, group, n_keep):
                raise ValueError("no filters for you")
        """})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "prunebench", "run", "--budget", "smoke", "--criteria", "boom,l1",
         "--results", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # failed cells, no hang
    records = {r["criterion"]["name"]: r for r in _results(tmp_path / "ddp").values()}
    assert records["boom"]["status"] == "failed" and records["l1"]["status"] == "ok"
    assert records["boom"]["error"] == \
        "criterion 'boom': select() on conv1 raised ValueError: no filters for you"


def _disagree(rank: int, port: int, outcome) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2")
    distributed.start(torch.device("cpu"))
    try:
        distributed.check_same("the widths", [4, 14] if rank == 0 else [4, 13])
        outcome.put((rank, "no error"))
    except RuntimeError as exc:
        outcome.put((rank, str(exc)))
    finally:
        dist.destroy_process_group()


def test_ranks_that_disagree_are_caught():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    outcome = ctx.Queue()
    procs = [ctx.Process(target=_disagree, args=(r, port, outcome)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    messages = dict(outcome.get(timeout=5) for _ in procs)
    assert messages[0] == messages[1] == \
        "the 2 ranks disagree on the widths: [[4, 14], [4, 13]]"


@pytest.mark.parametrize("row", ["imagefolder", "coco"])
def test_each_rank_reads_only_its_share_of_every_training_batch(row, tmp_path, monkeypatch):
    from prunebench.data import coco, imagefolder
    from prunebench.data.synthetic import write_coco_like, write_imagefolder_like

    if row == "imagefolder":
        write_imagefolder_like(tmp_path, classes=4, per_class=(5, 2))
        data, key = imagefolder.load(tmp_path, False, 32), lambda t: int(t)
    else:
        write_coco_like(tmp_path, n_train=10, n_val=2)
        data, key = coco.load(tmp_path, False, 64), lambda t: t["image_id"]

    def batches(rank: int | None, test: bool = False) -> list[list]:
        if rank is not None:  # as rank `rank` of 2 sees it
            monkeypatch.setattr(distributed, "active", lambda: True)
            monkeypatch.setattr(distributed, "rank", lambda: rank)
            monkeypatch.setattr(distributed, "world_size", lambda: 2)
        cpu = torch.device("cpu")
        read = data.test_batches(1, cpu) if test else \
            data.train_batches(4, torch.Generator().manual_seed(7), cpu)
        out = [[key(t) for t in targets] for _, targets in read]
        monkeypatch.undo()
        return out

    whole, first, second = batches(None), batches(0), batches(1)
    assert len(whole) == -(-data.n_train // 4) and sum(map(len, whole)) == data.n_train
    assert len(first) == len(second) == len(whole)
    for all_of, a, b in zip(whole, first, second):
        assert a == all_of[0::2] and b == all_of[1::2]
    whole = batches(None, test=True)  # test batches are dealt out whole, in turn
    assert batches(0, test=True) == whole[0::2] and batches(1, test=True) == whole[1::2]


def test_cell_timeout_is_refused_under_torchrun(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(distributed, "active", lambda: True)  # as if launched by torchrun
    monkeypatch.setattr(distributed, "stop", lambda: None)
    assert main([*CELL, "--cell-timeout", "5", "--results", str(tmp_path)]) == 2
    assert "--cell-timeout cannot stop ranks at the same point under torchrun" in \
        capsys.readouterr().err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
