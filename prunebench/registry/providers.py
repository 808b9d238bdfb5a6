"""Who provides each name of an entry-point group, read from package metadata alone (no plugin
is imported), and the one rule for a name claimed more than once.

Criteria (`prunebench.criteria`) and rows (`prunebench.scenarios`) are registered the same way:
one entry point per name, named after what it provides, so a run knows every name before it
imports anything and imports only what it uses. The rule for a name claimed twice is the same for
both groups:

- a name claimed by one distribution is that distribution's;
- a name claimed by a first-party distribution (prunebench and the criterion packages under its
  `plugins/`) stays first-party: a third party claiming it too is refused ("rename it"), so
  installing a plugin can never change or disable what a published board's `l1` or
  `lenet5-digits` means;
- a name claimed by two third parties (or two first-party packages) is refused for both: neither
  the order of installation nor sys.path decides ("uninstall all but one").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points

#: the distributions this repository ships: the core and its criterion packages (plugins/all.txt)
FIRST_PARTY = ("prunebench", "prunebench-baselines", "prunebench-classic",
               "prunebench-clustering", "prunebench-stability")


@dataclass(frozen=True)
class Provider:
    """Who provides one name, known without importing it; `conflict` says why it is refused."""

    name: str
    target: str  # "module:attribute"
    distribution: str
    version: str
    conflict: str | None = None

    @property
    def source(self) -> str:
        return f"{self.distribution} {self.version}".strip()

    @property
    def where(self) -> str:
        """How a message names it: entry point, target and distribution."""
        return f"'{self.name}' ({self.target}) from {self.source}"

    @property
    def first_party(self) -> bool:
        return self.distribution in FIRST_PARTY

    def load(self, group: str) -> object:
        """The object the entry point names; ValueError saying why when importing fails in
        any way (a plugin's `sys.exit()` included)."""
        try:
            return EntryPoint(name=self.name, value=self.target, group=group).load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin may fail in any way while importing
            raise ValueError(f"import failed with {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Providers:
    """A group's names: each name's provider (with `conflict` set when two claim it alike), and
    the third-party claims refused because a first-party distribution has the name."""

    by_name: dict[str, Provider]
    refused: tuple[Provider, ...]


def _provider(ep: EntryPoint) -> Provider:
    dist = ep.dist
    if dist is None:  # an entry point made in code, not installed by a distribution
        return Provider(ep.name, ep.value, "unknown distribution", "")
    return Provider(ep.name, ep.value, dist.name, dist.version)


def providers(group: str, kind: str) -> Providers:
    """Every name of `group` by name (sorted) under the rule above; `kind` ("criterion",
    "scenario") names what a message is about."""
    claims: dict[str, list[Provider]] = {}
    for ep in entry_points(group=group):
        claim = _provider(ep)
        same = claims.setdefault(ep.name, [])
        if claim not in same:  # one distribution visible twice on sys.path is not a conflict
            same.append(claim)
    by_name, refused = {}, []
    for name in sorted(claims):
        first = [c for c in claims[name] if c.first_party]
        others = [c for c in claims[name] if not c.first_party]
        if len(first) == 1:
            owner = first[0]
            by_name[name] = owner
            refused += [replace(c, conflict=f"{kind} '{name}' is {owner.source}'s (first "
                                            "party); rename yours") for c in others]
            continue
        claimants = sorted(first or others, key=lambda c: (c.distribution, c.version))
        if len(claimants) == 1:
            by_name[name] = claimants[0]
            continue
        owners = ", ".join(c.source for c in claimants)
        by_name[name] = replace(claimants[0], conflict=f"provided by several distributions "
                                                       f"({owners}); uninstall all but one")
    return Providers(by_name, tuple(refused))
