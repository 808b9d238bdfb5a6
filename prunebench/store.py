"""Result files: one JSON per cell, written atomically, with the environment that produced it.

The file name holds the cell's config hash, so running a cell again replaces its file instead of
adding a duplicate. Baseline checkpoints live under `baselines/` and are loaded with
`weights_only=True`: a checkpoint is data, never code.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

import prunebench
from prunebench.config import CellConfig
from prunebench.errors import PrunebenchError

SCHEMA_VERSION = 1
BASELINES = "baselines"
SPEED = "speed"  # `prunebench speed --results` sweeps, beside the cells' scenario folders
LOCKS = ".locks"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def result_path(results: Path, cell: CellConfig) -> Path:
    name = f"{_safe(cell.criterion)}--{_safe(cell.target)}--{cell.budget.name}--seed{cell.seed}"
    return results / _safe(cell.scenario) / f"{name}--{cell.hash()}.json"


def baseline_path(results: Path, scenario: str, seed: int, key: str) -> Path:
    return results / BASELINES / _safe(scenario) / f"seed{seed}--{key}.pt"


def check_results_dir(results: Path) -> Path:
    if results.exists() and not results.is_dir():
        raise PrunebenchError(f"results folder {results} is a file; pass --results a folder")
    return results


#: the umask at start-up: written files get the mode a plain open() would give them
UMASK = os.umask(0)
os.umask(UMASK)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file. The
    temporary's name says which process writes it, so one left by a killed process can be
    found and removed (`remove_orphaned_temporaries`). mkstemp makes it owner-only; it gets the
    umask's usual mode, so others sharing a results folder can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp",
                               prefix=f".{path.name}@{socket.gethostname()}@{os.getpid()}@")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomically(path, write)
    return path


def write_json(path: Path, record: dict) -> Path:
    return write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_result(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PrunebenchError(f"result file {path} is unreadable ({exc}); delete it and rerun") from None
    found = record.get("schema_version") if isinstance(record, dict) else None
    if found != SCHEMA_VERSION:
        raise PrunebenchError(
            f"result file {path} has schema version {found}, this prunebench reads "
            f"{SCHEMA_VERSION}; rerun it or use the prunebench version that wrote it"
        )
    return record


def read_results(results: Path) -> list[dict]:
    """Every result file under `results`, in a stable order."""
    check_results_dir(results)
    if not results.is_dir():
        raise PrunebenchError(f"results folder {results} does not exist; run `prunebench run` first")
    return [read_result(p) for p in sorted(results.glob("*/*.json"))
            if p.parent.name not in (BASELINES, SPEED)]


def save_speed(results: Path, report: dict, argv: list[str], device: torch.device,
               repeats: int) -> Path:
    """A speed sweep as a record: its rows with the command, commit and hardware that made them."""
    check_results_dir(results)
    first = report["rows"][0]
    name = f"{_safe(first['scenario'])}--{_safe(first['target'])}--{device.type}.json"
    return write_json(results / SPEED / name, {
        "schema_version": SCHEMA_VERSION, "scenario": first["scenario"],
        "target": first["target"], "widths": list(report["widths"]), "repeats": repeats,
        "command": shlex.join(["prunebench", *argv]), "environment": environment(device),
        "rows": report["rows"]})


def read_speed_results(results: Path) -> list[dict]:
    """Every saved speed sweep under `results`, in a stable order."""
    return [read_result(p) for p in sorted((results / SPEED).glob("*.json"))]


DONE = ("ok", "not-applicable")  # statuses a rerun would not change; failed cells are retried


def finished(path: Path) -> dict | None:
    """The result at `path` if its cell is done; None if it is missing or failed."""
    if not path.exists():
        return None
    record = read_result(path)
    return record if record["status"] in DONE else None


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


def _holder_alive(lock: Path) -> bool:
    """Whether the process named in `lock` still runs (see `_alive`)."""
    try:
        host, pid = lock.read_text().split()
        return _alive(host, int(pid))
    except (OSError, ValueError):
        return True  # being written right now


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
    """Hold `lock` (created exclusively, naming this host and process) for the block; yields
    False, holding nothing, when a live process holds it. A dead holder's lock is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _holder_alive(lock):
                yield False
                return
            lock.unlink(missing_ok=True)  # stale: its process died (kill -9, lost machine)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{socket.gethostname()} {os.getpid()}")
        try:
            yield True
        finally:
            lock.unlink(missing_ok=True)
        return
    yield False


def lock_path(results: Path, name: str) -> Path:
    return results / LOCKS / f"{_safe(name)}.lock"


def save_checkpoint(path: Path, state: dict) -> None:
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, required: set[str]) -> dict:
    try:
        with warnings.catch_warnings():  # torch's own warnings about a bad file add nothing
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refuses foreign objects in many ways
        raise PrunebenchError(
            f"checkpoint {path} is not a prunebench checkpoint or is damaged ({type(exc).__name__}); "
            "delete it to retrain"
        ) from None
    if not isinstance(state, dict) or not required <= state.keys():
        raise PrunebenchError(f"checkpoint {path} lacks {sorted(required)}; delete it to retrain")
    return state


#: what decides the numbers: the package and its first-party criteria, not the result files and
#: boards a run rewrites in the same checkout
SOURCE_PATHS = ("prunebench", "plugins", "pyproject.toml")


def git_commit(source: Path | None = None) -> str:
    """The commit of the prunebench source tree, with '+dirty' for uncommitted changes to it."""
    source = source or Path(prunebench.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *SOURCE_PATHS], cwd=source, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """Versions, hardware and commit, recorded in every result."""
    return {
        "prunebench": prunebench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": {d: _version(d) for d in
                     ("torch", "torchvision", "torch-pruning", "numpy", "scikit-learn")},
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
