"""The command line's own texts turned into values (`--seeds 0,1`, `--criteria l1,x:lam=5e-6`,
`--shard 2/4`, ...), each refused in one line that says what to write instead. Without torch, so
`cli/early.py` checks them before the heavy imports."""

from __future__ import annotations

from prunebench.errors import PrunebenchError, did_you_mean
from prunebench.protocol.config import CONTROLS


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N): the K-th of N disjoint slices of the matrix, K from 1 to N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise PrunebenchError(f"--shard '{text}' must look like K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise PrunebenchError(f"--shard {text}: K must be between 1 and N")
    return k, n


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise PrunebenchError(f"--batch-sizes '{text}' must be comma-separated integers") from None
    if any(s < 1 for s in sizes):
        raise PrunebenchError(f"--batch-sizes '{text}' must be positive")
    return sizes


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise PrunebenchError(f"--widths '{text}' must be comma-separated integers, e.g. "
                              "4,14") from None
    return widths


def parse_macs_reduction(text: str) -> str:
    """`--macs-reduction 2.5` -> the target name `macs-2.5x`."""
    try:
        factor = float(text)
    except ValueError:
        raise PrunebenchError(f"--macs-reduction '{text}' is not a number; give a factor like "
                              "2 (half the MACs)") from None
    if not 1.0 < factor < 1e6:
        raise PrunebenchError(f"--macs-reduction {text} must be more than 1 (the unpruned "
                              "MACs over the pruned), e.g. 2")
    return f"macs-{factor:g}x"


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise PrunebenchError(f"--seeds '{text}' must be comma-separated integers, e.g. "
                              "0,1,2") from None
    if any(not 0 <= s < 2**32 for s in seeds) or len(set(seeds)) != len(seeds):
        raise PrunebenchError(f"--seeds '{text}' must be distinct integers from 0 to 2**32 - 1")
    return seeds


def parse_criteria(text: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """`--criteria l1,stability:lam=5e-6,epochs=2` -> (("l1", ()), ("stability", (("lam",
    "5e-6"), ("epochs", "2")))): a criterion's settings follow its name after ':' as key=value,
    further ones after ',' or ':'. Values stay text; the criterion's signature converts them."""
    specs: list[tuple[str, list[tuple[str, str]]]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, *pairs = part.split(":")
        if "=" in name:  # key=value after a comma: another setting of the criterion before
            if not specs:
                raise PrunebenchError(f"--criteria '{text}' starts with a setting; write "
                                      "NAME:key=value, e.g. stability:lam=5e-6")
            pairs = [name, *pairs]
        else:
            specs.append((name.strip(), []))
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise PrunebenchError(f"--criteria: '{pair}' is not a setting; write "
                                      "NAME:key=value, e.g. stability:lam=5e-6")
            name, given = specs[-1]
            if key.strip() in dict(given):
                raise PrunebenchError(f"--criteria: {name} sets '{key.strip()}' twice; give "
                                      "each setting once")
            given.append((key.strip(), value.strip()))
    if not specs:
        raise PrunebenchError("--criteria is empty; give comma-separated names")
    unique = {(name, tuple(pairs)): None for name, pairs in specs}
    return tuple(unique)


def parse_controls(text: str) -> tuple[str, ...]:
    """`--controls unpruned-ft,scratch-e` -> those controls; `none` -> no control rows."""
    if text.strip() == "none":
        return ()
    names = parse_names(text, "--controls")
    unknown = [n for n in names if n not in CONTROLS]
    if unknown:
        raise PrunebenchError(f"--controls: unknown control '{unknown[0]}'"
                              f"{did_you_mean(unknown[0], CONTROLS)}; choose among "
                              f"{', '.join(CONTROLS)}, or none")
    return names


def parse_names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise PrunebenchError(f"{option} is empty; give comma-separated names")
    return tuple(dict.fromkeys(names))
