"""Criterion discovery through the entry-point group `prunebench.criteria`.

Listing reads package metadata only; a criterion's code is imported when a run asks for it (or when
`prunebench list` checks it), one plugin at a time, so one broken package cannot take down the rest.
Every loaded criterion is remembered with the distribution and version that supplied it.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import NoneType, UnionType

from prunebench.criteria.discovery import GROUP, discover, unknown
from prunebench.criterion import NEEDS, Criterion, Limits
from prunebench.errors import CriterionError, PrunebenchError
from prunebench.protocol.config import CriterionSpec, Setting
from prunebench.registry.providers import Provider


@dataclass(frozen=True)
class LoadedCriterion:
    """A criterion class that passed the contract checks, with its provenance."""

    info: Provider
    cls: type[Criterion]

    @property
    def description(self) -> str:
        """The first paragraph of the class docstring, on one line."""
        doc = inspect.getdoc(self.cls) or ""
        return " ".join(doc.split("\n\n")[0].split())


def load(name: str, available: dict[str, Provider] | None = None) -> LoadedCriterion:
    """Import one criterion and check it against the contract.

    Raises PrunebenchError for a name nobody provides (a typo stops the run), and CriterionError
    for a plugin that is ambiguous, fails to import or breaks the contract (only its cells fail).
    """
    available = discover() if available is None else available
    missing = unknown(name, available)
    if missing is not None:
        raise missing
    info = available[name]
    if info.conflict:
        raise CriterionError(name, info.conflict)
    where = f"from {info.source} ({info.target})"
    try:
        obj = info.load(GROUP)
    except ValueError as exc:
        raise CriterionError(name, f"{where} is broken: {exc}") from exc
    problem = contract_problem(obj)
    if problem:
        raise CriterionError(name, f"{where} is refused: {problem}")
    return LoadedCriterion(info, typing.cast(type[Criterion], obj))


def contract_problem(obj: object) -> str | None:
    """Why `obj` cannot serve as a criterion class, or None if it can."""
    if not (inspect.isclass(obj) and issubclass(obj, Criterion)):
        return f"{obj!r} is not a subclass of prunebench.criterion.Criterion"
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        return f"{obj.__name__} does not implement {missing}"
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return (f"{obj.__name__}{inspect.signature(obj)} must be constructible with no arguments "
                "(every setting needs a default)")
    try:
        setting_types(obj)
    except TypeError as exc:
        return str(exc)
    select_params = list(inspect.signature(obj.select).parameters)
    if len(select_params) != 3:
        return (f"{obj.__name__}.select{inspect.signature(obj.select)} must be "
                "select(self, group, n_keep)")
    unknown = set(obj.needs) - set(NEEDS)
    if unknown:
        return f"{obj.__name__}.needs has {sorted(unknown)}; allowed: {list(NEEDS)}"
    limits = getattr(obj, "limits", {})
    if not isinstance(limits, Mapping) or not all(isinstance(v, Limits) for v in limits.values()):
        return f"{obj.__name__}.limits must map setting names to prunebench.criterion.Limits"
    strays = sorted(set(limits) - set(inspect.signature(obj).parameters))
    if strays:
        return f"{obj.__name__}.limits names {strays}, which are not settings of its constructor"
    if not isinstance(obj.sparsity_epochs, (int, float)) or obj.sparsity_epochs < 0:
        return f"{obj.__name__}.sparsity_epochs must be a number >= 0"
    return None


#: what a setting may be: values that a command line writes and a JSON record holds
SETTING_TYPES = (bool, int, float, str, Path)


def setting_types(cls: type[Criterion]) -> dict[str, tuple[type, ...]]:
    """Each constructor keyword of `cls` and the types its value may take, from its annotation
    (else its default's type); None among them when the annotation allows it."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception as exc:  # an annotation naming what the module does not define
        raise TypeError(f"{cls.__name__}.__init__'s annotations cannot be read ({exc})") from None
    accepted = {}
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            continue
        hint = hints.get(name, type(param.default) if param.default is not param.empty else str)
        options = typing.get_args(hint) if isinstance(hint, UnionType) or \
            typing.get_origin(hint) is typing.Union else (hint,)
        kinds = tuple(o for o in options if o is not NoneType)
        if not kinds or any(k not in SETTING_TYPES for k in kinds):
            raise TypeError(f"{cls.__name__}.__init__'s setting {name}: {hint} is not one of "
                            "bool, int, float, str, Path (or None)")
        accepted[name] = kinds + ((NoneType,) if len(kinds) < len(options) else ())
    return accepted


def _convert(text: object, kinds: tuple[type, ...]) -> object:
    """A setting's value as the constructor takes it: from the command line's text, or a value
    a plan built in Python gives (checked, an int taken as a float, a Path as its text)."""
    if not isinstance(text, str):
        return _typed(text, kinds)
    if NoneType in kinds and text.lower() in ("none", ""):
        return None
    for kind in kinds:
        if kind is bool:
            if text.lower() in ("true", "1", "yes", "false", "0", "no"):
                return text.lower() in ("true", "1", "yes")
            continue
        try:
            value = kind(text)
        except ValueError:
            continue
        if kind is float and not math.isfinite(value):
            continue
        return str(value) if kind is Path else value
    raise ValueError


def _typed(value: object, kinds: tuple[type, ...]) -> object:
    if value is None and NoneType in kinds:
        return None
    for kind in kinds:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value)
        if kind is Path and isinstance(value, Path):
            return str(value)
        if kind is not float and kind is not NoneType and type(value) is kind:
            return value
    raise ValueError


def settings_text(cls: type[Criterion]) -> str:
    """The settings a criterion takes with their defaults, e.g. `lam=1e-05`; "none" if none."""
    params = inspect.signature(cls).parameters
    return ", ".join(f"{k}={params[k].default!r}" for k in setting_types(cls)) or "none"


def bind_settings(loaded: LoadedCriterion, raw: Sequence[tuple[str, object]]) -> CriterionSpec:
    """The criterion with its settings converted by its constructor's signature; a setting it
    does not take, or a value of the wrong type, is refused naming the settings it accepts.
    A value equal to the default is left out, so it names the same row as no setting at all."""
    accepted = setting_types(loaded.cls)
    params = inspect.signature(loaded.cls).parameters
    name = loaded.info.name
    listing = ", ".join(f"{k} ({' or '.join(t.__name__ for t in kinds)}, default "
                        f"{params[k].default!r})" for k, kinds in accepted.items()) or "none"
    settings: list[Setting] = []
    for key, text in raw:
        if key not in accepted:
            raise PrunebenchError(f"criterion '{name}' has no setting '{key}'; it accepts: "
                                  f"{listing}")
        try:
            value = _convert(text, accepted[key])
        except ValueError:
            raise PrunebenchError(f"criterion '{name}': setting {key}={text!r} is not "
                                  f"{' or '.join(t.__name__ for t in accepted[key])}; it "
                                  f"accepts: {listing}") from None
        limits = loaded.cls.limits.get(key)
        wrong = limits.problem(value) if limits is not None else None
        if wrong:
            raise PrunebenchError(f"criterion '{name}': setting {key}={text} {wrong}; it "
                                  f"accepts: {listing}")
        default = params[key].default
        if value != (str(default) if isinstance(default, Path) else default):
            settings.append((key, value))
    return CriterionSpec(name, tuple(sorted(dict(settings).items())))


def bind_all(specs: Sequence[CriterionSpec], available: dict[str, Provider]
             ) -> dict[CriterionSpec, LoadedCriterion | CriterionError]:
    """The one place settings are bound: each criterion's class by its spec, the settings
    checked and converted by the class's constructor (a plan built in Python is checked as the
    command line's is; a default drops out, so `l1` and `l1:x=<default>` are one row); or why it
    cannot be loaded: unknown names and settings stop the run here (PrunebenchError), broken
    plugins fail only their own cells (the CriterionError, under the spec as given). Binding a
    bound spec gives it back unchanged."""
    loaded: dict[CriterionSpec, LoadedCriterion | CriterionError] = {}
    for spec in specs:
        try:
            found = load(spec.name, available)
        except CriterionError as exc:
            loaded.setdefault(spec, exc)
            continue
        loaded.setdefault(bind_settings(found, spec.settings), found)
    return loaded
