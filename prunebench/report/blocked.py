"""Statistics v3 (issue 38): one blocked model per table, top-1 ~ row + seed.

Every row of a seed starts from the same baseline and sees the same data order, so the seed is a
block (a randomised complete block design: Montgomery, *Design and Analysis of Experiments*,
ch. 4). The model is fitted by statsmodels' OLS and read with `anova_lm`; from its error mean
square MSE on (rows - 1)(seeds - 1) degrees of freedom come

- the omnibus F test of "the rows differ" (the sentence under each table);
- Dunnett's many-to-one intervals against `l1` and `random` (the headline), the critical value
  from the multivariate t distribution with correlation 1/2 (scipy), so the family of a table's
  comparisons with one reference has a 5% family-wise error;
- Tukey's honestly significant difference for all pairs, q(0.95; rows, df) sqrt(MSE / seeds)
  from scipy's studentized range, shown as a compact letter display (rows sharing a letter are
  not told apart);
- an equivalence verdict (two one-sided tests at a stated margin) and the power of the Dunnett
  test actually used.

Rank intervals resample the seeds (bootstrap, fixed resampling seed). How far a level's order
agrees with itself on independent seeds is measured by splitting the seeds in halves
(`split_half_tau`). When the model leaves no residual spread (every row differs from every
other by the same amount on every seed), no t or F statistic exists: the pairs are tested
exactly with the sign test, whose two-sided p over n seeds of one sign is 2 x 0.5^n, never 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
from scipy import optimize, stats

LEVEL = 0.05
POWER = 0.8
#: the default equivalence margin, in points of the headline metric (issue 38)
MARGIN = 0.25
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: at most this many splits of the seeds in two halves (`split_half_tau`)
SPLITS = 252


@dataclass(frozen=True)
class Blocked:
    """A table's complete block: rows x seeds, every row at every seed."""

    rows: tuple[str, ...]
    seeds: tuple[int, ...]
    values: np.ndarray  # rows x seeds
    f: float  # the rows' F statistic; nan without residual spread
    p_value: float  # its p-value (or, without spread, the smallest exact sign-test p)
    df_rows: int
    df_error: int
    mse: float

    @cached_property
    def means(self) -> dict[str, float]:
        return {r: float(m) for r, m in zip(self.rows, self.values.mean(axis=1))}

    @property
    def exact(self) -> bool:
        """No residual spread: the t and F statistics do not exist, the sign test decides."""
        return self.mse <= 1e-12 * max(1.0, float(np.abs(self.values).max()))

    def se_difference(self, seeds: int | None = None) -> float:
        """The standard error of a difference of two row means."""
        return math.sqrt(2 * self.mse / (seeds or len(self.seeds)))


def fit(scores: Mapping[str, Mapping[int, float]]) -> tuple[Blocked | None, list[str]]:
    """The blocked model over the seeds every row has, and the rows left out because they lack
    one of those seeds (a row with fewer seeds than the others would unbalance the blocks).
    None below two rows or two seeds."""
    if not scores:
        return None, []
    counts = {row: len(by_seed) for row, by_seed in scores.items()}
    most = max(counts.values())
    rows = sorted(r for r in scores if counts[r] == most)
    left_out = sorted(set(scores) - set(rows))
    seeds = sorted(set.intersection(*(set(scores[r]) for r in rows)))
    if len(rows) < 2 or len(seeds) < 2:
        return None, left_out
    values = np.array([[scores[r][s] for s in seeds] for r in rows], dtype=float)
    return _anova(tuple(rows), tuple(seeds), values), left_out


def _anova(rows: tuple[str, ...], seeds: tuple[int, ...], values: np.ndarray) -> Blocked:
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    frame = pd.DataFrame([(r, str(s), values[i, j]) for i, r in enumerate(rows)
                          for j, s in enumerate(seeds)], columns=["row", "seed", "y"])
    df_rows, df_error = len(rows) - 1, (len(rows) - 1) * (len(seeds) - 1)
    table = anova_lm(smf.ols("y ~ C(row) + C(seed)", data=frame).fit())
    mse = max(float(table.loc["Residual", "sum_sq"]) / df_error, 0.0)
    blocked = Blocked(rows, seeds, values, math.nan, math.nan, df_rows, df_error, mse)
    if blocked.exact:
        spread = float(np.ptp(values.mean(axis=1)))
        p = sign_test_p(len(seeds)) if spread > 0 else 1.0
        return Blocked(rows, seeds, values, math.nan, p, df_rows, df_error, 0.0)
    return Blocked(rows, seeds, values, float(table.loc["C(row)", "F"]),
                   float(table.loc["C(row)", "PR(>F)"]), df_rows, df_error, mse)


def sign_test_p(n: int) -> float:
    """The exact two-sided sign test's p when all n seeds differ in one direction."""
    return min(1.0, 2 * 0.5 ** n)


def omnibus_sentence(model: Blocked | None, left_out: Sequence[str]) -> str:
    """One sentence under a table: do the rows differ at all?"""
    if model is None:
        return "- One seed (or one row): no test of whether the rows differ is possible."
    what = (f"{len(model.rows)} rows over seeds {', '.join(map(str, model.seeds))}, seed as "
            "block")
    out = f" ({len(left_out)} row{'s' if len(left_out) > 1 else ''} with fewer seeds left out)" \
        if left_out else ""
    if model.exact:
        return (f"- Omnibus ({what}){out}: the rows differ by the same amount on every seed, so "
                f"no F statistic exists; an exact sign test over {len(model.seeds)} seeds gives "
                f"p = {model.p_value:.3g} at best.")
    verdict = "rows differ" if model.p_value < LEVEL else \
        "no evidence that the rows differ at this level"
    return (f"- Omnibus ({what}){out}: {verdict}: F({model.df_rows}, {model.df_error}) = "
            f"{model.f:.2f}, {p_text(model.p_value)}.")


def p_text(p: float) -> str:
    """`p = 0.0012`, `p < 0.0001`: never p = 0."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"


@cache
def dunnett_critical(comparisons: int, df: int, level: float = LEVEL) -> float:
    """Dunnett's two-sided critical value for `comparisons` treatments against one control with
    equal seeds (Dunnett, JASA 1955): the d with P(max |T_i| <= d) = 1 - level, T multivariate
    t on `df` degrees of freedom with correlation 1/2. With that correlation the T_i are
    (U_i - U_0) / sqrt(2) over a common chi scale, so the probability is a double integral,
    E over U_0 and the scale of (Phi(U_0 + sqrt(2) d w) - Phi(U_0 - sqrt(2) d w))^k, computed
    by Gauss quadrature (deterministic, so boards regenerate byte for byte; it reproduces
    Dunnett's tables, see the tests)."""
    u, u_weights = np.polynomial.hermite_e.hermegauss(96)  # U_0 ~ N(0, 1)
    p, p_weights = np.polynomial.legendre.leggauss(96)  # the scale's quantiles, over (0, 1)
    w = stats.chi(df, scale=1 / math.sqrt(df)).ppf((p + 1) / 2)[:, None]  # w = s / sigma
    weights = (p_weights / 2)[:, None] * (u_weights / u_weights.sum())[None, :]

    def coverage(d: float) -> float:
        inner = stats.norm.cdf(u + math.sqrt(2) * d * w) - stats.norm.cdf(u - math.sqrt(2) * d * w)
        return float((weights * inner ** comparisons).sum())

    return float(optimize.brentq(lambda d: coverage(d) - (1 - level), 0.5, 20.0, xtol=1e-7))


@dataclass(frozen=True)
class ManyToOne:
    """A row minus the reference, with Dunnett's simultaneous interval and the verdicts."""

    row: str
    diff: float
    low: float
    high: float
    p_sign: float | None  # the exact sign test's p, where the model has no residual spread
    equivalent: bool  # TOST at the margin: the 90% interval lies inside (-margin, margin)

    def verdict(self) -> str:
        if self.p_sign is not None:
            if self.p_sign < LEVEL:
                return "better" if self.diff > 0 else "worse"
            return "not told apart" if self.diff else "equivalent"
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "equivalent" if self.equivalent else "not told apart"

    def text(self) -> str:
        lo, hi = max(self.low, -100.0), min(self.high, 100.0)  # a difference of accuracies
        return f"{self.diff:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def many_to_one(model: Blocked, reference: str, margin: float = MARGIN) -> list[ManyToOne]:
    """Every other row against `reference`, Dunnett-adjusted over the table's comparisons."""
    if reference not in model.rows:
        return []
    means, ref = model.means, model.means[reference]
    others = [r for r in model.rows if r != reference]
    if model.exact:
        p = sign_test_p(len(model.seeds))
        return [ManyToOne(r, means[r] - ref, means[r] - ref, means[r] - ref,
                          p if means[r] != ref else 1.0, False) for r in others]
    half = dunnett_critical(len(others), model.df_error) * model.se_difference()
    tost = float(stats.t.ppf(1 - LEVEL, model.df_error)) * model.se_difference()
    return [ManyToOne(r, d, d - half, d + half, None, -margin < d - tost and d + tost < margin)
            for r in others for d in [means[r] - ref]]


def tukey_msd(model: Blocked) -> float:
    """Tukey's minimum significant difference of two row means: q(0.95; rows, df_error) x
    sqrt(MSE / seeds)."""
    q = float(stats.studentized_range.ppf(1 - LEVEL, len(model.rows), model.df_error))
    return q * math.sqrt(model.mse / len(model.seeds))


def letters(model: Blocked) -> dict[str, str]:
    """The compact letter display of Tukey's all-pairs test: rows sorted by mean, each letter
    a maximal run of rows no pair of which differs by more than the minimum significant
    difference (the sign test decides where the model has no residual spread)."""
    order = sorted(model.rows, key=lambda r: (-model.means[r], r))
    means = model.means
    if model.exact:
        apart = sign_test_p(len(model.seeds)) < LEVEL

        def same(a: str, b: str) -> bool:
            return means[a] == means[b] or not apart
    else:
        msd = tukey_msd(model)

        def same(a: str, b: str) -> bool:
            return abs(means[a] - means[b]) <= msd
    groups: list[tuple[int, int]] = []  # maximal runs [start, end] of mutually equal rows
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and same(order[start], order[end + 1]):
            end += 1
        if not groups or end > groups[-1][1]:
            groups.append((start, end))
    found = {r: "" for r in order}
    for i, (start, end) in enumerate(groups):
        for r in order[start:end + 1]:
            found[r] += _letter(i)
    return found


def _letter(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[i] if i < 26 else f"[{i}]"


def on_common_seeds(scores: Mapping[str, Mapping[int, float]],
                    rows: Sequence[str]) -> np.ndarray:
    """rows x seeds: each row's value on every seed all of `rows` have, seeds in order (no
    column where they share none)."""
    seeds = sorted(set.intersection(*(set(scores[r]) for r in rows))) if rows else []
    return np.array([[scores[r][s] for s in seeds] for r in rows]).reshape(len(rows), len(seeds))


def rank_intervals(scores: Mapping[str, Mapping[int, float]],
                   rows: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each row's rank (1 = highest mean) over a bootstrap of the seeds every row has: the 2.5th
    and 97.5th percentiles of the ranks, ties counted at their best rank."""
    values = on_common_seeds(scores, rows)
    seeds = values.shape[1]
    if seeds < 2:
        return {}
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, seeds, size=(BOOTSTRAP_RESAMPLES, seeds))
    means = values[:, picks].mean(axis=2)  # rows x resamples
    ranks = (means[:, None, :] > means[None, :, :]).sum(axis=0) + 1  # rows above, plus one
    low = np.percentile(ranks, 2.5, axis=1, method="lower")
    high = np.percentile(ranks, 97.5, axis=1, method="higher")
    return {r: (int(lo), int(hi)) for r, lo, hi in zip(rows, low, high)}


def split_half_tau(scores: Mapping[str, Mapping[int, float]],
                   rows: Sequence[str]) -> float:
    """The median Kendall's tau between the rows' mean order over half the seeds every row has
    and over the other half, across the splits (every split up to `SPLITS`, else that many drawn
    with the fixed resampling seed): how far a level's order agrees with itself on independent
    seeds, what its seed noise lets any two orders share (at half the seeds: more seeds agree
    more). nan below 2 seeds or 3 rows."""
    values = on_common_seeds(scores, rows)
    k, half = values.shape[1], values.shape[1] // 2
    if k < 2 or len(rows) < 3:
        return math.nan
    if math.comb(k, half) <= SPLITS:
        firsts = [list(c) for c in itertools.combinations(range(k), half)]
    else:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        firsts = [sorted(rng.choice(k, half, replace=False)) for _ in range(SPLITS)]
    taus = []
    for first in firsts:
        second = [i for i in range(k) if i not in first]
        taus.append(stats.kendalltau(values[:, first].mean(axis=1),
                                     values[:, second].mean(axis=1)).statistic)
    return float(np.nanmedian(taus))


def detectable(model: Blocked, seeds: int | None = None) -> float:
    """The smallest true difference from the reference that the table's Dunnett test detects
    with 80% power (noncentral t on the model's error degrees of freedom), at `seeds` seeds
    (default: the table's) and the table's MSE; inf when no test exists."""
    b = seeds or len(model.seeds)
    df = (len(model.rows) - 1) * (b - 1)
    if model.exact or df < 1:
        return math.inf if df < 1 else 0.0
    critical = dunnett_critical(len(model.rows) - 1, df)
    se = model.se_difference(b)

    def gap(delta: float) -> float:
        shift = delta / se
        wrong_side = float(stats.nct.cdf(-critical, df, shift))  # NaN where it underflows
        return float(stats.nct.sf(critical, df, shift)) + \
            (wrong_side if wrong_side > 0 else 0.0) - POWER

    return float(optimize.brentq(gap, 1e-9, 50 * (critical + 3) * se))


def seeds_for(model: Blocked, difference: float = MARGIN, most: int = 200) -> int | None:
    """How many seeds the table's Dunnett test needs to detect `difference` with 80% power at
    its MSE; None beyond `most`."""
    if model.exact:
        return None
    low, high = 2, most
    if detectable(model, high) > difference:
        return None
    while low < high:  # the detectable difference shrinks as seeds grow
        mid = (low + high) // 2
        if detectable(model, mid) <= difference:
            high = mid
        else:
            low = mid + 1
    return low
