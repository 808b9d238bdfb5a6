"""The typed result record: its JSON round trip, the upgrade of version-1 files, and refusals."""

import json
from pathlib import Path

import pytest

from prunebench.record import SCHEMA_VERSION, Record, RecordError

COMMITTED = sorted((Path(__file__).parent.parent / "leaderboards" / "results")
                   .glob("lenet5-*/*.json"))


#: a result file as version 1 wrote it (the first edition's apoz, half, seed 0), kept here so the
#: upgrade stays tested after newer editions replace the committed version-1 results
V1 = Path(__file__).parent / "data" / "v1-apoz--half--paper--seed0.json"


def _v1() -> dict:
    v1 = json.loads(V1.read_text())
    assert v1["schema_version"] == 1
    return v1


def test_committed_version_1_results_upgrade_and_survive_a_round_trip():
    assert COMMITTED, "the committed results are missing"
    for path in COMMITTED:
        record = Record.from_json(json.loads(path.read_text()))
        assert Record.from_json(record.to_json()) == record, path.name


def test_version_1_metrics_move_under_metrics_and_sizes_stay():
    v1 = _v1()
    record = Record.from_json(v1)
    pruned = record.measured.pruned
    assert pruned.metrics == {"top1": v1["pruned"]["top1"], "top5": v1["pruned"]["top5"],
                              "top1_before_finetune": v1["pruned"]["top1_before_finetune"]}
    assert (pruned.params, pruned.macs) == (v1["pruned"]["params"], v1["pruned"]["macs"])
    assert pruned.trm_bytes == {1: v1["pruned"]["trm_bytes"]["1"],
                                64: v1["pruned"]["trm_bytes"]["64"]}
    assert record.criterion.settings == {} and record.criterion.label == "apoz"
    written = record.to_json()
    assert written["schema_version"] == SCHEMA_VERSION == 2
    assert written["pruned"]["metrics"]["top1"] == v1["pruned"]["top1"]
    assert "top1" not in written["pruned"]
    assert written["cost"]["cell_seconds"] == v1["cost"]["cell_seconds"]


def test_a_version_1_budget_without_threads_takes_the_recorded_thread_count():
    v1 = _v1()
    assert "threads" not in v1["budget"]  # as version 1 was written before --threads
    v1["environment"]["torch_threads"] = 2
    assert Record.from_json(v1).budget.threads == 2


def test_a_version_1_transfer_record_names_who_pruned_the_backbone():
    v1 = _v1()
    v1["backbone_from"] = "0123456789abcdef"
    measured = Record.from_json(v1).measured
    assert measured.backbone_from == "0123456789abcdef"
    assert measured.pruned_by.name == "apoz" and measured.pruned_by.distribution == \
        "prunebench-classic"


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(schema_version=3), "schema version 3, this prunebench reads 2 and 1"),
    (lambda r: r.pop("seed"), "it lacks seed"),
    (lambda r: r.pop("pruned"), "it lacks pruned"),
    (lambda r: r["budget"].pop("threads"), "it lacks budget.threads"),
    (lambda r: r.update(status="done"), "status 'done' is none of ok, failed, not-applicable"),
    (lambda r: r["target"].update(name="../x"), "target '../x' cannot name a file"),
    (lambda r: r["environment"].update(colour="blue"), "it is malformed (TypeError"),
])
def test_unusable_records_are_refused_with_the_reason(change, message):
    record = Record.from_json(_v1()).to_json()
    change(record)
    with pytest.raises(RecordError, match=message.replace("(", r"\(")):
        Record.from_json(record)


def test_a_failed_record_has_no_measurements_and_keeps_its_reason():
    record = Record.from_json(_v1()).to_json()
    for key in ("widths", "baseline", "pruned", "speed", "history", "criterion_report"):
        del record[key]
    record.update(status="failed", error="criterion 'apoz': boom", cost={"cell_seconds": 1.5})
    failed = Record.from_json(record)
    assert failed.measured is None and failed.error == "criterion 'apoz': boom"
    assert failed.cell_seconds == 1.5 and not failed.done()
    assert Record.from_json(failed.to_json()) == failed
