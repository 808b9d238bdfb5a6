"""Kernel locks on cells and baselines, so processes sharing a results folder never compute one
thing twice, and the temporaries that killed writers left behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from prunebench.results.store import LOCKS, UMASK, _safe


def remove_orphaned_temporaries(results: Path) -> list[Path]:
    """Delete the temporaries that processes of this host killed mid-write left in `results`
    (a checkpoint's can be hundreds of MB); the removed paths."""
    removed = []
    for tmp in results.rglob(".*@*@*@*.tmp"):
        try:
            _, host, pid, _ = tmp.name.rsplit("@", 3)
            alive = _alive(host, int(pid))
        except ValueError:
            continue
        if not alive:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(host: str, pid: int) -> bool:
    """Whether process `pid` of `host` runs (another host's is assumed to: delete its files by
    hand if that machine is gone)."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[bool]:
    """Hold `lock` for the block; yields False, holding nothing, when another process holds it.

    The lock is the kernel's (`flock` on the file), so it is released when its holder dies in
    any way, even between creating the file and writing in it; the file's text (host and
    process) is for people. The file is removed when the block ends, so a finished run leaves
    no lock behind."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666 & ~UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # its last holder removed the file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        yield True
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def lock_path(results: Path, name: str) -> Path:
    return results / LOCKS / f"{_safe(name)}.lock"
