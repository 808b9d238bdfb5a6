"""Which criteria are installed, known from the packages' metadata alone: no plugin and no
torch is imported, so a run can refuse an unknown criterion before its heavy imports. The
duplicate-name rule is the one every entry-point group follows (`prunebench.registry`)."""

from __future__ import annotations

from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.registry.providers import Provider, Providers, providers

GROUP = "prunebench.criteria"


def listing() -> Providers:
    """The installed criteria by name, sorted, and the third-party claims refused because a
    first-party package has their name; read from metadata once, nothing imported."""
    return providers(GROUP, "criterion")


def discover() -> dict[str, Provider]:
    """All installed criteria by name, sorted, without importing any of them."""
    return listing().by_name


def unknown(name: str, available: dict[str, Provider]) -> PrunebenchError | None:
    """The one-line error for a criterion nobody provides, or None when one does."""
    if name in available:
        return None
    known = ", ".join(available) or "none installed"
    return PrunebenchError(
        f"unknown criterion '{name}'{did_you_mean(name, available)} (installed: {known}); "
        "see `prunebench list` or pip install the plugin that provides it")
