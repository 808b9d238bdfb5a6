"""Discovery lists without importing, loads lazily, and refuses what breaks the contract."""

import json

import pytest

from prunebench.cli import main
from prunebench.criteria import discovery, registry
from prunebench.errors import CriterionError, PrunebenchError
from tests.plugin_sources import FAULTY, GOOD


@pytest.fixture
def installed(install_dist):
    install_dist("good-criteria", {"keep-last": "good_criteria:KeepLast"}, {"good_criteria": GOOD},
                 version="2.3.1")
    install_dist("faulty-criteria", {
        "broken-import": "no_such_module_anywhere:Thing",
        "not-a-criterion": "faulty_criteria:NotACriterion",
        "abstract": "faulty_criteria:Abstract",
        "needs-arguments": "faulty_criteria:NeedsArguments",
        "wrong-select": "faulty_criteria:WrongSelect",
        "unknown-need": "faulty_criteria:UnknownNeed",
        "l1": "faulty_criteria:NaNScores",  # clashes with prunebench-baselines' l1
    }, {"faulty_criteria": FAULTY})


def test_discovery_records_distribution_and_version_without_importing(installed):
    import sys

    found = registry.discover()
    assert found["keep-last"].distribution == "good-criteria"
    assert found["keep-last"].version == "2.3.1"
    assert found["random"].distribution == "prunebench-baselines"
    assert "good_criteria" not in sys.modules and "no_such_module_anywhere" not in sys.modules
    assert list(found) == sorted(found)


def test_good_plugin_loads_with_provenance(installed):
    loaded = registry.load("keep-last")
    assert loaded.cls.__name__ == "KeepLast" and loaded.info.version == "2.3.1"
    assert loaded.description == "Keeps the highest-numbered filters."


@pytest.mark.parametrize("name, message", [
    ("broken-import", "is broken: import failed with ModuleNotFoundError"),
    ("not-a-criterion", "is not a subclass of prunebench.criterion.Criterion"),
    ("abstract", "Abstract does not implement select"),
    ("needs-arguments", "must be constructible with no arguments"),
    ("wrong-select", "must be select(self, group, n_keep)"),
    ("unknown-need", "needs has ['telepathy']"),
])
def test_contract_breakers_are_refused_one_by_one(installed, name, message):
    with pytest.raises(CriterionError) as info:
        registry.load(name)
    assert message in str(info.value)
    assert str(info.value).startswith(f"criterion '{name}'")
    assert registry.load("keep-last").cls.__name__ == "KeepLast"  # the others still load


def test_a_third_party_cannot_take_a_first_party_name(installed, capsys):
    """faulty-criteria also claims `l1`: the board's l1 stays prunebench-baselines', and the
    claim is listed as refused, naming both."""
    assert registry.load("l1").info.distribution == "prunebench-baselines"
    assert [(c.name, c.distribution, c.conflict) for c in discovery.listing().refused] == [
        ("l1", "faulty-criteria",
         "criterion 'l1' is prunebench-baselines 0.1.0's (first party); rename yours")]
    assert main(["list", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["name"] == "l1"]
    assert [(r["distribution"], r["status"][:8]) for r in rows] == [
        ("prunebench-baselines 0.1.0", "ok"), ("faulty-criteria 1.0", "refused:")]


def test_a_name_two_third_parties_claim_is_refused_for_both(installed, install_dist):
    install_dist("other-criteria", {"keep-last": "other_criteria:KeepLast"},
                 {"other_criteria": GOOD}, version="0.2")
    with pytest.raises(CriterionError) as info:
        registry.load("keep-last")
    assert str(info.value) == (
        "criterion 'keep-last': provided by several distributions (good-criteria 2.3.1, "
        "other-criteria 0.2); uninstall all but one")


def test_unknown_name_lists_what_is_installed():
    with pytest.raises(PrunebenchError, match=r"unknown criterion 'nosuch' \(installed: .*l1.*\)"):
        registry.load("nosuch")
