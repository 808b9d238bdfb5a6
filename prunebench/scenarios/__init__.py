"""The rows of the matrix, found through the entry-point group `prunebench.scenarios`.

An entry point names a Scenario, or a callable returning one or a list of them. The matrix's own
rows are registered that way by the core distribution, exactly as a third party registers its
own (`pyproject.toml`). A plugin that fails to import, returns something else, or claims a name
another already took is *broken*: `broken()` says why in one line naming it, and every other
row still works. Rows are read once per process (`refresh()` reads them again).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.protocol.defaults import DEFAULT_SCENARIO
from prunebench.scenarios.base import Scenario

DEFAULT = DEFAULT_SCENARIO
GROUP = "prunebench.scenarios"
CORE = "prunebench"  # the distribution whose entry points register the matrix's own rows
CORE_ORDER = ("lenet5", "vgg16", "resnet50", "fasterrcnn")  # its entry points' names


@dataclass(frozen=True)
class Broken:
    """An entry point that gave no usable scenario, and why."""

    plugin: str  # "<entry point> (<module:attribute>) from <distribution> <version>"
    problem: str

    def line(self) -> str:
        return f"scenario plugin {self.plugin}: {self.problem}"


def _where(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    source = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"'{ep.name}' ({ep.value}) from {source}", source


def _scenarios_of(ep: EntryPoint) -> list[Scenario]:
    """The rows an entry point names; ValueError with the reason when it names none."""
    try:
        obj = ep.load()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may fail in any way, sys.exit() included
        raise ValueError(f"import failed with {type(exc).__name__}: {exc}") from exc
    if callable(obj) and not isinstance(obj, Scenario):
        try:
            obj = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise ValueError(f"calling {ep.value} failed with {type(exc).__name__}: {exc}") \
                from exc
    rows = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    wrong = [r for r in rows if not isinstance(r, Scenario)]
    if wrong or not rows:
        raise ValueError(f"gave {wrong[0]!r} where a prunebench.scenarios.base.Scenario (or a "
                         "list of them) belongs" if wrong else "gave no scenario")
    return rows


def _is_core(ep: EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == CORE


def _order(ep: EntryPoint) -> tuple[int, int, str]:
    """The core's rows in the matrix's order (the default row first), then the plugins' by
    name."""
    if _is_core(ep) and ep.name in CORE_ORDER:
        return 0, CORE_ORDER.index(ep.name), ""
    return 1, 0, ep.name


@cache
def _discover() -> tuple[tuple[Scenario, ...], tuple[Broken, ...]]:
    rows: dict[str, Scenario] = {}
    broken: list[Broken] = []
    core_seen = False
    seen: set[str] = set()
    for ep in sorted(entry_points(group=GROUP), key=_order):
        plugin, source = _where(ep)
        if plugin in seen:  # one distribution visible twice on sys.path
            continue
        seen.add(plugin)
        core_seen |= _is_core(ep)
        try:
            found = _scenarios_of(ep)
        except ValueError as exc:
            broken.append(Broken(plugin, str(exc)))
            continue
        names = [r.name for r in found]
        taken = [n for n in names if n in rows or names.count(n) > 1]
        if taken:
            owner = rows[taken[0]].source if taken[0] in rows else "this plugin twice"
            broken.append(Broken(plugin, f"scenario '{taken[0]}' is already provided by "
                                         f"{owner}; rename it"))
            continue
        for row in found:
            rows[row.name] = replace(row, source=source)
    if not core_seen:
        raise PrunebenchError(f"prunebench's own scenarios are not registered (no entry points "
                              f"of {GROUP} from {CORE}): reinstall it, e.g. `pip install -e .`")
    return tuple(rows.values()), tuple(broken)


def registry() -> dict[str, Scenario]:
    """Every working row by name: the core's first, then the plugins', each by entry point."""
    return {s.name: s for s in _discover()[0]}


def refresh() -> None:
    """Read the installed rows again (after installing a plugin in this process)."""
    _discover.cache_clear()


def broken() -> list[Broken]:
    """The scenario plugins that gave no usable row, with why."""
    return list(_discover()[1])


def get(name: str) -> Scenario:
    known = registry()
    if name not in known:
        refused = [b for b in broken() if f"'{name}'" in b.plugin]
        if refused:
            raise PrunebenchError(refused[0].line())
        raise PrunebenchError(f"unknown scenario '{name}'{did_you_mean(name, known)}; choose "
                              f"one of {', '.join(known)} "
                              "(see `prunebench list --scenarios`)")
    return known[name]
