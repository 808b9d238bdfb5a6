"""Aggregation over seeds with known answers, failures kept visible, byte-stable output."""

from dataclasses import replace

from prunebench.protocol.config import Budget
from prunebench.report.board import build_boards
from prunebench.report.markdown import render_markdown
from prunebench.results.record import (
    Cost,
    Criterion,
    Environment,
    Measured,
    Measures,
    Record,
    SpeedRow,
)

ENV = Environment(prunebench="0.1", git_commit="abc123", python="3.11", packages={"torch": "2.x"},
                  platform="Linux", cpu="Test CPU", cpu_count=2, torch_threads=1, device="cpu",
                  gpu=None)
BUDGET = Budget("quick", 4, 0.05, 1, 0.01, 1, 64, 2, (0, 1, 2))


def size(params, macs, trm64, **metrics):
    return Measures(params, macs, {}, {64: trm64}, metrics)


def record(criterion, seed, after, before=50.0, status="ok", error=None):
    measured = Measured((20, 50), (4, 14), size(431_080, 2_293_000, 5_623_200, top1=98.0 + seed),
                        size(119_028, 264_200, 2_500_000, top1=after, top1_before_finetune=before),
                        Cost(criterion_seconds=0.5)) if status == "ok" else None
    return Record(scenario="lenet5-digits", task="classification", headline="top1",
                  criterion=Criterion(criterion, {}, "dist", "1.0"), target="prun1",
                  widths=(4, 14), seed=seed, budget=BUDGET, config_hash="", data="digits",
                  device="cpu", command="prunebench run", environment=ENV, status=status,
                  error=error, measured=measured)


def harder(r):
    """The record at a second level, where weak beats random."""
    return harder_widths(r, {"l1": 90.0, "random": 40.0, "weak": 60.0}[r.criterion.name] + r.seed)


RECORDS = [record("bn", 0, 0, status="not-applicable", error="no BN"),
           record("bn", 1, 0, status="not-applicable", error="no BN"), record("l1", 0, 90.0),
           record("l1", 1, 92.0), record("l1", 2, 94.0),
           record("random", 0, 80.0, before=10.0), record("random", 1, 82.0, before=30.0),
           record("crashy", 0, 0, status="failed", error="criterion 'crashy': boom | bang"),
           record("weak", 0, 50.0), record("weak", 1, 51.0), record("weak", 2, 52.0)]


def test_mean_std_intervals_letters_and_failures():
    """t(0.975, 2) = 4.3027: l1's [90, 92, 94] gives 92 ± 4.97 and random's [80, 82] gives 81 ±
    12.71. The blocked model takes the rows with every seed (l1 and weak; random lacks seed 2):
    per seed l1 beats weak by 40, 41, 42, so Tukey's letters part them (a, b) and every
    bootstrap of the seeds ranks l1 first. Rows are listed by mean; random, outside the model,
    has no letter."""
    board = build_boards(RECORDS, "prunebench leaderboard")[0]
    rows = {row.criterion: row for row in board.sections[0].rows}
    assert [row.criterion for row in board.sections[0].rows] == [
        "baseline (unpruned)", "l1", "random", "weak", "bn", "crashy"]
    base = rows["baseline (unpruned)"]
    # 99 -+ 2.48 would reach 101.48: an accuracy's interval stops at 100
    assert (base.seeds, base.after, base.interval, base.trm) == (
        "3", "99.00 ± 1.00", "[96.52, 100.00]", "5.62")
    l1 = rows["l1"]
    assert (l1.group, l1.rank_ci, l1.seeds, l1.before, l1.after, l1.interval, l1.delta) == (
        "a", "1", "3", "50.00 ± 0.00", "92.00 ± 2.00", "[87.03, 96.97]", "-7.00")
    assert (l1.params, l1.macs, l1.macs_kept, l1.trm) == ("119,028", "264,200", "11.5%", "2.50")
    assert (rows["random"].group, rows["random"].after, rows["random"].interval) == (
        "–", "81.00 ± 1.41", "[68.29, 93.71]")
    assert (rows["weak"].group, rows["weak"].rank_ci, rows["weak"].after) == (
        "b", "2", "51.00 ± 1.00")
    assert (rows["bn"].group, rows["bn"].seeds, rows["bn"].before) == (
        "–", "2 (0, 1)", "not applicable: no BN")
    assert rows["crashy"].before == "failed: criterion 'crashy': boom | bang"
    assert all(row.one_shot in ("", "–") for row in rows.values())  # no history recorded


def test_rank_stability_across_compression_levels():
    """A second level where weak beats random: Kendall's tau over (l1, random, weak) is
    (2 concordant - 1 discordant) / 3 = +0.33; the per-level ranks are tabulated."""
    board = build_boards(RECORDS + [harder(r) for r in RECORDS if r.ok],
                         "prunebench leaderboard")[0]
    assert [s.slug for s in board.sections] == ["prun1-quick", "prun2-quick"]  # least pruned first
    text = "\n".join(board.stability)
    assert "| criterion | rank at `prun1` | rank at `prun2` |" in text
    assert "| weak | 2 | 2 |" in text and "| random | – | – |" in text  # random: 2 seeds
    assert "`prun1` vs `prun2`: +0.33 over 3 rows" in text
    assert "## Rank stability across compression levels" in render_markdown(board)


def test_markdown_is_deterministic_and_says_where_it_came_from():
    first = render_markdown(build_boards(RECORDS, "prunebench leaderboard --results r")[0])
    again = render_markdown(build_boards(list(reversed(RECORDS)),
                                         "prunebench leaderboard --results r")[0])
    assert first == again
    assert "| – | crashy | dist 1.0 | 1 (0) |  | failed: criterion 'crashy': boom \\| bang |" \
        in first
    for fact in ("Made by: `prunebench run`", "Commit: `abc123`", "Seeds: 3 (0, 1, 2)",
                 "Hardware: `Test CPU (unknown), 2 cores, no GPU, ran on cpu`",
                 "Regenerate: `prunebench leaderboard --results r`"):
        assert fact in first


def test_wall_time_counts_each_run_of_a_resumed_command_not_the_days_between():
    """Two runs of one command a day apart: 30 min (start 10:00, last result 10:30) plus 15 min
    (12:00 the next day to 12:15) is 45 min, not the 26 h 15 min from first start to last result."""
    times = [("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z"),
             ("2026-11-22T10:00:00Z", "2026-11-22T10:30:00Z"),
             ("2026-11-23T12:00:00Z", "2026-11-23T12:15:00Z")]
    records = [replace(record("l1", seed, 90.0), run_started=begun, finished=ended)
               for seed, (begun, ended) in enumerate(times)]
    text = render_markdown(build_boards(records, "prunebench leaderboard")[0])
    assert ("Wall time: 45.0 min over 2 runs of `prunebench run`, each from its start to its "
            "last result (2026-11-22 10:00 to 2026-11-23 12:15 UTC), 2 CPU cores") in text
    one_run = render_markdown(build_boards(records[:2], "prunebench leaderboard")[0])
    assert ("Wall time: 30.0 min from the start of `prunebench run` to its last result "
            "(2026-11-22 10:00 to 10:30 UTC), 2 CPU cores") in one_run


def test_every_row_is_compared_with_the_references_on_the_blocked_model():
    """l1 and weak over seeds 0-2 (random, with 2 seeds, is left out): weak - l1 = -40, -41, -42,
    so MSE = 1/2 on 2 degrees of freedom, the rows' F = 3 x 2 x 20.5^2 / 0.5 = 5043, and its p
    (a t of sqrt(5043) on 2 df) = 1 - 71.01 / sqrt(2 + 5043) = 0.0002. One comparison: Dunnett
    is Student's t(0.975, 2) = 4.3027 x sqrt(2 x 0.5 / 3) = 2.48. Its 80% power difference
    equals statsmodels' TTestPower for 3 paired seeds of standard deviation 1: 3.26."""
    from statsmodels.stats.power import TTestPower

    text = render_markdown(build_boards(RECORDS, "prunebench leaderboard")[0])
    assert ("- Omnibus (2 rows over seeds 0, 1, 2, seed as block) (1 row with fewer seeds left "
            "out): rows differ: F(1, 2) = 5043.00, p = 0.0002.") in text
    assert "| weak | -41.00 [-43.48, -38.52] | worse |" in text
    power = TTestPower().solve_power(nobs=3, alpha=0.05, power=0.8)
    assert (f"Dunnett's test against `l1` detects a true after FT difference of {power:.2f} "
            "points with 80% probability") in text and f"{power:.2f}" == "3.26"


def test_win_rates_across_levels_are_on_the_board():
    """Only the rows that played every problem compete: l1 and weak (random lacks seed 2); l1
    beats weak on all three, whichever seeds a bootstrap draws."""
    text = render_markdown(build_boards(RECORDS, "prunebench leaderboard")[0])
    assert "## Win rates across compression levels, budget `quick`" in text
    assert "| l1 | 3 | 1.00 [1.00, 1.00] |" in text
    assert "| weak | 3 | 0.00 [0.00, 0.00] |" in text
    assert "Left out (did not play every problem): random." in text
    assert "lenet5-digits-quick-performance-profile.png" in text


def test_the_references_can_be_chosen_and_the_regenerate_command_keeps_them():
    from prunebench.report.provenance import regenerate_command

    command = regenerate_command("r", "o", ("random", "weak"))
    assert command == "prunebench leaderboard --results r --out o --reference random,weak"
    assert regenerate_command("r", "o") == "prunebench leaderboard --results r --out o"
    text = render_markdown(build_boards(RECORDS, command, ("random", "weak"))[0])
    assert "Δ vs weak, 95% simultaneous" in text and "vs l1" not in text  # random: 2 seeds
    assert "| l1 | +41.00 [+38.52, +43.48] | better |" in text
    assert "Dunnett's test against `weak`" in text
    assert f"Regenerate: `{command}`" in text


def test_one_architecture_shows_its_speed_once_with_median_and_spread():
    from prunebench.report.speed_summary import architecture_speed, mean_speed_rows

    def timed(r, speedups):
        rows = tuple(SpeedRow(bs, "eager", "cpu", speedup_real=x,
                              speedup_theoretical=3.0) for bs, x in speedups)
        return replace(r, measured=replace(r.measured, speed=rows))

    ok = [r for r in RECORDS if r.ok][:3]
    records = [timed(r, [(1, 9.0), (64, x)]) for r, x in zip(ok, (2.0, 3.0, 2.5))]
    # batch 64 values 2.0, 2.5, 3.0: median 2.5, inclusive quartiles 2.25 and 2.75
    assert architecture_speed(records) == [
        "- CPU speed-up of this architecture (every row keeps the same widths), eager at batch "
        "64: median 2.50x, interquartile range [2.25, 2.75] over 3 measurements, one per cell "
        "(CPU instruction set: unknown); their spread is timing noise, not a difference between "
        "criteria.", ""]
    wider = replace(records[0], measured=replace(records[0].measured, pruned_widths=(5, 14)))
    assert architecture_speed([wider, *records[1:]]) is None  # rows differ: one column each

    # timed on two instruction sets: a ratio depends on it, so each gets its own line
    avx2 = [replace(r, environment=replace(ENV, cpu_capability="AVX2")) for r in records[1:]]
    assert architecture_speed([records[0], *avx2])[:2] == [
        "- CPU speed-up of this architecture (every row keeps the same widths), eager at batch "
        "64: median 2.75x, interquartile range [2.62, 2.88] over 2 measurements, one per cell "
        "(CPU instruction set: AVX2); their spread is timing noise, not a difference between "
        "criteria.",
        "- CPU speed-up of this architecture (every row keeps the same widths), eager at batch "
        "64: median 2.00x, interquartile range [2.00, 2.00] over 1 measurements, one per cell "
        "(CPU instruction set: unknown); their spread is timing noise, not a difference between "
        "criteria."]
    # a row of its own widths says its speed-up per instruction set when cells span two
    rows = build_boards([wider, *avx2], "prunebench leaderboard")[0].sections[0].rows
    assert {row.criterion: row.cpu_speedup for row in rows if row.cpu_speedup != "–"} == {
        "l1": "2.75x @64 (AVX2), 2.00x @64 (unknown)"}
    # and the speed figure draws a line per instruction set
    assert [(r["device"], r["batch_size"], r["speedup_real"])
            for r in mean_speed_rows([records[0], *avx2])] == [
        ("cpu (AVX2)", 1, 9.0), ("cpu (AVX2)", 64, 2.75), ("cpu (unknown)", 1, 9.0),
        ("cpu (unknown)", 64, 2.0)]
    assert [r["device"] for r in mean_speed_rows(records)] == ["cpu", "cpu"]


def test_the_boards_index_pools_win_rates_over_every_board():
    """The same records as a second scenario: 6 problems that l1 and weak both played, l1
    wins all."""
    from prunebench.report.index import render

    records = RECORDS + [replace(r, scenario="lenet5-mnist") for r in RECORDS]
    text = render(build_boards(records, "prunebench leaderboard"), [], "prunebench leaderboard")
    assert "## Win rates across every board, budget `quick`" in text
    assert "(lenet5-digits, lenet5-mnist)" in text
    assert "| l1 | 6 | 1.00 [1.00, 1.00] |" in text and "| weak | 6 | 0.00 [0.00, 0.00] |" in text
    assert text.index("## Conclusions") < text.index("## Accuracy boards")


def test_the_index_says_what_each_board_found_in_sentences_traceable_to_its_lines():
    """prun1: l1 above weak with spread (F = 5043, p = 0.0002, weak worse than l1); prun2 (l1
    90-92, weak 60-62): weak exactly 30 below on every seed, no residual spread, so only the
    exact sign test applies: 2 x 0.5^3 = 0.25, nothing told apart. Random (2 seeds) is outside
    both models: no sentence about it. Between prun1 and prun2 the order's tau is +0.33."""
    from prunebench.report.findings import board_findings, conclusion
    from prunebench.report.index import render

    board = build_boards(RECORDS + [harder(r) for r in RECORDS if r.ok],
                         "prunebench leaderboard")[0]
    lines = board_findings(board)
    assert lines[:4] == [
        "- Target `prun1` (widths 4,14), budget `quick`, over 3 seeds: the rows differ "
        "(F = 5043.00, p = 0.0002).",
        "  - None better than `l1`; worse: `weak`.",
        "- Target `prun2` (widths 3,8), budget `quick`, over 3 seeds: no evidence that the rows "
        "differ (exact sign test, p = 0.250).",
        "  - None better than `l1`; 1 not told apart (no residual spread: the exact sign test "
        "cannot reach 5% over 3 seeds)."]
    assert not any("`random`" in line for line in lines)
    assert lines[-1] == ("- Budget `quick`, the rows' mean after-FT order between levels of one "
                         "track: Kendall's tau +0.33 (`prun1` vs `prun2`); chance alone stays "
                         "within ±1.00 over 3 rows (rank stability section; 1: same order, 0: "
                         "unrelated).")
    assert conclusion(board) == (
        "Over 2 tables (3 seeds each), the omnibus test finds that the rows differ in 1. "
        "Against `l1` (Dunnett, 5% family-wise per table), criteria better somewhere: none; "
        "worse somewhere: `weak`.")
    text = render([board], [], "prunebench leaderboard")
    assert "### What [lenet5-digits](lenet5-digits.md) found" in text
    assert "\n".join(lines) in text and conclusion(board) in text


def test_a_board_still_being_run_names_the_cells_without_a_result():
    """RECORDS has seeds 0-2; bn (not applicable) has 0 and 1, crashy (failed) 0, random 0 and
    1: those are the cells a run has not written yet; l1 and weak are complete."""
    board = build_boards(RECORDS, "prunebench leaderboard")[0]
    assert board.sections[0].missing == [
        "- Not run yet (no result file): `bn` seed 2; `crashy` seeds 1, 2; `random` seed 2.", ""]
    assert board.sections[0].missing[0] in render_markdown(board)


def test_a_seed_that_cannot_be_finished_is_held_out_of_the_tables_it_does_not_complete():
    """Seed 2 of RECORDS has only l1 (94) and weak (52); with its baseline checkpoint gone it
    can never be completed, so the table averages seeds 0 and 1 only: l1 (90, 92) -> 91, weak
    (50, 51) -> 50.5, the baseline (98, 99) -> 98.5, and l1's delta 91 - 98.5. A global
    table that has seed 2 for every row keeps it, and its own seeds are not expected of the
    fixed-width table."""
    def made(r, seed_file):
        return replace(r, baseline_checkpoint=seed_file.format(seed=r.seed),
                       environment=replace(ENV, cpu="Old Xeon", cpu_capability="AVX512"))

    fixed = [made(r, "seed{seed}.pt") for r in RECORDS]
    glob = [replace(made(r, "seed{seed}.pt"), target="macs-2x", widths=(), macs_reduction=2.0,
                    floor=0.1) for r in RECORDS if r.criterion.name in ("l1", "weak")]
    glob += [replace(g, seed=5, baseline_checkpoint="seed5.pt") for g in glob if g.seed == 0]
    board = build_boards(fixed + glob, "prunebench leaderboard",
                         saved=lambda name: name != "seed2.pt")[0]
    global_table, table = board.sections  # as much pruned: in order of target name
    rows = {row.criterion: row for row in table.rows}
    assert (rows["l1"].seeds, rows["l1"].after, rows["l1"].delta) == ("2", "91.00 ± 1.41",
                                                                      "-7.50")
    assert (rows["weak"].seeds, rows["weak"].after) == ("2", "50.50 ± 0.71")
    assert rows["baseline (unpruned)"].after == "98.50 ± 0.71"
    assert table.missing == [
        "- Not run yet (no result file): `bn` seed 2; `crashy` seeds 1, 2; `random` seed 2.",
        "- Seed 2 can only be finished on a CPU like Old Xeon (AVX512): the baseline "
        "checkpoint its cells started from is not in the results folder, and training is not "
        "bit-reproducible across CPUs, even of one instruction set (put the checkpoint back, "
        "or resume on such a CPU).",
        "- Held out of this table's numbers: 2 results of seed 2, which not every row has and "
        "which cannot be finished here: means over other seeds for some rows than for others "
        "would compare seeds, not criteria.", ""]
    assert {r.seed for r in global_table.records} == {0, 1, 2, 5}
    assert global_table.held == [] and global_table.missing == []
    assert {row.criterion: row.seeds for row in global_table.rows if row.group != "–"} == {
        "l1": "4", "weak": "4"}
    assert ("Seeds: 4 (0, 1, 2, 5); the tables' numbers are over seeds 0, 1 (`prun1`) and "
            "0, 1, 2, 5 (`macs-2x`); data: `digits`") in board.provenance
    everything = build_boards(fixed + glob, "prunebench leaderboard")[0].sections[1]
    assert {row.criterion: row.seeds for row in everything.rows}["l1"] == "3"


def test_a_seed_whose_cells_started_from_different_baselines_is_named():
    """RECORDS' seed 0 baseline is 98.0: one weak cell that started from 97.5 (another CPU's
    retraining) splits seed 0; a digest-less record agrees with a digested one of the same
    metrics, while two digests of the same metrics still differ (the last bits moved)."""
    def started(r, top1=None, digest=None):
        base = r.measured.baseline.with_metrics(top1=top1) if top1 else r.measured.baseline
        return replace(r, baseline_digest=digest, measured=replace(r.measured, baseline=base))

    clean = build_boards(RECORDS, "prunebench leaderboard")[0]
    assert clean.sections[0].mixed == []
    split = [started(r, 97.5) if (r.criterion.name, r.seed) == ("weak", 0) else r
             for r in RECORDS]
    board = build_boards(split, "prunebench leaderboard")[0]
    assert board.sections[0].mixed == [
        "- **Seed 0's cells started from 2 different baselines** (top1 98.0 in 2 cells; top1 "
        "97.5 in 1 cell): its paired differences mix them.", ""]
    assert board.sections[0].mixed[0] in render_markdown(board)
    digested = [started(r, digest="aaaa") if (r.criterion.name, r.seed) == ("l1", 1) else r
                for r in RECORDS]
    assert build_boards(digested, "prunebench leaderboard")[0].sections[0].mixed == []
    digested = [started(r, digest="bbbb") if (r.criterion.name, r.seed) == ("weak", 1) else r
                for r in digested]
    assert build_boards(digested, "prunebench leaderboard")[0].sections[0].mixed == [
        "- **Seed 1's cells started from 2 different baselines** (weights aaaa in 1 cell; "
        "weights bbbb in 1 cell): its paired differences mix them.", ""]


def test_a_seed_whose_cells_ran_on_different_cpus_is_named():
    """Seed 1's weak cell was computed on an AVX2 EPYC, the rest on the test CPU."""
    moved = [replace(r, environment=replace(ENV, cpu="AMD EPYC", cpu_capability="AVX2"))
             if (r.criterion.name, r.seed) == ("weak", 1) else r for r in RECORDS]
    board = build_boards(moved, "prunebench leaderboard")[0]
    assert board.sections[0].mixed == [
        "- Seed 1's cells were computed on different CPUs: most on Test CPU (unknown), `weak` "
        "on AMD EPYC (AVX2) (same baseline weights; the fine-tuning's last bits differ between "
        "CPUs).", ""]
    assert build_boards(RECORDS, "prunebench leaderboard")[0].sections[0].mixed == []


def test_the_findings_say_whether_one_shot_order_predicts_the_fine_tuned_one():
    """Four criteria over four seeds: after fine-tuning a > b > c > d at both levels, each seed
    the same with a seed offset; one shot (no training) the reverse. Kendall's tau between the
    one-shot sweep's areas and each level's after-FT means is -1 over the four criteria. The
    fine-tuned levels agree with each other (+1.00) and with themselves between halves of the
    seeds (+1.00: every split keeps the order); over four rows chance alone stays within
    1.96 x sqrt(2 x 13 / (9 x 4 x 3)) = 0.96."""
    from prunebench.protocol.config import one_shot
    from prunebench.report.findings import board_findings

    order = {"a": 90.0, "b": 80.0, "c": 70.0, "d": 60.0}
    tuned, shot = [], []
    for name, top1 in order.items():
        for seed in range(4):
            r = record(name, seed, top1 + seed)
            tuned += [r, harder_widths(r, top1 - 5 + seed)]
            reverse = 150.0 - top1 + seed
            shot += [replace(r, budget=one_shot(BUDGET), measured=replace(
                r.measured, pruned=r.measured.pruned.with_metrics(top1=reverse))),
                replace(harder_widths(r, reverse - 10), budget=one_shot(BUDGET))]
    board = build_boards(tuned + shot, "prunebench leaderboard")[0]
    lines = board_findings(board)
    assert lines[-2] == ("- Budget `quick`, the rows' mean after-FT order between levels of one "
                         "track: Kendall's tau +1.00 (`prun1` vs `prun2`); chance alone stays "
                         "within ±0.96 over 4 rows; a level's order over half its seeds against "
                         "the other half: +1.00 (rank stability section; 1: same order, 0: "
                         "unrelated).")
    assert lines[-1] == ("- One-shot track, uniform sweep of every layer's filters, budget "
                         "`quick-one-shot`: its order (area, no training) against the after-FT "
                         "order of the fixed-width levels: Kendall's tau from -1.00 (`prun1`, "
                         "budget `quick`) to -1.00 (`prun2`, budget `quick`); chance alone stays "
                         "within ±0.96 over 4 rows (how far ranking filters without training "
                         "predicts the order after fine-tuning).")


def harder_widths(r, top1):
    """The record at `prun2`'s widths with the given top-1."""
    pruned = replace(r.measured.pruned, macs=150_600).with_metrics(top1=top1)
    return replace(r, target="prun2", widths=(3, 8),
                   measured=replace(r.measured, pruned=pruned, pruned_widths=(3, 8)))


def test_a_board_being_computed_draws_with_a_level_that_has_only_a_control_yet(tmp_path):
    """Mid-run, a (target, seed) may have only a control's record (scratch-b finished first):
    that problem has no criterion to profile, and the board is still written, its figures
    drawn, the problem left out of the performance profile."""
    from prunebench.report.markdown import write_boards

    control = replace(harder(record("l1", 0, 90.0)), criterion=Criterion("scratch-b", {}, "", ""))
    board = build_boards(RECORDS + [control], "prunebench leaderboard")[0]
    assert set(board.problems["quick"]) == {("prun1", 0), ("prun1", 1), ("prun1", 2)}
    write_boards([board], tmp_path)
    assert (tmp_path / "lenet5-digits-quick-performance-profile.png").stat().st_size > 0
