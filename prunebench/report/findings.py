"""What a board found, in plain sentences for the leaderboards' README, each traceable to a line
of the board: per table, which rows lie above or below `l1`, `random` and `scratch` with
confidence (the paired 95% interval of the after-FT difference in the table's `Δ after FT vs ...`
column excludes zero), how many the seeds cannot tell apart (and the power line's detectable
difference), and how far the rows' order moves between levels and between the two tracks (the
rank-stability section's Kendall's tau). Built from the same statistics as the board, so it
regenerates with it.
"""

from __future__ import annotations

import math
import statistics

from prunebench.report.leaderboard import Board, Scores, Section
from prunebench.report.paired import Paired, compare, detectable_difference
from prunebench.report.stats import kendall_tau

#: the reference rows each table is read against, in this order
AGAINST = ("l1", "random", "scratch")
#: at most this many names are listed in a sentence; the rest are counted
LISTED = 8


def _names(found: list[tuple[str, Paired]]) -> str:
    shown = [f"{name} ({p.text()})" for name, p in found[:LISTED]]
    more = len(found) - LISTED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _against(scores: Scores, ref: str) -> str | None:
    """One sentence: the rows above and below `ref` with confidence, and how many are not told
    apart from it."""
    if ref not in scores.after:
        return None
    pairs = [(name, p) for name in scores.after if name != ref
             and (p := compare(scores.after[name], scores.after[ref])) is not None and p.n >= 2]
    if not pairs:
        return None
    pairs.sort(key=lambda item: (-item[1].mean, item[0]))
    above = [(n, p) for n, p in pairs if p.low > 0]
    below = [(n, p) for n, p in pairs if p.high < 0]
    tied = len(pairs) - len(above) - len(below)
    std = statistics.median(p.std for _, p in pairs)
    n = int(statistics.median(p.n for _, p in pairs))
    parts = [f"above `{ref}`: {_names(above)}" if above else f"none above `{ref}`"]
    if below:
        parts.append(f"below it: {_names(below)}")
    if tied:
        parts.append(f"{tied} not told apart from it (with {n} seeds a true difference under "
                     f"{detectable_difference(std, n):.2f} points is missed more than 1 time in "
                     "5)")
    return "; ".join(parts) + "."


def section_findings(section: Section) -> list[str]:
    """Markdown list lines for one table, the first naming it."""
    if section.scores is None:
        return []
    sentences = [s for ref in AGAINST if (s := _against(section.scores, ref)) is not None]
    if not sentences:
        return []
    return [f"- {section.title}, after fine-tuning, from the paired 95% intervals under its table "
            "(`Δ after FT vs ...`):", *(f"  - {s[0].upper()}{s[1:]}" for s in sentences)]


def _track(section: Section) -> str:
    return "global" if section.is_global else "fixed"


def order_findings(board: Board) -> list[str]:
    """Per budget with several levels: the range of Kendall's tau between levels of one track,
    and between a fixed-width level and a global one."""
    lines = []
    budgets = sorted({s.budget for s in board.sections})
    for budget in budgets:
        scored = [s for s in board.sections if s.budget == budget and s.scores is not None]
        pairs: dict[str, list[tuple[float, str]]] = {"within": [], "across": []}
        for i, a in enumerate(scored):
            for b in scored[i + 1:]:
                assert a.scores is not None and b.scores is not None
                tau, n = kendall_tau({k: v.mean for k, v in a.scores.summaries.items()},
                                     {k: v.mean for k, v in b.scores.summaries.items()})
                if math.isnan(tau) or n < 3:
                    continue
                kind = "within" if _track(a) == _track(b) else "across"
                pairs[kind].append((tau, f"`{a.target}` vs `{b.target}`"))
        for kind, what in (("within", "between levels of one track"),
                           ("across", "between the fixed-width and the global track")):
            found = sorted(pairs[kind])
            if not found:
                continue
            low, high = found[0], found[-1]
            spread = f"{low[0]:+.2f} ({low[1]})" if len(found) == 1 else \
                f"from {low[0]:+.2f} ({low[1]}) to {high[0]:+.2f} ({high[1]})"
            lines.append(f"- Budget `{budget}`, the rows' mean after-FT order {what}: Kendall's "
                         f"tau {spread} (rank stability section; 1: same order, 0: unrelated).")
    return lines


def board_findings(board: Board) -> list[str]:
    """Every finding of a board, as markdown list lines."""
    lines = []
    for section in board.sections:
        lines += section_findings(section)
    return lines + order_findings(board)
