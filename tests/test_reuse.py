"""Exact reuse (issue 40): a cell whose model after a removal is bit-identical to one an earlier
cell of the folder fine-tuned takes that phase's outcome instead of training, and its record
equals, in every number, the record of the same cell computed alone; its history says what it
reused and from which cell. A cell whose removal differs reuses nothing."""

from prunebench.cli.options import make_options, make_plan
from prunebench.harness.runner import run_matrix
from prunebench.harness.verify import numbers
from prunebench.report.provenance import reuse_saved


def run(folder, criteria):
    plan = make_plan(criteria=criteria, budget="smoke", seeds="0", controls="none")
    records = run_matrix(plan, make_options(results=folder, argv=["run"])).records
    return {r.criterion.name: r for r in records}


def test_a_bit_identical_phase_is_reused_and_changes_no_number(tmp_path):
    shared = run(tmp_path / "shared", "l2,lamp,l1")
    alone = {**run(tmp_path / "lamp", "lamp"), **run(tmp_path / "l1", "l1")}
    lamp, l2, l1 = shared["lamp"].measured, shared["l2"].measured, shared["l1"].measured
    assert lamp.history[0].kept == l2.history[0].kept  # at fixed widths lamp keeps l2's filters
    made_by = f"l2, seed 0 ({shared['l2'].config_hash})"
    assert [s.reused_from for s in lamp.history] == [made_by] * len(lamp.history)
    assert lamp.final_reused_from == made_by
    assert all(s.reused_from is None for s in [*l2.history, *l1.history])
    assert l1.final_reused_from is None and l2.final_reused_from is None
    for name in ("lamp", "l1"):  # every number equal to the cell computed alone
        assert list(numbers(shared[name].measured)) == list(numbers(alone[name].measured))
    assert list(numbers(lamp))[-3:] != list(numbers(l1))[-3:]  # l1's removal differs
    written = (tmp_path / "shared" / "lenet5-digits")
    text = next(written.glob("lamp--*.json")).read_text()
    assert f'"reused_from": "{made_by}"' in text and f'"final_reused_from": "{made_by}"' in text
    assert not list((tmp_path / "shared" / "reuse").rglob("*.pt"))  # forgotten with the seed
    # the board's provenance counts it: lamp took all its phases, a third of three equal schedules
    phases = len(lamp.history) + 1
    line = reuse_saved(list(shared.values()))[0]
    assert line.startswith(f"Exact reuse: {phases} of {3 * phases} fine-tuning phases (")
    assert "33.3%) were taken from a bit-identical phase another cell had trained, " in line
    assert line.endswith(" of the cells' own time at the board's mean seconds per trained epoch")
    assert reuse_saved([shared["l1"], shared["l2"]]) == []  # nothing reused: no line


def test_a_seeds_phases_stay_until_every_cell_of_the_seed_has_its_record(tmp_path):
    """A job of --jobs that ends its share of a seed while another process still runs one of
    its cells leaves the seed's phases for that cell; they go with the seed's last record."""
    from prunebench.harness.runner import cell_lock_path, prepare
    from prunebench.results.locks import exclusive

    plan = make_plan(criteria="l2,lamp", budget="smoke", seeds="0", controls="none")
    options = make_options(results=tmp_path, argv=["run"])
    prepared = prepare(plan, options)
    lamp = next(c for c in prepared.matrix.cells[0] if c.config.criterion == "lamp")
    with exclusive(cell_lock_path(tmp_path, lamp.config)) as mine:  # another process runs it
        assert mine
        first = run_matrix(plan, options, prepared=prepared).records
    assert [r.criterion.name for r in first] == ["l2"]
    assert list((tmp_path / "reuse").rglob("*.pt"))  # l2's phases, kept for lamp
    (second,) = run_matrix(plan, options).records  # lamp, by a later command
    made_by = f"l2, seed 0 ({first[0].config_hash})"
    assert [s.reused_from for s in second.measured.history] == \
        [made_by] * len(second.measured.history)
    assert not list((tmp_path / "reuse").rglob("*.pt"))  # the seed's last record: forgotten


def test_jobs_take_a_seeds_cells_from_both_ends(tmp_path):
    """Job 1 of --jobs 2 goes through a seed's cells in order and job 2 from the end, so
    neighbours (l2 and lamp) run in one job, one after the other: the second reuses."""
    plan = make_plan(criteria="l1,l2,lamp", budget="smoke", seeds="0", controls="none")
    order = {}
    for job in ("1/2", "2/2"):
        options = make_options(results=tmp_path / job[0], argv=["run"], job=job)
        order[job] = [r.criterion.name for r in run_matrix(plan, options).records]
    assert order == {"1/2": ["l1", "l2", "lamp"], "2/2": ["lamp", "l2", "l1"]}
