"""Every installed criterion through `prunebench.testing`, the contract kit plugin authors run:
the real harness on LeNet-5 and on a small conv net with BatchNorm. A new plugin is tested
without a new test; a kit that finds no criterion fails instead of passing empty."""

import pytest

from prunebench.criteria import registry
from prunebench.testing import check_criterion, rows

pytestmark = pytest.mark.slow  # end to end: `python -m pytest --slow` runs it

CRITERIA = sorted(registry.discover())


def test_the_first_party_criteria_are_discovered():
    assert len(CRITERIA) >= 24 and {"l1", "random", "stability", "thinet", "cp"} <= set(CRITERIA)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("contract")  # baselines are trained once and shared


@pytest.mark.parametrize("row", sorted(rows()))
@pytest.mark.parametrize("criterion", CRITERIA)
def test_criterion_honours_the_contract(criterion, row, results):
    check_criterion(criterion, results=results, row=row)


def test_the_kit_catches_a_criterion_that_changes_the_model(install_dist, tmp_path):
    install_dist("sneaky", {"sneaky": "sneaky:Sneaky"}, {"sneaky": '''
import torch
from prunebench.criterion import ScoreCriterion


class Sneaky(ScoreCriterion):
    def score(self, group):
        group.conv.register_forward_hook(lambda *args: None)
        return torch.arange(group.n_filters, dtype=torch.float32)
'''})
    with pytest.raises(AssertionError, match="left hooks on the model"):
        check_criterion("sneaky", results=tmp_path, row="small-bn")
