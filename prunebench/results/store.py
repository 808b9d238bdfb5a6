"""Result files: one JSON per cell, written atomically (locks.py: who computes a cell;
environment.py: what made it; checkpoints.py: the weights on the way).

The file name holds the cell's config hash, so running a cell again replaces its file instead of
adding a duplicate. Baseline checkpoints live under `baselines/` and are loaded with
`weights_only=True`: a checkpoint is data, never code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from prunebench.errors import PrunebenchError
from prunebench.protocol.config import CellConfig
from prunebench.results.environment import environment
from prunebench.results.record import Record, RecordError, SpeedSweep, safe_name

SPEED_SCHEMA_VERSION = 1  # of a saved speed sweep; a cell's result: record.SCHEMA_VERSION
BASELINES = "baselines"
SPEED = "speed"  # `prunebench speed --results` sweeps, beside the cells' scenario folders
LOCKS = ".locks"
VERIFIED = "verified"  # `prunebench verify --record` files, one per checked result
SENSITIVITY = "sensitivity"  # `prunebench sensitivity` curves


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


def within(root: Path, path: Path) -> bool:
    """Whether `path`, every link on its way followed, stays under the folder `root`."""
    return path.resolve().is_relative_to(root.resolve())


def board_folder(results: Path) -> Path:
    """The board's default folder, RESULTS/leaderboards, refused if a link leads it elsewhere:
    a board is written only where the user said."""
    folder = results / "leaderboards"
    if (folder.exists() or folder.is_symlink()) and not within(results, folder):
        raise PrunebenchError(f"{folder} is a link to {folder.resolve()}, outside the results "
                              "folder; remove the link or give --out")
    return folder


def check_writable(folder: Path, option: str) -> Path:
    """`folder`, created if need be, after a probe write: a folder that cannot take files is
    refused before any work, not after it."""
    if folder.exists() and not folder.is_dir():
        raise PrunebenchError(f"{option} {folder} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PrunebenchError(f"{option} {folder} cannot be written ({exc.strerror or exc}); "
                              "give a folder you can write to") from None
    return folder


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, refused unless it stays inside `folder` (names come from files)."""
    path = folder / name
    if not safe_name(name) or path.resolve().parent != folder.resolve():
        raise PrunebenchError(f"refusing to write {name!r}: it would leave {folder}")
    return path


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


def speed_problem(record: object) -> str | None:
    """Why `record` is not a saved speed sweep this prunebench can use, or None."""
    if not isinstance(record, dict) or record.get("schema_version") != SPEED_SCHEMA_VERSION:
        return f"it is not a speed sweep of schema version {SPEED_SCHEMA_VERSION}"
    if not isinstance(record.get("rows"), list) or not isinstance(record.get("environment"),
                                                                   dict):
        return "it lacks rows or environment"
    unsafe = [f"{k} {record.get(k)!r}" for k in ("scenario", "target")
              if not safe_name(record.get(k))]
    devices = {row.get("device") for row in record["rows"] if isinstance(row, dict)}
    unsafe += [f"device {d!r}" for d in sorted(map(str, devices)) if not safe_name(d)]
    if not record["rows"]:
        return "it has no rows"
    return f"its {', '.join(unsafe)} cannot name a file" if unsafe else None


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise PrunebenchError(f"result file {path} does not exist; give the path of a result "
                              "JSON (RESULTS/<scenario>/*.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, or bytes that are no text
        raise PrunebenchError(f"result file {path} is unreadable ({type(exc).__name__}); "
                              "delete it and rerun its cell") from None


def read_result(path: Path) -> Record:
    """One cell's result file, or a PrunebenchError saying why it cannot be used."""
    try:
        return Record.from_json(_read_json(path))
    except RecordError as exc:
        raise PrunebenchError(f"result file {path} cannot be used: {exc}") from None


def write_result(path: Path, record: Record) -> Path:
    return write_json(path, record.to_json())


def read_speed(path: Path) -> SpeedSweep:
    """One saved speed sweep, or a PrunebenchError saying why it cannot be used."""
    value = _read_json(path)
    why = speed_problem(value)
    if why is None:
        assert isinstance(value, dict)
        try:
            return SpeedSweep.from_json(value)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = f"it is malformed ({type(exc).__name__}: {exc})"
    raise PrunebenchError(f"result file {path} cannot be used: {why}")


def scan_results(results: Path) -> tuple[list[Record], list[str]]:
    """Every usable result file under `results` in a stable order, and a warning naming each
    file that was skipped and why (unreadable, foreign, of another schema)."""
    check_results_dir(results)
    if not results.is_dir():
        raise PrunebenchError(f"results folder {results} does not exist; run `prunebench run` "
                              "first")
    paths, skipped = inside_only(results, result_paths(results))
    records, unusable = _scan(paths, read_result)
    return once_each(records, skipped + unusable)


def result_paths(results: Path) -> list[Path]:
    """The cells' result files of a results folder: `<scenario>/*.json`, not the baselines,
    speed sweeps, sensitivity curves, verifications or boards beside them."""
    return sorted(p for p in results.glob("*/*.json")
                  if p.parent.name not in (BASELINES, SPEED, SENSITIVITY, VERIFIED, "leaderboards"))


def inside_only(results: Path, paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The paths that stay inside `results` (links followed), and a warning for each other."""
    inside = [p for p in paths if within(results, p)]
    return inside, [f"skipped {p}: a link that leads out of {results} (to {p.resolve()})"
                    for p in paths if p not in inside]


def once_each(records: list[Record], skipped: list[str]) -> tuple[list[Record], list[str]]:
    """Two files of one cell (a copy under another name) are one seed, not two: the first in
    path order counts, the others are skipped with a warning."""
    seen: dict[tuple[str, str], Record] = {}
    kept = []
    for record in records:
        key = (record.scenario, record.config_hash)
        if record.config_hash and key in seen:
            skipped.append(f"skipped a second result of the cell {record.criterion.label}, "
                           f"{record.target}, seed {record.seed} (configuration hash "
                           f"{record.config_hash}): counted once")
            continue
        seen[key] = record
        kept.append(record)
    return kept, skipped


R = TypeVar("R")


def _scan(paths: list[Path], read: Callable[[Path], R]) -> tuple[list[R], list[str]]:
    records, skipped = [], []
    for path in paths:
        try:
            records.append(read(path))
        except PrunebenchError as exc:
            skipped.append(f"skipped {exc}")
    return records, skipped


def read_results(results: Path) -> list[Record]:
    """Every usable result file under `results`, in a stable order (see `scan_results`)."""
    return scan_results(results)[0]


def save_speed(results: Path, report: dict, argv: list[str], device: torch.device,
               repeats: int) -> Path:
    """A speed sweep as a record: its rows with the command, commit and hardware that made them.
    A per-layer report (`report["layers"]`, its batch size) is saved beside the sweeps as
    `<scenario>--<target>--<device>--layers.json`."""
    check_results_dir(results)
    first = report["rows"][0]
    kind = "--layers" if report.get("layers") else ""
    name = f"{_safe(first['scenario'])}--{_safe(first['target'])}--{device.type}{kind}.json"
    return write_json(results / SPEED / name, {
        "schema_version": SPEED_SCHEMA_VERSION, "scenario": first["scenario"],
        "target": first["target"], "widths": list(report["widths"]), "repeats": repeats,
        "command": shlex.join(["prunebench", *argv]), "environment": environment(device),
        "rows": report["rows"], **({"layers": report["layers"]} if kind else {})})


def scan_speed_results(results: Path) -> tuple[list[SpeedSweep], list[str]]:
    """Every usable saved speed sweep under `results`, in a stable order, and the skipped."""
    paths, skipped = inside_only(results, sorted((results / SPEED).glob("*.json")))
    records, unusable = _scan(paths, read_speed)
    return records, skipped + unusable


def finished(path: Path) -> Record | None:
    """The result at `path` if its cell is done; None if it is missing or failed."""
    if not path.exists():
        return None
    try:
        record = read_result(path)
    except PrunebenchError:  # unusable (half a file from another tool, damaged): run it again
        return None
    return record if record.done() else None


def save_verification(results: Path, result: Path, report: dict) -> Path:
    """A `prunebench verify --record` outcome beside the results: which result (its path in the
    folder and configuration hash), whether every number was equal, how (exact on the recorded
    machine kind or not), and the machine and prunebench that checked it."""
    check_results_dir(results)
    return write_json(results / VERIFIED / f"{result.stem}.json", {
        "schema_version": 1, "result": str(result.resolve().relative_to(results.resolve())),
        **report, "environment": environment(torch.device("cpu"))})


def scan_verifications(results: Path) -> dict[str, str]:
    """The configuration hashes a recorded verification found equal: "exact" or "statistical"
    (another machine kind). A file that is not one is left out."""
    found: dict[str, str] = {}
    paths, _ = inside_only(results, sorted((results / VERIFIED).glob("*.json")))
    for path in paths:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(value, dict) and value.get("schema_version") == 1 and \
                value.get("passed") is True and isinstance(value.get("config_hash"), str):
            found[value["config_hash"]] = "exact" if value.get("exact") is True else "statistical"
    return found
