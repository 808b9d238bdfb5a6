"""Discovery lists without importing, loads lazily, and refuses what breaks the contract."""

import pytest

from prunebench.criteria import registry
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
    ("l1", "provided by several distributions"),
])
def test_contract_breakers_are_refused_one_by_one(installed, name, message):
    with pytest.raises(CriterionError) as info:
        registry.load(name)
    assert message in str(info.value)
    assert str(info.value).startswith(f"criterion '{name}'")
    assert registry.load("keep-last").cls.__name__ == "KeepLast"  # the others still load


def test_conflict_names_both_owners(installed):
    with pytest.raises(CriterionError) as info:
        registry.load("l1")
    assert "faulty-criteria 1.0" in str(info.value)
    assert "prunebench-baselines 0.1.0" in str(info.value)
    assert "uninstall all but one" in str(info.value)


def test_unknown_name_lists_what_is_installed():
    with pytest.raises(PrunebenchError, match=r"unknown criterion 'nosuch' \(installed: .*l1.*\)"):
        registry.load("nosuch")
