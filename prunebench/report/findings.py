"""What a board found, in plain sentences for the leaderboards' README, each traceable to a line
of the board and made only from its corrected tests (verdict.py): per table, whether the rows
differ at all (the omnibus test), which criteria are better than, worse than, or equivalent to
`l1` and `random` (Dunnett's many-to-one verdicts), where the best criterion stands against the
controls (Tukey's letters), and how far the rows' order moves between levels and between the two
tracks (Kendall's tau of the means, the rank stability section's, against the chance band of
unrelated orders and each level's agreement with itself between halves of its seeds), and
how far the one-shot track's order predicts the fine-tuned one's. A board's conclusion, two or
three sentences, opens the index.
"""

from __future__ import annotations

import math

from prunebench.protocol.config import SCRATCH_E, UNPRUNED_FT, is_control
from prunebench.report.blocked import detectable, p_text
from prunebench.report.board import Board, Section
from prunebench.report.one_shot import GLOBAL_SWEEP
from prunebench.report.stats import kendall_tau, pairwise_taus, tau_chance
from prunebench.report.verdict import REFERENCES, Scores, verdict_counts

#: at most this many names are listed in a sentence; the rest are counted
LISTED = 8


def _names(rows: list[str]) -> str:
    shown = ", ".join(f"`{r}`" for r in rows[:LISTED])
    more = len(rows) - LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _against(scores: Scores, ref: str) -> str | None:
    """One sentence: the criteria better than, worse than and equivalent to `ref`, and how many
    the table cannot tell apart from it."""
    if scores.model is None or ref not in scores.model.rows:
        return None
    found = {k: [r for r in rows if not is_control(r)] for k, rows in
             verdict_counts(scores, ref).items()}
    parts = [f"better than `{ref}`: {_names(found['better'])}" if found.get("better") else
             f"none better than `{ref}`"]
    for verdict in ("worse", "equivalent"):
        if found.get(verdict):
            parts.append(f"{verdict}: {_names(found[verdict])}")
    if found.get("not told apart"):
        power = detectable(scores.model)
        within = " (no residual spread: the exact sign test cannot reach 5% over " \
            f"{len(scores.model.seeds)} seeds)" if scores.model.exact else \
            f" (the test detects {power:.2f} points with 80% probability)" \
            if math.isfinite(power) else ""
        parts.append(f"{len(found['not told apart'])} not told apart{within}")
    return "; ".join(parts) + "."


def _controls(scores: Scores) -> str | None:
    """Where the best criterion stands against the controls, by Tukey's letters."""
    model = scores.model
    if model is None:
        return None
    criteria = [r for r in model.rows if not is_control(r)]
    if not criteria:
        return None
    best = max(criteria, key=lambda r: model.means[r])
    parts = []
    for control in (UNPRUNED_FT, SCRATCH_E, "scratch-b"):
        if control not in model.rows:
            continue
        gap = model.means[best] - model.means[control]
        apart = not set(scores.letters[best]) & set(scores.letters[control])
        where = ("above" if gap > 0 else "below") if apart else "not told apart from"
        parts.append(f"{where} `{control}` ({gap:+.2f})")
    if not parts:
        return None
    return f"The best criterion, `{best}`, is {', '.join(parts)}."


def section_findings(section: Section) -> list[str]:
    """Markdown list lines for one table, the first naming it."""
    scores = section.scores
    if scores is None or scores.model is None:
        return []
    model = scores.model
    omnibus = ("the rows differ" if model.p_value < 0.05 else "no evidence that the rows differ") \
        + (f" (F = {model.f:.2f}, {p_text(model.p_value)})" if not model.exact else
           f" (exact sign test, {p_text(model.p_value)})")
    sentences = [s for ref in REFERENCES if (s := _against(scores, ref)) is not None]
    if (controls := _controls(scores)) is not None:
        sentences.append(controls)
    return [f"- {section.title}, over {len(model.seeds)} seeds: {omnibus}.",
            *(f"  - {s[0].upper()}{s[1:]}" for s in sentences)]


def _track(section: Section) -> str:
    return "global" if section.is_global else "fixed"


def _means(section: Section) -> dict[str, float]:
    assert section.scores is not None
    return {k: v.mean for k, v in section.scores.summaries.items()}


def _spread(found: list[tuple[float, int, str]]) -> str:
    """`+0.30 (a vs b)` or `from +0.30 (a vs b) to +0.74 (c vs d)`, with the chance band of the
    rows compared (from the most rows' to the fewest's where the pairs differ)."""
    found = sorted(found)
    low, high = found[0], found[-1]
    spread = f"{low[0]:+.2f} ({low[2]})" if len(found) == 1 else \
        f"from {low[0]:+.2f} ({low[2]}) to {high[0]:+.2f} ({high[2]})"
    counts = sorted({n for _, n, _ in found})
    band = f"±{tau_chance(counts[0]):.2f} over {counts[0]} rows" if len(counts) == 1 else \
        f"±{tau_chance(counts[-1]):.2f} to ±{tau_chance(counts[0]):.2f} over {counts[-1]} to " \
        f"{counts[0]} rows"
    return f"{spread}; chance alone stays within {band}"


def _halves(sections: list[Section]) -> str:
    """The range of the levels' agreement with themselves between halves of their seeds."""
    values = sorted(v for s in sections if s.scores is not None
                    and not math.isnan(v := s.scores.split_half))
    if not values:
        return ""
    shown = f"{values[0]:+.2f}" if f"{values[0]:+.2f}" == f"{values[-1]:+.2f}" else \
        f"from {values[0]:+.2f} to {values[-1]:+.2f}"
    return f"; a level's order over half its seeds against the other half: {shown}"


def order_findings(board: Board) -> list[str]:
    """Per budget with several levels: the range of Kendall's tau between levels of one track,
    and between a fixed-width level and a global one, against the chance band of unrelated
    orders (stats.tau_chance) and the levels' agreement with themselves between halves of
    their seeds (blocked.split_half_tau)."""
    lines = []
    budgets = sorted({s.budget for s in board.sections})
    for budget in budgets:
        scored = [s for s in board.sections if s.budget == budget and s.scores is not None
                  and s.sweep is None]
        pairs: dict[str, list[tuple[float, int, str]]] = {"within": [], "across": []}
        for i, j, tau, n in pairwise_taus({i: _means(s) for i, s in enumerate(scored)}):
            if math.isnan(tau) or n < 3:
                continue
            a, b = scored[i], scored[j]
            kind = "within" if _track(a) == _track(b) else "across"
            pairs[kind].append((tau, n, f"`{a.target}` vs `{b.target}`"))
        for kind, what in (("within", "between levels of one track"),
                           ("across", "between the fixed-width and the global track")):
            if pairs[kind]:
                lines.append(f"- Budget `{budget}`, the rows' mean after-FT order {what}: "
                             f"Kendall's tau {_spread(pairs[kind])}{_halves(scored)} (rank "
                             "stability section; 1: same order, 0: unrelated).")
    return lines + one_shot_findings(board)


def one_shot_findings(board: Board) -> list[str]:
    """Per one-shot sweep: how far its order (the rows' areas, no training at all) predicts
    the after-FT order of the fine-tuned levels of the same kind (a uniform sweep against the
    fixed-width levels, a global one against the MACs targets), by Kendall's tau over the
    criteria both have."""
    lines = []
    for sweep in (s for s in board.sections if s.sweep is not None and s.scores is not None):
        assert sweep.sweep is not None
        wanted = sweep.sweep.kind == GLOBAL_SWEEP
        found = []
        for level in board.sections:
            if level.sweep is not None or level.scores is None or level.is_global != wanted:
                continue
            tau, n = kendall_tau({k: v for k, v in _means(sweep).items() if not is_control(k)},
                                 _means(level))
            if not math.isnan(tau) and n >= 3:
                found.append((tau, n, f"`{level.target}`, budget `{level.budget}`"))
        if found:
            what = "global" if wanted else "fixed-width"
            lines.append(f"- {sweep.title}: its order (area, no training) against the after-FT "
                         f"order of the {what} levels: Kendall's tau {_spread(found)} (how far "
                         "ranking filters without training predicts the order after fine-tuning).")
    return lines


def board_findings(board: Board) -> list[str]:
    """Every finding of a board, as markdown list lines."""
    lines = []
    for section in board.sections:
        lines += section_findings(section)
    return lines + order_findings(board)


def conclusion(board: Board) -> str:
    """The board's verdict in two or three sentences, over its accuracy tables (not the one-shot
    track's): in how many the rows differ at all, which criteria are ever better or worse than
    `l1`, and where the best criterion stands against the controls."""
    tables = [s for s in board.sections if s.scores is not None and s.scores.model is not None
              and s.sweep is None]  # the accuracy tables; the one-shot track has its own
    if not tables:
        return "Too few seeds or rows for any test yet."
    differ = sum(1 for s in tables if s.scores and s.scores.model
                 and not s.scores.model.exact and s.scores.model.p_value < 0.05)
    better: set[str] = set()
    worse: set[str] = set()
    below_scratch = 0
    for s in tables:
        assert s.scores is not None
        found = verdict_counts(s.scores, "l1")
        better |= {r for r in found.get("better", []) if not is_control(r)}
        worse |= {r for r in found.get("worse", []) if not is_control(r)}
        text = _controls(s.scores) or ""
        below_scratch += f"below `{SCRATCH_E}`" in text
    seeds = sorted({len(s.scores.model.seeds) for s in tables if s.scores and s.scores.model})
    counted = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    first = (f"Over {len(tables)} table{'s' if len(tables) > 1 else ''} ({counted} seeds each), "
             f"the omnibus test finds that the rows differ in {differ}.")
    second = (f"Against `l1` (Dunnett, 5% family-wise per table), criteria better somewhere: "
              f"{_names(sorted(better)) or 'none'}; worse somewhere: "
              f"{_names(sorted(worse)) or 'none'}.")
    third = (f"The best criterion of a table lies below `{SCRATCH_E}` (Tukey) in {below_scratch} "
             f"of {len(tables)} tables.") if any(
        s.scores and s.scores.model and SCRATCH_E in s.scores.model.rows for s in tables) \
        else ""
    return " ".join(x for x in (first, second, third) if x)
