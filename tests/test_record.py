"""The typed result record: its JSON round trip, the upgrade of version-1 files, and refusals."""

import json
import re
from pathlib import Path

import pytest

from prunebench.results.record import SCHEMA_VERSION, Record, RecordError

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
    assert written["schema_version"] == SCHEMA_VERSION == 3
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
    (lambda r: r.update(schema_version=4), "schema version 4, this prunebench reads 3, 2 and 1"),
    (lambda r: r.pop("role"), "it lacks role"),
    (lambda r: r.pop("seed"), "it lacks seed"),
    (lambda r: r.pop("pruned"), "it lacks pruned"),
    (lambda r: r["budget"].pop("threads"), "it lacks budget.threads"),
    (lambda r: r.update(status="done"), "status 'done' is none of ok, failed, not-applicable"),
    (lambda r: r["target"].update(name="../x"), "target '../x' cannot name a file"),
    (lambda r: r["environment"].update(colour="blue"), "environment has unknown keys"),
    (lambda r: r["pruned"]["metrics"].update(top1=float("nan")),
     "its pruned.metrics.top1 is nan, not a finite number"),
    (lambda r: r["pruned"]["metrics"].update(top1=float("inf")), "top1 is inf, not a finite"),
    (lambda r: r["pruned"].update(macs="264200"), "its pruned.macs is '264200', not a whole"),
    (lambda r: r["speed"][0].pop("speedup_real"), "its speed[0].speedup_real is None, not a"),
    (lambda r: r["speed"][0].update(batch_size="1"), "speed[0].batch_size is '1', not a whole"),
    (lambda r: r.update(speed={"rows": 1}), "its speed is dict, not a list"),
    (lambda r: r.update(exports=[1]), "its exports is list, not an object"),
    (lambda r: r.update(exports={"onnx": {"file": "../../etc/passwd"}}),
     "its exports.onnx.file '../../etc/passwd' leads out of the results folder"),
    (lambda r: r.update(model_file="/etc/passwd"), "model_file '/etc/passwd' leads out of"),
    (lambda r: r["budget"].update(threads="2"), "its budget.threads is '2', not a whole"),
    (lambda r: r["target"].update(widths=["4", 14]), "its target.widths[0] is '4', not a"),
    (lambda r: r["cost"].update(colour=1), "its cost has unknown keys ['colour']"),
])
def test_unusable_records_are_refused_with_the_reason(change, message):
    record = Record.from_json(_v1()).to_json()
    change(record)
    with pytest.raises(RecordError, match=re.escape(message)):
        Record.from_json(record)


def test_free_text_is_cut_to_what_a_board_may_copy():
    record = Record.from_json(_v1()).to_json()
    record["command"] = "prunebench run " + "x" * 5_000_000
    command = Record.from_json(record).command
    assert len(command) < 2_100 and command.endswith("… (5,000,015 characters)")


def test_a_failed_record_has_no_measurements_and_keeps_its_reason():
    record = Record.from_json(_v1()).to_json()
    for key in ("widths", "baseline", "pruned", "speed", "history", "criterion_report"):
        del record[key]
    record.update(status="failed", error="criterion 'apoz': boom", cost={"cell_seconds": 1.5})
    failed = Record.from_json(record)
    assert failed.measured is None and failed.error == "criterion 'apoz': boom"
    assert failed.cell_seconds == 1.5 and not failed.done()
    assert Record.from_json(failed.to_json()) == failed


def test_files_without_a_role_get_the_one_their_fields_imply():
    """Files written before roles were recorded (schema 1 and 2; issue 41): every committed one
    reads with the row name it had, each role is the one its fields imply (`upgrade_v2`), and
    schema 3 writes the role instead of `reference`."""
    seen = set()
    for path in COMMITTED:
        v = json.loads(path.read_text())
        assert "role" not in v
        record = Record.from_json(v)
        kind, control = record.role.kind, record.role.control
        seen.add(kind)
        if v.get("reference"):
            assert (kind, control) == ("control", v["criterion"]["name"])
        elif v["target"].get("macs_reduction") and v["target"]["widths"]:
            assert (kind, record.label) == ("uniform", f"uniform ({v['criterion']['name']})")
        else:
            assert (kind, record.label) == ("criterion", record.criterion.label)
        written = record.to_json()
        assert written["role"] == {"kind": kind, "control": control}
        assert written["schema_version"] == 3 and "reference" not in written
    assert seen == {"criterion", "uniform", "control"}


def test_the_recorded_role_names_the_row_not_the_widths():
    """A recorded role is what the board reads: the same l1 cell is the `uniform` row or a
    criterion's row by its role alone, and a control's row is its control's name."""
    path = next(p for p in COMMITTED if p.name.startswith("l1--prun1--"))
    v = Record.from_json(json.loads(path.read_text())).to_json()
    assert Record.from_json({**v, "role": {"kind": "uniform", "control": None}}).label == \
        "uniform (l1)"
    assert Record.from_json({**v, "role": {"kind": "criterion", "control": None}}).label == "l1"
    control = Record.from_json({**v, "role": {"kind": "control", "control": "scratch-b"}})
    assert (control.label, control.reference) == ("scratch-b", True)
    legacy = Record.from_json({**v, "role": {"kind": "control", "control": "scratch"}})
    assert legacy.label == "scratch-e"  # the first two editions' name of scratch-e


@pytest.mark.parametrize("role,message", [
    ({"kind": "baseline", "control": None}, "its role 'baseline' is none of"),
    ({"kind": "control", "control": None}, "its role 'control' names the control None"),
    ({"kind": "criterion", "control": "scratch-e"}, "names the control 'scratch-e'"),
    ({"kind": "control", "control": "../x"}, "names the control '../x'"),
])
def test_a_role_that_cannot_be_is_refused(role, message):
    v = Record.from_json(json.loads(COMMITTED[0].read_text())).to_json()
    with pytest.raises(RecordError, match=re.escape(message)):
        Record.from_json({**v, "role": role})
