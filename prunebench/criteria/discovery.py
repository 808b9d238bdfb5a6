"""Which criteria are installed, known from the packages' metadata alone: no plugin and no
torch is imported, so a run can refuse an unknown criterion before its heavy imports."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from prunebench.errors import PrunebenchError, did_you_mean

GROUP = "prunebench.criteria"


@dataclass(frozen=True)
class PluginInfo:
    """Where a criterion comes from, known without importing it."""

    name: str
    target: str  # "module:attribute"
    distribution: str
    version: str
    conflict: str | None = None  # set when several distributions claim the same name


def _info(ep: EntryPoint) -> PluginInfo:
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        target=ep.value,
        distribution=dist.name if dist is not None else "unknown",
        version=dist.version if dist is not None else "unknown",
    )


def discover() -> dict[str, PluginInfo]:
    """All installed criteria by name, sorted, without importing any of them."""
    found: dict[str, list[PluginInfo]] = {}
    for ep in entry_points(group=GROUP):
        info = _info(ep)
        same = found.setdefault(ep.name, [])
        if info not in same:  # one distribution visible twice on sys.path is not a conflict
            same.append(info)
    result = {}
    for name in sorted(found):
        infos = found[name]
        if len(infos) > 1:
            owners = ", ".join(f"{i.distribution} {i.version}" for i in infos)
            conflict = f"provided by several distributions ({owners}); uninstall all but one"
            result[name] = PluginInfo(name, infos[0].target, infos[0].distribution,
                                      infos[0].version, conflict)
        else:
            result[name] = infos[0]
    return result


def unknown(name: str, available: dict[str, PluginInfo]) -> PrunebenchError | None:
    """The one-line error for a criterion nobody provides, or None when one does."""
    if name in available:
        return None
    known = ", ".join(available) or "none installed"
    return PrunebenchError(
        f"unknown criterion '{name}'{did_you_mean(name, available)} (installed: {known}); "
        "see `prunebench list` or pip install the plugin that provides it")
