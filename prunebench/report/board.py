"""The board model: result files aggregated over seeds into tables (one per compression level
and budget), each row with its statistics, the missing cells named and the figures listed."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

from prunebench.protocol.config import UNIFORM, UNPRUNED_FT, is_control
from prunebench.report.figures import (
    draw_accuracy,
    draw_curves,
    draw_kept,
    draw_layer_macs,
    draw_profile,
    draw_speedup,
    draw_sweep,
)
from prunebench.report.one_shot import UNIFORM_SWEEP, Sweep, curve_lines, sweeps
from prunebench.report.protocol import mean_curves, protocol_lines
from prunebench.report.provenance import (
    mixed_baselines,
    mixed_machines,
    reuse_saved,
    wall_times,
)
from prunebench.report.speed_summary import SPEED_FIELDS, architecture_speed, speedup
from prunebench.report.stats import pairwise_taus, summarise, tau_chance
from prunebench.report.summary import Problem
from prunebench.report.verdict import REFERENCES, Scores, rank_text, scores_of, verdict_lines
from prunebench.results.record import Measured, Record, Step, lost_baseline, made_on


def _column(title: str) -> Any:
    """A Row field: its column's title ({h}: the scenario's headline metric); empty by default."""
    return field(default="", metadata={"title": title})


@dataclass(frozen=True)
class Row:
    """One line of a section's table, its cells as the board writes them."""

    group: str = _column("group")  # Tukey's compact letters: rows sharing one are not told apart
    criterion: str = _column("criterion")
    plugin: str = _column("plugin")
    seeds: str = _column("seeds")
    rank_ci: str = _column("rank, 95% bootstrap")
    one_shot: str = _column("{h} one-shot")  # right after the first removal, no training
    before: str = _column("{h} before FT")  # a failed row: its status and error
    after: str = _column("{h} after FT")
    interval: str = _column("{h} after FT, 95% CI")
    delta: str = _column("Δ vs baseline")
    params: str = _column("params")
    macs: str = _column("MACs")
    macs_kept: str = _column("MACs kept")
    trm: str = _column("TRM@64 (MB)")
    cpu_speedup: str = _column("CPU speed-up")
    gpu_speedup: str = _column("GPU speed-up")
    criterion_seconds: str = _column("criterion s")
    extra_epochs: str = _column("extra epochs")
    onnx_mb: str = _column("ONNX MB")  # with --save-models: the exported file (parity checked)
    #: how many of the row's cells `prunebench verify --record` recomputed and found equal
    verified: str = _column("verified")

    def cells(self, names: Sequence[str] | None = None) -> tuple[str, ...]:
        """Its cells in column order, or those of the fields `names`."""
        return tuple(getattr(self, n) for n in (names or FIELDS))


FIELDS = tuple(f.name for f in fields(Row))


PERCENT = (0.0, 100.0)  # every headline metric (accuracy, COCO AP) is a percentage


def column_titles(headline: str, names: Sequence[str] = FIELDS) -> tuple[str, ...]:
    titles = {f.name: f.metadata["title"] for f in fields(Row)}
    return tuple(titles[n].format(h=headline) for n in names)


@dataclass
class Section:
    """One table: every criterion on one target and budget of one scenario."""

    title: str
    headline: str
    rows: list[Row] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    slug: str = ""
    paired: list[str] = field(default_factory=list)  # markdown lines (verdict.verdict_lines)
    fields: tuple[str, ...] = FIELDS  # the Row fields its table shows
    speed: list[str] = field(default_factory=list)  # one architecture's speed-up, once
    target: str = ""
    budget: str = ""
    scores: Scores | None = None  # the scored rows' statistics (see findings.py)
    missing: list[str] = field(default_factory=list)  # cells without a result yet
    #: results of seeds that cannot be finished and that some row lacks: kept out of the numbers
    held: list[Record] = field(default_factory=list)
    mixed: list[str] = field(default_factory=list)  # seeds whose cells started apart
    protocol: list[str] = field(default_factory=list)  # the schedule and the controls' epochs
    titles: dict[str, str] = field(default_factory=dict)  # column titles other than FIELDS'
    sweep: Sweep | None = None  # the one-shot track's table: its curves

    @property
    def is_global(self) -> bool:
        """Whether each row chose its own widths for a MACs target (the global track)."""
        return any(r.macs_reduction is not None for r in self.records + self.held)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.titles.get(name, title) for name, title in
                     zip(self.fields, column_titles(self.headline, self.fields)))

    def notes(self) -> list[str]:
        """What the criteria said of how they ran (their report's `note`: which model B, ...),
        per row name, every distinct note once."""
        found: dict[str, dict[str, None]] = defaultdict(dict)
        for r in self.records:
            note = r.measured.note if r.measured else None
            if note:
                found[r.label][note.replace("\n", " ")] = None
        return [f"{label}: {'; '.join(notes)}" for label, notes in sorted(found.items())]


@dataclass(frozen=True)
class Figure:
    """A figure the board links, and how to draw it into a file."""

    caption: str
    name: str
    draw: Callable[[Path], Path]


@dataclass
class Board:
    scenario: str
    sections: list[Section]
    provenance: list[str]
    records: list[Record] = field(default_factory=list)
    stability: list[str] = field(default_factory=list)  # markdown lines (see _stability)
    #: per budget, every (target, seed) problem's after-FT score by row (see summary.py)
    problems: dict[str, dict[Problem, dict[str, float]]] = field(default_factory=dict)
    headline: str = "top1"

    def figures(self) -> list[Figure]:
        """Every figure the board links, in order."""
        shown = [r for s in self.sections for r in s.records]  # the tables' numbers
        figures = [Figure("Accuracy after fine-tuning against MACs removed, per criterion",
                          f"{self.scenario}-accuracy-vs-macs.png",
                          partial(draw_accuracy, shown))]
        for s in self.sections:
            ok = [r.measured for r in s.records if r.measured is not None]
            title = f"{self.scenario}: {s.slug}"
            if s.sweep is not None:
                if ok:
                    figures.append(Figure(f"Top-1 against the fraction removed, no training, "
                                          f"mean and standard deviation over seeds: {s.slug}",
                                          f"{self.scenario}-{s.slug}.png",
                                          partial(draw_sweep, s.sweep, title)))
                continue
            if ok and s.is_global:  # each row its own widths
                pruned = [r for r in s.records if r.label != UNPRUNED_FT]
                figures.append(Figure(f"Fraction of each layer's filters kept, per criterion: "
                                      f"{s.slug}", f"{self.scenario}-{s.slug}-kept-per-layer.png",
                                      partial(draw_kept, pruned, title)))
            elif ok:
                figures.append(Figure(f"Per-layer MACs, original and pruned: {s.slug}",
                                      f"{self.scenario}-{s.slug}-layer-macs.png",
                                      partial(draw_layer_macs, ok[0], title)))
            curves = mean_curves(s.records)
            if curves:
                figures.append(Figure(f"Accuracy after every fine-tuning epoch, mean over "
                                      f"seeds, per row: {s.slug}",
                                      f"{self.scenario}-{s.slug}-finetuning.png",
                                      partial(draw_curves, curves, s.headline, title)))
            timed = [r for r in s.records if r.measured is not None and r.measured.speed]
            if timed:
                figures.append(Figure(f"Real eager speed-up against batch size: {s.slug}",
                                      f"{self.scenario}-{s.slug}-speedup.png",
                                      partial(draw_speedup, timed, f"{title}, all criteria")))
        for budget, problems in sorted(self.problems.items()):
            figures.append(Figure(
                f"Performance profile over every (target, seed) of budget `{budget}`",
                f"{self.scenario}-{_budget_slug(budget)}-performance-profile.png",
                partial(draw_profile, problems, self.headline,
                        f"{self.scenario}, budget {budget}")))
        return figures


def _mean_std(values: Sequence[float | None], digits: int = 2) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    mean = statistics.fmean(present)
    if len(present) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(present):.{digits}f}"


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def _verified_text(runs: list[Record], verified: Mapping[str, str]) -> str:
    """`2 of 5 (2 exact)`: the row's cells a `verify --record` found equal, and how."""
    kinds = [verified[r.config_hash] for r in runs if r.config_hash in verified]
    if not kinds:
        return "–"
    exact = sum(k == "exact" for k in kinds)
    how = f"{exact} exact" if exact == len(kinds) else \
        f"{exact} exact, {len(kinds) - exact} on another machine kind"
    return f"{len(kinds)} of {len(runs)} ({how})"


def _criterion_rows(records: list[Record], headline: str, base_mean: float,
                    verified: Mapping[str, str]) -> tuple[list[Row], Scores]:
    """The section's rows by mean, best first, then the failed and not applicable ones; and the
    scored rows' statistics (verdict.py)."""
    by_criterion: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        by_criterion[(r.label, r.criterion.plugin)].append(r)
    scored, failed, summaries = [], [], {}
    after_by_seed: dict[str, dict[int, float]] = {}
    before_by_seed: dict[str, dict[int, float]] = {}
    for (name, plugin), runs in sorted(by_criterion.items(), key=lambda kv: kv[0][0]):
        ok = [r.measured for r in runs if r.measured is not None]
        failed += _failed_rows(name, plugin, runs)
        if not ok:
            continue
        seeds = [r.seed for r in runs if r.measured is not None]
        afters = [m.pruned.metrics[headline] for m in ok]
        befores = [m.pruned.metrics[f"{headline}_before_finetune"] for m in ok]
        one_shots = [m.one_shot(headline) for m in ok]
        after_by_seed[name] = dict(zip(seeds, afters))
        if all(v is not None for v in befores):
            before_by_seed[name] = dict(zip(seeds, befores))
        after = summaries[name] = summarise(afters)
        pruned = ok[0].pruned
        scored.append((after.mean, name, Row(
            group="", criterion=name, plugin=plugin, seeds=str(len(ok)),
            one_shot=_mean_std(one_shots), before=_mean_std(befores), after=_mean_std(afters),
            interval=after.interval_text(bounds=PERCENT), delta=f"{after.mean - base_mean:+.2f}",
            params=f"{pruned.params:,}", macs=f"{pruned.macs:,}",
            macs_kept=f"{100 * pruned.macs / ok[0].baseline.macs:.1f}%",
            trm=f"{pruned.trm_bytes[64] / 1e6:.2f}",
            cpu_speedup=speedup(runs, "cpu"), gpu_speedup=speedup(runs, "cuda"),
            criterion_seconds=f"{_mean(m.cost.criterion_seconds for m in ok):.3f}",
            extra_epochs=f"{_mean(m.cost.sparsity_epochs for m in ok):g}",
            onnx_mb=_onnx_size(ok, "bytes"), verified=_verified_text(runs, verified))))
    scores = scores_of(summaries, after_by_seed, before_by_seed)
    scored.sort(key=lambda item: (-item[0], item[1]))
    return ([replace(row, group=scores.letters.get(name, "–"), rank_ci=rank_text(scores, name))
             for _, name, row in scored] + failed, scores)


def _failed_rows(name: str, plugin: str, runs: list[Record]) -> list[Row]:
    """A row's cells that failed or do not apply: a table row per distinct reason, with its
    seeds."""
    problems: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in runs:
        if not r.ok:
            problems[(r.status.replace("-", " "), str(r.error))].add(r.seed)
    return [Row(group="–", criterion=name, plugin=plugin,
                seeds=f"{len(seeds)} ({', '.join(map(str, sorted(seeds)))})",
                before=f"{status}: {error}") for (status, error), seeds in sorted(problems.items())]


def _one_shot_section(sweep: Sweep, references: Sequence[str]) -> Section:
    """The one-shot track's table of a budget and kind: each row's area under its top-1 curve
    (one_shot.py) with the accuracy tracks' paired statistics, and its curve under it."""
    headline = sweep.records[0].headline
    areas = sweep.areas()
    summaries = {name: summarise(list(by_seed.values())) for name, by_seed in areas.items()}
    scores = scores_of(summaries, areas, {})
    plugins = {r.label: r.criterion.plugin for r in sweep.records}
    rows = [Row(group=scores.letters.get(name, "–"), criterion=name, plugin=plugins[name],
                seeds=str(summaries[name].n),
                rank_ci=rank_text(scores, name), after=_mean_std(list(areas[name].values())),
                interval=summaries[name].interval_text(bounds=PERCENT))
            for name in sorted(areas, key=lambda n: (-summaries[n].mean, n))]
    by_row: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in sweep.records:
        by_row[(r.label, r.criterion.plugin)].append(r)
    for (name, plugin), runs in sorted(by_row.items()):
        rows += _failed_rows(name, plugin, runs)
    base = {r.seed: r.measured.baseline.metrics[headline] for r in sweep.records
            if r.measured is not None}
    if base:
        rows.insert(0, Row(group="–", criterion="baseline (unpruned)", plugin="–",
                           seeds=str(len(base)),
                           after=_mean_std(list(base.values()))))
    what = "every layer's filters" if sweep.kind == UNIFORM_SWEEP else "the MACs"
    section = Section(
        f"One-shot track, {sweep.kind} sweep of {what}, budget `{sweep.budget}`", headline,
        rows=rows, records=sweep.records,
        slug=f"one-shot-{sweep.kind}-{_budget_slug(sweep.budget)}",
        fields=("group", "criterion", "plugin", "seeds", "rank_ci", "after", "interval",
                "before"),
        target=f"one-shot-{sweep.kind}", budget=sweep.budget, sweep=sweep,
        titles={"after": f"{headline} area (mean over the sweep)", "interval": "95% CI",
                "before": "note"})
    section.speed = [f"- No training at all: each cell removes filters from the unpruned "
                     f"baseline once and is evaluated. *Area* is the trapezoid of {headline} "
                     "over the fraction removed, divided by the sweep's span (the mean "
                     f"{headline} across it), per seed; the statistics are over it.", "",
                     *curve_lines(sweep)]
    section.scores, section.paired = scores, verdict_lines(scores, references, "area")
    return section


def _onnx_size(runs: list[Measured], key: str) -> str:
    """The mean size of the runs' ONNX exports (`key`: bytes, or bytes_original for the
    unpruned model), with the parity failures counted; '' without exports."""
    exports = [m.exports["onnx"] for m in runs if "bytes" in m.exports.get("onnx", {})]
    if not exports:
        return ""
    failed = sum(not e["parity"]["ok"] for e in exports)
    return f"{_mean(e[key] for e in exports) / 1e6:.2f}" + \
        (f" ({failed} failed parity)" if failed and key == "bytes" else "")


def _baseline_row(records: list[Record], headline: str) -> tuple[float, Row | None]:
    per_seed = {r.seed: r.measured.baseline for r in records if r.measured is not None}
    if not per_seed:
        return float("nan"), None
    values = [b.metrics[headline] for b in per_seed.values()]
    first = next(iter(per_seed.values()))
    row = Row(group="–", criterion="baseline (unpruned)", plugin="–", seeds=str(len(values)),
              rank_ci="–", one_shot="–",
              before="–",
              after=_mean_std(values), interval=summarise(values).interval_text(bounds=PERCENT),
              delta="–", params=f"{first.params:,}", macs=f"{first.macs:,}", macs_kept="100.0%",
              trm=f"{first.trm_bytes[64] / 1e6:.2f}", cpu_speedup="–", gpu_speedup="–",
              criterion_seconds="–", extra_epochs="–",
              onnx_mb=_onnx_size([r.measured for r in records if r.measured is not None],
                                 "bytes_original"))
    return _mean(values), row


def allocation_lines(records: list[Record]) -> list[str]:
    """Under a global target's table: the normalisation every row shares, then per row and seed
    the widths its scores chose, how far their MACs lie from the target and the layers held at
    their floor."""
    floor = records[0].floor or 0.0
    lines = [f"- Global allocation: each criterion's scores over its layer's mean score, one "
             f"threshold for every layer, each layer keeping at least {floor:.0%} of its filters; "
             "where one filter is more than 1% of the MACs, the fewest filters moved from the "
             "threshold's widths that land within 1% (`prunebench/harness/allocation.py`). "
             "Widths chosen per row and seed:"]
    for r in sorted(records, key=lambda r: (r.label, r.seed)):
        m = r.measured
        if m is None or r.reference or r.macs_reduction is None:  # uniform's widths
            continue
        gap = m.pruned.macs * r.macs_reduction / m.baseline.macs - 1
        last = m.history[-1] if m.history else Step(0)
        floors = f", at the floor: {', '.join(last.at_floor)}" if last.at_floor else ""
        own = " (**its own allocation**)" if last.allocated_by == "criterion" else ""
        n = last.settled_by or 0
        moved = f", {n} filter{'s' if n > 1 else ''} moved from the threshold's widths" \
            if n else ""
        lines.append(f"  - `{r.label}` seed {r.seed}{own}: {widths_text(m.pruned_widths)}, MACs "
                     f"{100 * gap:+.1f}% from the target{floors}{moved}")
    return lines + ["", f"`{UNIFORM} (l1)` keeps the same fraction of every layer at the same "
                        "MACs (l1 chooses the filters); `scratch` trains those widths from random "
                        "weights.", ""]


def widths_text(widths: Sequence[int]) -> str:
    """4,14 stays as it is; long runs of equal widths are written 40x6,80x8."""
    runs: list[list[int]] = []
    for w in widths:
        if runs and runs[-1][0] == w:
            runs[-1][1] += 1
        else:
            runs.append([w, 1])
    return ",".join(f"{w}x{n}" if n > 2 else ",".join([str(w)] * n) for w, n in runs)


def build_board(scenario: str, records: list[Record], regenerate: str,
                references: Sequence[str] = REFERENCES,
                saved: Callable[[str], bool] | None = None,
                verified: Mapping[str, str] | None = None) -> Board:
    """`saved` says whether a baseline checkpoint (a record's `baseline_checkpoint`) is in the
    results folder, for the reason a seed's cells are missing; None: not asked. `verified`:
    the configuration hashes `prunebench verify --record` found equal, and how (its column
    appears only where some are)."""
    verified = verified or {}
    groups: dict[tuple, list[Record]] = defaultdict(list)
    ceiling: dict[str, list[Record]] = defaultdict(list)  # unpruned-ft: in every table
    for r in records:
        if r.budget.one_shot:  # the one-shot track: its own tables, after the others
            continue
        if r.role.control == UNPRUNED_FT:
            ceiling[_budget(r)].append(r)
            continue
        widths = r.widths if r.macs_reduction is None else ()  # global: one section
        groups[(r.target, widths, _budget(r))].append(r)
    stranded = _stranded(records, saved) if saved is not None else {}
    sections: list[Section] = []
    levels: dict[str, dict[str, Scores]] = defaultdict(dict)
    for (target, widths, budget), members in sorted(groups.items(), key=_by_compression):
        reduction = members[0].macs_reduction
        members = members + ceiling[budget]
        what = f"widths {widths_text(widths)}" if reduction is None else \
            f"MACs / {reduction:g}, widths chosen by each criterion's scores"
        held = _held_seeds(members, {seed for b, seed in stranded if b == budget})
        used = [r for r in members if r.seed not in held]
        section = Section(f"Target `{target}` ({what}), budget `{budget}`",
                          members[0].headline, records=used,
                          held=[r for r in members if r.seed in held],
                          slug=f"{target}-{_budget_slug(budget)}", target=target, budget=budget)
        if reduction is not None and used:
            section.speed = allocation_lines(used)
        base_mean, base_row = _baseline_row(used, section.headline)
        section.mixed = mixed_baselines(used, section.headline) + mixed_machines(used)
        section.protocol = protocol_lines(used)
        if base_row:
            section.rows.append(base_row)
        rows, scores = _criterion_rows(used, section.headline, base_mean, verified)
        section.rows.extend(rows)
        section.paired = verdict_lines(scores, references)
        section.scores = scores
        hidden = [name for name in ("onnx_mb", "one_shot", "verified")  # no --save-models; a
                  if not any(getattr(row, name) not in ("", "–") for row in section.rows)]
        section.fields = tuple(f for f in section.fields if f not in hidden)  # control only
        speed = architecture_speed([r for r in used if r.label != UNPRUNED_FT]) \
            if reduction is None else None
        if speed is not None:  # one architecture: its speed once, not a noisy copy per row
            section.fields = tuple(f for f in section.fields if f not in SPEED_FIELDS)
            section.speed = speed
        sections.append(section)
        levels[budget][target] = scores
    sections += [_one_shot_section(sweep, references)
                 for sweep in sweeps([r for r in records if r.budget.one_shot], _budget)]
    _name_missing_cells(sections, stranded)
    problems = {budget: {(target, seed): {name: after[seed] for name, after in s.after.items()
                                          if seed in after and not is_control(name)}
                         for target, s in scored.items()
                         for seed in sorted({x for a in s.after.values() for x in a})}
                for budget, scored in levels.items()}
    problems = {b: {k: r for k, r in p.items() if r}  # mid-run, a level may hold controls only
                for b, p in problems.items() if any(len(r) > 1 for r in p.values())}
    headline = records[0].headline if records else "top1"
    return Board(scenario, sections, _provenance(records, regenerate, sections), records,
                 _stability(levels), problems, headline)


def _held_seeds(members: list[Record], stranded: set[int]) -> set[int]:
    """The stranded seeds (`_stranded`) that some row of the table lacks: they can never be
    completed here, and a mean over other seeds for some rows than for others would compare
    seeds (their baselines differ by tenths of a point), not criteria."""
    labels = {r.label for r in members}
    return {seed for seed in stranded
            if {r.label for r in members if r.seed == seed} not in (labels, set())}


def _name_missing_cells(sections: list[Section], stranded: dict[tuple[str, int], str]) -> None:
    """A board still being run (its results land in parts) names, under each table, the rows'
    seeds that have no result yet: every row of a track (fixed widths or global) of a budget is
    expected at every seed any table of that track has; the seeds whose cells can only be
    finished on another CPU (`stranded`); and the results of such seeds held out of the table
    (`_held_seeds`)."""
    expected: dict[tuple[str, bool], tuple[set[str], set[int]]] = {}
    for s in sections:
        labels, seeds = expected.setdefault((s.budget, s.is_global), (set(), set()))
        labels.update(r.label for r in s.records + s.held)
        seeds.update(r.seed for r in s.records + s.held)
    for s in sections:
        labels, seeds = expected[(s.budget, s.is_global)]
        have: dict[str, set[int]] = defaultdict(set)
        for r in s.records + s.held:
            have[r.label].add(r.seed)
        missing = [f"`{label}` seed{'s' if len(gone) > 1 else ''} "
                   f"{', '.join(map(str, sorted(gone)))}" for label in sorted(labels)
                   if (gone := seeds - have[label])]
        if missing:
            s.missing = [f"- Not run yet (no result file): {'; '.join(missing)}.", ""]
        by_cpus: dict[str, list[int]] = defaultdict(list)
        for seed in sorted(set().union(*(seeds - have[label] for label in labels))):
            if cpus := stranded.get((s.budget, seed)):
                by_cpus[cpus].append(seed)
        for cpus, which in sorted(by_cpus.items()):
            s.missing[-1:-1] = [
                f"- Seed{'s' if len(which) > 1 else ''} {', '.join(map(str, which))} can only "
                f"be finished on a CPU like {cpus}: the baseline checkpoint "
                f"{'their' if len(which) > 1 else 'its'} cells started from is not in the "
                "results folder, and training is not bit-reproducible across CPUs, even of "
                "one instruction set (put the checkpoint back, or resume on such a CPU)."]
        if s.held:
            which = sorted({r.seed for r in s.held})
            s.missing[-1:-1] = [
                f"- Held out of this table's numbers: {len(s.held)} result"
                f"{'s' if len(s.held) > 1 else ''} of seed{'s' if len(which) > 1 else ''} "
                f"{', '.join(map(str, which))}, which not every "
                "row has and which cannot be finished here: means over other seeds for some "
                "rows than for others would compare seeds, not criteria."]


def _stranded(records: list[Record], saved: Callable[[str], bool]) -> dict[tuple[str, int], str]:
    """Per (budget, seed) whose baseline checkpoint is gone: the CPUs, with their instruction
    sets, that made its finished cells (retrained on another CPU, it would be other weights).
    `saved` says whether a checkpoint is in the results folder."""
    made: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in records:
        if r.measured is not None and r.baseline_checkpoint:
            made[(_budget(r), r.seed)].append(r)
    return {key: " or ".join(made_on(cells)) for key, cells in made.items()
            if len(lost_baseline(cells, saved)) == len(cells)}


def _budget(record: Record) -> str:
    """The budget's name, with its thread count where that is not the default single thread:
    cells computed with other threads are other cells, never seeds of the same row."""
    threads = record.budget.threads
    return record.budget.name + (f", {threads} threads" if threads != 1 else "")


def _budget_slug(budget: str) -> str:
    """The budget as part of a file name: `quick, 2 threads` -> `quick-2t`."""
    return budget.replace(", ", "-").replace(" threads", "t")


def _by_compression(item: tuple) -> tuple:
    """Sections in order of budget, then least to most pruned (MACs kept, high to low)."""
    (target, _widths, budget), members = item
    ok = [r.measured for r in members if r.measured is not None]
    kept = max((m.pruned.macs / m.baseline.macs for m in ok), default=0.0)
    return budget, -kept, target


def _stability(levels: dict[str, dict[str, Scores]]) -> list[str]:
    """Markdown lines: each row's 95% bootstrap rank interval at every compression level of a
    budget, Kendall's tau between each pair of levels, and each level's top letter group."""
    lines = []
    for budget, scored in sorted(levels.items()):
        if len(scored) < 2:
            continue
        means = {t: {k: v.mean for k, v in s.summaries.items()} for t, s in scored.items()}
        targets = list(means)
        names = sorted({n for by_row in means.values() for n in by_row},
                       key=lambda n: (-statistics.fmean(
                           means[t][n] for t in targets if n in means[t]), n))
        lines += [f"### Budget `{budget}`", "",
                  "| criterion | " + " | ".join(f"rank at `{t}`" for t in targets) + " |",
                  "|" + "---|" * (len(targets) + 1)]
        lines += [f"| {n} | " + " | ".join(rank_text(scored[t], n) or "–" for t in targets)
                  + " |" for n in names]
        lines.append("")
        for a, b, tau, n in pairwise_taus(means):
            lines.append(f"- Kendall's tau of the mean after-FT order, `{a}` vs `{b}`: "
                         f"{tau:+.2f} over {n} rows (1: same order, 0: unrelated, "
                         f"-1: reversed; chance alone stays within ±{tau_chance(n):.2f} "
                         "in 95% of unrelated orders)")
        halves = [f"`{t}` {scored[t].split_half:+.2f}" for t in targets
                  if not math.isnan(scored[t].split_half)]
        if halves:
            lines.append("- Each level's order over half its seeds against the other half "
                         "(median Kendall's tau over the splits: how far this seed noise lets "
                         f"an order agree with itself, at half the seeds): {', '.join(halves)}")
        leaders = [f"`{t}`: {', '.join(scored[t].top_group()) or '–'}" for t in targets]
        lines += [f"- The top letter group (not told apart from the best mean) per level: "
                  f"{'; '.join(leaders)}", ""]
    return lines


def _provenance(records: list[Record], regenerate: str, sections: list[Section]) -> list[str]:
    def distinct(values: Iterable[str]) -> str:
        return ", ".join(f"`{v}`" for v in sorted(set(values)))

    envs = [r.environment for r in records]
    seeds = sorted({r.seed for r in records})
    return [
        f"Made by: {distinct(r.command for r in records)}",
        f"Regenerate: `{regenerate}`",
        f"Commit: {distinct(e.git_commit for e in envs)}",
        "Hardware: " + distinct(f"{e.machine}, {e.cpu_count} cores, "
                                f"{e.gpu or 'no GPU'}, ran on {e.device}" for e in envs),
        "Versions: " + distinct(", ".join(f"{k} {v}" for k, v in sorted(e.packages.items()))
                                for e in envs),
        f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}){_seeds_per_table(sections)}; data: "
        f"{distinct(r.data for r in records)}",
        *wall_times(records),
        *reuse_saved(records),
    ]


def _seeds_per_table(sections: list[Section]) -> str:
    """Which seeds each table's numbers are over, where the tables differ (a track that other
    seeds complete, a seed held out of some tables)."""
    targets: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for s in sections:
        seeds = tuple(sorted({r.seed for r in s.records}))
        if s.target not in targets[seeds]:
            targets[seeds].append(s.target)
    if len(targets) < 2:
        return ""
    return "; the tables' numbers are over seeds " + " and ".join(
        f"{', '.join(map(str, seeds))} ({', '.join(f'`{t}`' for t in names)})"
        for seeds, names in sorted(targets.items()))


def build_boards(records: list[Record], regenerate: str,
                 references: Sequence[str] = REFERENCES,
                 saved: Callable[[str], bool] | None = None,
                 verified: Mapping[str, str] | None = None) -> list[Board]:
    by_scenario: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_scenario[r.scenario].append(r)
    return [build_board(s, rs, regenerate, references, saved, verified)
            for s, rs in sorted(by_scenario.items())]
