"""The harness end to end on the bundled digits: fairness, fault containment, caching,
determinism and the shape of the result files."""

import json
from dataclasses import replace

import pytest

from prunebench.cli.options import make_options, make_plan
from prunebench.harness.cells.pruning import step_widths
from prunebench.harness.runner import run_matrix
from prunebench.results.store import read_results
from tests.plugin_sources import FAULTY, FAULTY_ENTRIES, GOOD


@pytest.fixture
def good(install_dist):
    install_dist("good-criteria", {"keep-last": "good_criteria:KeepLast",
                                   "l1-copy": "good_criteria:L1Copy",
                                   "penalised": "good_criteria:Penalised"},
                 {"good_criteria": GOOD})
    import good_criteria
    good_criteria.SEEN.clear()
    good_criteria.TRAINING_MODE.clear()
    return good_criteria


def smoke(tmp_path, criteria, seeds="0", force=False, isolate=True):
    """A smoke run; `isolate=False` runs cells in this process, where a test can see what a
    plugin module recorded."""
    plan = make_plan(criteria=criteria, budget="smoke", seeds=seeds, controls="none")
    options = make_options(results=tmp_path / "results", force=force, isolate=isolate,
                           argv=["run", "--criteria", criteria])
    return run_matrix(plan, options)


def test_step_widths_reach_the_target_in_equal_steps():
    assert step_widths((20, 50), (4, 14), 1, 1) == (4, 14)
    assert [step_widths((20, 50), (4, 14), s, 4) for s in (1, 2, 3, 4)] == [
        (16, 41), (12, 32), (8, 23), (4, 14)]


def test_every_criterion_gets_the_same_baseline_data_and_budget(tmp_path, good):
    outcome = smoke(tmp_path, "l1,l1-copy,keep-last", isolate=False)
    assert all(r.ok for r in outcome.records)
    l1, copy, last = (r.measured for r in outcome.records)
    assert l1.baseline == copy.baseline == last.baseline
    # same choice + same fine-tune data order = identical numbers: the copy, bit-identical
    # after its removal, takes l1's fine-tuning (exact reuse, tests/test_reuse.py)
    assert l1.pruned == copy.pruned
    assert [replace(s, reused_from=None) for s in copy.history] == list(l1.history)
    assert all(s.reused_from.startswith("l1, seed 0 (") for s in copy.history)
    assert good.SEEN[0][1] == good.SEEN[1][1] and len(good.SEEN[0][1]) == 2
    assert last.history[0].kept == {"conv1": [16, 17, 18, 19],
                                         "conv2": list(range(36, 50))}
    assert last.pruned.params == 119_028 and last.pruned.macs == 264_200
    assert last.cost.calibration_samples == 2 * 64
    assert good.TRAINING_MODE == [False]  # eval mode: calibration cannot move BN statistics


def test_baseline_is_trained_once_and_reused(tmp_path, good):
    first = smoke(tmp_path, "l1", seeds="0")
    checkpoints = list((tmp_path / "results" / "baselines").rglob("*.pt"))
    assert len(checkpoints) == 1
    stamp = checkpoints[0].stat().st_mtime_ns
    second = smoke(tmp_path, "keep-last", seeds="0")
    assert checkpoints[0].stat().st_mtime_ns == stamp
    assert first.records[0].measured.baseline == second.records[0].measured.baseline


def test_same_seed_gives_identical_metrics(tmp_path, good):
    a = smoke(tmp_path / "a", "l1", seeds="1").records[0]
    b = smoke(tmp_path / "b", "l1", seeds="1").records[0]
    assert (a.measured.pruned, a.measured.baseline, a.measured.history) == \
        (b.measured.pruned, b.measured.baseline, b.measured.history)
    assert a.config_hash == b.config_hash


def test_sparsity_epochs_call_the_penalty_and_are_charged(tmp_path, good):
    record = smoke(tmp_path, "penalised", isolate=False).records[0]
    assert record.ok
    assert record.measured.cost.sparsity_epochs == 0.5
    assert good.Penalised.calls == 4  # half of the 8 batches of the 512-sample smoke epoch


def test_faulty_criteria_fail_alone_with_their_reason(tmp_path, install_dist):
    install_dist("faulty-criteria", FAULTY_ENTRIES, {"faulty_criteria": FAULTY})
    outcome = smoke(tmp_path, "l1," + ",".join(FAULTY_ENTRIES), seeds="0")
    by_name = {r.criterion.name: r for r in outcome.records}
    assert by_name["l1"].ok
    expected = {
        "nan-scores": "select() on conv1 raised ValueError: score() on conv1 returned NaN/inf "
                      "for filters [1]",
        "duplicates": "select() on conv1 returned duplicate indices [0]",
        "out-of-range": "outside 0..19",
        "too-few": "returned 3 indices, expected 4",
        "raises": "select() on conv1 raised ZeroDivisionError: boom",
        "bad-penalty": "penalty() must return a finite scalar Tensor or None",
        "broken-import": "is broken: import failed with ModuleNotFoundError",
    }
    for name, message in expected.items():
        assert by_name[name].status == "failed", name
        assert message in by_name[name].error, (name, by_name[name].error)
    assert len(outcome.failed) == len(expected)
    # every cell, failed or not, has its result file, readable and of the current schema
    stored = {r.criterion.name: r for r in read_results(tmp_path / "results")}
    assert stored == by_name  # the typed record survives its file unchanged
    assert stored["broken-import"].criterion.distribution == "faulty-criteria"


def test_result_file_records_what_is_needed_to_trust_it(tmp_path, good):
    outcome = smoke(tmp_path, "l1", seeds="0")
    record = json.loads(outcome.paths[0].read_text())
    assert outcome.paths[0].name.endswith(f"--{record['config_hash']}.json")
    assert record["criterion"]["distribution"] == "prunebench-baselines"
    assert record["command"] == "prunebench run --criteria l1"
    assert record["budget"]["name"] == "smoke" and record["target"]["widths"] == [4, 14]
    import re
    from importlib.metadata import version

    assert {k: record["environment"]["packages"][k] for k in ("torch", "torch-pruning")} == \
        {k: version(k) for k in ("torch", "torch-pruning")}
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?|unknown", record["environment"]["git_commit"])
    assert record["schema_version"] == 3
    assert record["pruned"]["macs_per_layer"]["conv2"] == 89_600
    assert record["baseline"]["macs"] == 2_293_000 and record["baseline"]["metrics"]["top1"] > 0
    assert 0 < record["cost"]["criterion_seconds"] < record["cost"]["cell_seconds"]


@pytest.mark.slow
def test_real_digits_baseline_learns(tmp_path):
    """Real data: the quick-budget LeNet-5 baseline on the bundled digits is well trained."""
    plan = make_plan(criteria="l1", seeds="0", controls="none")
    (record,) = run_matrix(plan, make_options(results=tmp_path)).records
    assert record.measured.baseline.metrics["top1"] > 95
    assert record.measured.pruned.metrics["top1"] > 90


class NotOurs:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("content", ["foreign", "garbage", "wrong-keys"])
def test_checkpoint_that_is_not_ours_is_refused(tmp_path, content, capsys):
    import torch

    from prunebench.errors import PrunebenchError

    smoke(tmp_path, "l1", seeds="0")
    checkpoint = next((tmp_path / "results" / "baselines").rglob("*.pt"))
    if content == "foreign":
        torch.save({"state_dict": NotOurs(), "metrics": {}}, checkpoint)
    elif content == "garbage":
        checkpoint.write_bytes(b"\x80\x04not a checkpoint at all")
    else:
        torch.save({"weights": {}}, checkpoint)
    with pytest.raises(PrunebenchError, match=f"checkpoint {checkpoint} .*delete it to retrain"):
        smoke(tmp_path, "l1", seeds="0", force=True)
    assert "code ran" not in capsys.readouterr().out
