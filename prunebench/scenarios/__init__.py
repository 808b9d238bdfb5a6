"""The rows of the matrix, found through the entry-point group `prunebench.scenarios`.

One entry point per row, named after it, naming a Scenario or a callable returning one. The
matrix's own rows are registered that way by the core distribution, exactly as a third party
registers its own (`pyproject.toml`), and under the same rule for a name claimed twice as the
criteria (`prunebench.registry.providers`): the names are known from metadata alone and a row's
module is imported only when the row is used. A plugin that fails to import, gives something
else, or claims a name it may not have is *broken*: `broken()` says why in one line naming it,
and every other row still works. Rows are read once per process (`refresh()` reads them again).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.protocol.defaults import DEFAULT_SCENARIO
from prunebench.registry.providers import Provider, Providers, providers
from prunebench.scenarios.base import Scenario

DEFAULT = DEFAULT_SCENARIO
GROUP = "prunebench.scenarios"
CORE = "prunebench"  # the distribution whose entry points register the matrix's own rows
CORE_ORDER = ("lenet5-digits", "lenet5-mnist", "lenet5-fashionmnist", "lenet5bn-fashionmnist",
              "vgg16-cifar10", "vgg16-cifar100", "resnet50-imagenet", "fasterrcnn-coco",
              "fasterrcnn-coco-transfer")  # the matrix's order, the default row first


@dataclass(frozen=True)
class Broken:
    """An entry point that gave no usable scenario, and why."""

    plugin: str  # "'<entry point>' (<module:attribute>) from <distribution> <version>"
    problem: str

    def line(self) -> str:
        return f"scenario plugin {self.plugin}: {self.problem}"


@cache
def _providers() -> Providers:
    found = providers(GROUP, "scenario")
    if not any(p.distribution == CORE for p in found.by_name.values()):
        raise PrunebenchError(f"prunebench's own scenarios are not registered (no entry points "
                              f"of {GROUP} from {CORE}): reinstall it, e.g. `pip install -e .`")
    return found


def _order(name: str) -> tuple[int, int, str]:
    """The core's rows in the matrix's order, then the plugins' by name."""
    p = _providers().by_name[name]
    if p.distribution == CORE and name in CORE_ORDER:
        return 0, CORE_ORDER.index(name), ""
    return 1, 0, name


def names() -> list[str]:
    """Every registered row's name in the matrix's order, known without importing any row."""
    return sorted(_providers().by_name, key=_order)


def _scenario_of(p: Provider) -> Scenario:
    """The row an entry point names; ValueError with the reason when it names none."""
    if p.conflict:
        raise ValueError(p.conflict)
    obj = p.load(GROUP)
    if callable(obj) and not isinstance(obj, Scenario):
        try:
            obj = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin may fail in any way, sys.exit() included
            raise ValueError(f"calling {p.target} failed with {type(exc).__name__}: {exc}") \
                from exc
    if not isinstance(obj, Scenario):
        raise ValueError(f"gave {obj!r} where a prunebench.scenarios.base.Scenario belongs "
                         "(one entry point per row, named after it)")
    if obj.name != p.name:
        raise ValueError(f"gave scenario '{obj.name}'; name the entry point after its row")
    return replace(obj, source=p.source)


@cache
def _load(name: str) -> Scenario | Broken:
    p = _providers().by_name[name]
    try:
        return _scenario_of(p)
    except ValueError as exc:
        return Broken(p.where, str(exc))


def registry() -> dict[str, Scenario]:
    """Every working row by name, in the matrix's order (this imports every row)."""
    loaded = {name: _load(name) for name in names()}
    return {name: row for name, row in loaded.items() if isinstance(row, Scenario)}


def refresh() -> None:
    """Read the installed rows again (after installing a plugin in this process)."""
    _providers.cache_clear()
    _load.cache_clear()


def broken() -> list[Broken]:
    """The scenario plugins that gave no usable row, with why."""
    refused = [Broken(p.where, p.conflict or "") for p in _providers().refused]
    return refused + [row for name in names() if isinstance(row := _load(name), Broken)]


def get(name: str) -> Scenario:
    """One row, importing only its own module."""
    if name in _providers().by_name:
        row = _load(name)
        if isinstance(row, Broken):
            raise PrunebenchError(row.line())
        return row
    known = names()
    raise PrunebenchError(f"unknown scenario '{name}'{did_you_mean(name, known)}; choose "
                          f"one of {', '.join(known)} (see `prunebench list --scenarios`)")
