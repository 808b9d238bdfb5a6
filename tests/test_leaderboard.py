"""Aggregation over seeds with known answers, failures kept visible, byte-stable output."""

from prunebench.report.leaderboard import build_boards, render_markdown


def record(criterion, seed, after, before=50.0, status="ok", error=None):
    env = {"git_commit": "abc123", "cpu": "Test CPU", "cpu_count": 2, "gpu": None,
           "device": "cpu", "packages": {"torch": "2.x"}}
    base = {"schema_version": 1, "scenario": "lenet5-digits", "headline": "top1", "seed": seed,
            "criterion": {"name": criterion, "distribution": "dist", "version": "1.0"},
            "target": {"name": "prun1", "widths": [4, 14]}, "budget": {"name": "quick"},
            "status": status, "error": error, "environment": env, "data": "digits",
            "command": "prunebench run", "cost": {"criterion_seconds": 0.5, "sparsity_epochs": 0}}
    if status == "ok":
        base.update(baseline={"top1": 98.0 + seed, "params": 431_080, "macs": 2_293_000,
                              "trm_bytes": {"64": 5_623_200}},
                    pruned={"top1": after, "top1_before_finetune": before, "params": 119_028,
                            "macs": 264_200, "trm_bytes": {"64": 2_500_000}})
    return base


RECORDS = [record("bn", 0, 0, status="not-applicable", error="no BN"),
           record("bn", 1, 0, status="not-applicable", error="no BN"), record("l1", 0, 90.0), record("l1", 1, 92.0), record("l1", 2, 94.0),
           record("random", 0, 80.0, before=10.0), record("random", 1, 82.0, before=30.0),
           record("crashy", 0, 0, status="failed", error="criterion 'crashy': boom | bang")]


def test_mean_std_ranks_and_failures():
    board = build_boards(RECORDS, "prunebench leaderboard")[0]
    rows = board.sections[0].rows
    assert rows[0][:6] == ("–", "baseline (unpruned)", "–", "3", "–", "99.00 ± 1.00")
    assert rows[0][10] == "5.62"
    assert rows[1][:7] == ("1", "l1", "dist 1.0", "3", "50.00 ± 0.00", "92.00 ± 2.00", "-7.00")
    assert rows[1][7:11] == ("119,028", "264,200", "11.5%", "2.50")
    assert rows[2][:6] == ("2", "random", "dist 1.0", "2", "20.00 ± 14.14", "81.00 ± 1.41")
    assert rows[3][:5] == ("–", "bn", "dist 1.0", "2 (0, 1)", "not applicable: no BN")
    assert rows[4][:5] == ("–", "crashy", "dist 1.0", "1 (0)", "failed: criterion 'crashy': boom | bang")


def test_markdown_is_deterministic_and_says_where_it_came_from():
    first = render_markdown(build_boards(RECORDS, "prunebench leaderboard --results r")[0])
    again = render_markdown(build_boards(list(reversed(RECORDS)), "prunebench leaderboard --results r")[0])
    assert first == again
    assert "| – | crashy | dist 1.0 | 1 (0) | failed: criterion 'crashy': boom \\| bang |" in first
    for fact in ("Made by: `prunebench run`", "Commit: `abc123`", "Seeds: 3 (0, 1, 2)",
                 "Hardware: `Test CPU, 2 cores, no GPU, ran on cpu`",
                 "Regenerate: `prunebench leaderboard --results r`"):
        assert fact in first
