"""The contract's checks turn every malformed answer into a clear error."""

import pytest
import torch

from prunebench.criterion import ScoreCriterion, check_keep, check_scores
from tests.conftest import conv_group


@pytest.fixture
def group():
    return conv_group([[1.0, 0.0]] * 5)


def test_valid_answer_is_sorted_int64(group):
    keep = check_keep(torch.tensor([4, 0, 2]), group, 3)
    assert keep.tolist() == [0, 2, 4]
    assert keep.dtype == torch.long
    assert check_keep([3, 1], group, 2).tolist() == [1, 3]


@pytest.mark.parametrize("answer, message", [
    (torch.tensor([0, 1]), "returned 2 indices, expected 3"),
    (torch.tensor([0, 1, 5]), "outside 0..4"),
    (torch.tensor([0, -1, 2]), "outside 0..4"),
    (torch.tensor([1, 1, 2]), "duplicate indices [1]"),
    (torch.tensor([0.0, 1.0, 2.0]), "not integers"),
    (torch.tensor([True, False, True]), "not integers"),
    ("0,1,2", "not indices"),
    (None, "not indices"),
])
def test_malformed_answers_are_rejected(group, answer, message):
    with pytest.raises(ValueError) as info:
        check_keep(answer, group, 3)
    assert message in str(info.value)
    assert "conv" in str(info.value)


@pytest.mark.parametrize("scores, message", [
    (torch.tensor([1.0, float("nan"), 0.0, 1.0, 2.0]), "NaN/inf for filters [1]"),
    (torch.tensor([1.0, 2.0, float("inf"), 0.0, 1.0]), "NaN/inf for filters [2]"),
    (torch.ones(4), "4 values for 5 filters"),
    ([1, 2, 3, 4, 5], "not a Tensor"),
])
def test_malformed_scores_are_rejected(group, scores, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_scores(scores, group)


class Fixed(ScoreCriterion):
    def __init__(self, scores):
        self.scores = scores

    def score(self, group):
        return torch.tensor(self.scores)


def test_score_criterion_keeps_highest_and_breaks_ties_by_index(group):
    assert Fixed([0.1, 0.9, 0.5, 0.9, 0.2]).select(group, 2).tolist() == [1, 3]
    assert Fixed([1.0, 1.0, 1.0, 1.0, 1.0]).select(group, 3).tolist() == [0, 1, 2]
    assert Fixed([0.0, 0.0, 2.0, 1.0, 1.0]).select(group, 2).tolist() == [2, 3]
