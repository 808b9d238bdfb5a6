"""What a table's statistics say, from its blocked model (blocked.py): the scores a table keeps,
and the lines under it: the omnibus sentence, the many-to-one intervals against the reference
rows (`l1`, `random`) with a verdict each, and the power of that test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from prunebench.report.blocked import (
    MARGIN,
    Blocked,
    ManyToOne,
    detectable,
    fit,
    letters,
    many_to_one,
    omnibus_sentence,
    rank_intervals,
    seeds_for,
    split_half_tau,
)
from prunebench.report.stats import Summary

#: the rows every other row is compared with (the headline), `--reference` changes them
REFERENCES = ("l1", "random")


@dataclass(frozen=True)
class Scores:
    """A table's scored rows: summaries, per-seed values and the blocked model's reading."""

    summaries: dict[str, Summary]
    after: dict[str, dict[int, float]]  # row name -> seed -> headline after fine-tuning
    before: dict[str, dict[int, float]]  # the same right after pruning (absent for controls)
    model: Blocked | None = None
    left_out: list[str] = field(default_factory=list)  # rows with fewer seeds than the rest
    letters: dict[str, str] = field(default_factory=dict)
    rank_ci: dict[str, tuple[int, int]] = field(default_factory=dict)

    def against(self, reference: str) -> dict[str, ManyToOne]:
        """Every row against `reference` (Dunnett on the blocked model), by row name."""
        if self.model is None:
            return {}
        return {m.row: m for m in many_to_one(self.model, reference)}

    @cached_property
    def split_half(self) -> float:
        """The order's agreement with itself between halves of its seeds (median Kendall's
        tau, blocked.split_half_tau); nan without a model."""
        return math.nan if self.model is None else split_half_tau(self.after, self.model.rows)

    def top_group(self) -> list[str]:
        """The rows sharing a letter with the row of the highest mean, best first."""
        model = self.model
        if model is None or not self.letters:
            return []
        means = model.means
        mine = set(self.letters[max(model.rows, key=lambda r: means[r])])
        return sorted((r for r in model.rows if mine & set(self.letters[r])),
                      key=lambda r: -means[r])


def scores_of(summaries: dict[str, Summary], after: dict[str, dict[int, float]],
              before: dict[str, dict[int, float]]) -> Scores:
    model, left_out = fit(after)
    found = letters(model) if model is not None else {}
    rows = list(model.rows) if model is not None else []
    return Scores(summaries, after, before, model, left_out, found, rank_intervals(after, rows))


def rank_text(scores: Scores, row: str) -> str:
    """`2-5`: the row's 95% bootstrap rank interval; `3`: one rank; '' outside the model."""
    if row not in scores.rank_ci:
        return ""
    low, high = scores.rank_ci[row]
    return str(low) if low == high else f"{low}-{high}"


def verdict_lines(scores: Scores, chosen: Sequence[str] = REFERENCES,
                  measure: str = "after FT") -> list[str]:
    """Markdown lines under a table: the omnibus sentence, each row against the references with
    Dunnett's simultaneous 95% interval and its verdict, and the test's power."""
    model = scores.model
    lines = [omnibus_sentence(model, scores.left_out)]
    if model is None:
        return lines + [""]
    references = [r for r in chosen if r in model.rows]
    if not references:
        return lines + [""]
    compared = {ref: scores.against(ref) for ref in references}
    exact = " (no residual spread: exact sign tests)" if model.exact else ""
    lines += ["", f"Each row minus {' and '.join(f'`{r}`' for r in references)} ({measure}), "
              "Dunnett's simultaneous 95% interval from the blocked model (the family: this "
              "table's comparisons with that row), and the verdict: *better* / *worse*, "
              f"*equivalent* (two one-sided tests inside ±{MARGIN:g} points) or *not told "
              f"apart*{exact}:", ""]
    header = ["row"] + [h for ref in references for h in (f"Δ vs {ref}, 95% simultaneous",
                                                         f"vs {ref}")]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(model.rows, key=lambda r: (-model.means[r], r)):
        cells = [row]
        for ref in references:
            found = compared[ref].get(row)
            cells += [found.text(), found.verdict()] if found else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""] + power_lines(model, references[0], measure) + [""]


def power_lines(model: Blocked, reference: str, measure: str) -> list[str]:
    """The smallest true difference from `reference` the table's Dunnett test detects with 80%
    power, and how many seeds would detect the equivalence margin."""
    n = len(model.seeds)
    if model.exact:
        return [f"- Power: no residual spread, so only the sign test applies; over {n} seeds "
                f"it cannot go below p = {2 * 0.5 ** n:.3g}."]
    needed = seeds_for(model)
    more = f"{needed} seeds" if needed is not None else "more than 200 seeds"
    return [f"- Power: with {n} seeds and this table's residual spread (MSE "
            f"{model.mse:.3g}), Dunnett's test against `{reference}` detects a true {measure} "
            f"difference of {detectable(model):.2f} points with 80% probability; "
            f"{MARGIN:g} points would take {more}."]


def verdict_counts(scores: Scores, reference: str) -> dict[str, list[str]]:
    """Rows by verdict against `reference` (the reference itself left out)."""
    found: dict[str, list[str]] = {}
    for row, m in sorted(scores.against(reference).items(), key=lambda kv: -kv[1].diff):
        found.setdefault(m.verdict(), []).append(row)
    return found

