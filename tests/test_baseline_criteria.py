"""random, l1 and l2 (plugins/prunebench-baselines) on layers whose right answer is known."""

import pytest
import torch

from prunebench.criteria import registry
from prunebench.criterion import PruneContext
from tests.conftest import conv_group

# Filter norms by hand:      L1    L2
FILTERS = [[3.0, 0.0, 0.0, 0.0],  # 3.0   3.0
           [1.0, 1.0, 1.0, 1.0],  # 4.0   2.0
           [0.5, -0.5, 0.0, 0.0],  # 1.0   0.71
           [-2.0, 2.0, 0.0, 0.0],  # 4.0   2.83
           [0.0, 0.0, 0.0, 0.1]]  # 0.1   0.1


def make(name):
    return registry.load(name).cls()


def test_l1_keeps_largest_absolute_sums():
    assert make("l1").select(conv_group(FILTERS), 3).tolist() == [0, 1, 3]
    assert make("l1").select(conv_group(FILTERS), 2).tolist() == [1, 3]


def test_l2_keeps_largest_euclidean_norms():
    assert make("l2").select(conv_group(FILTERS), 3).tolist() == [0, 1, 3]
    assert make("l2").select(conv_group(FILTERS), 2).tolist() == [0, 3]


def test_l1_and_l2_disagree_where_the_norms_do():
    group = conv_group([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert make("l1").select(group, 1).tolist() == [1]
    assert make("l2").select(group, 1).tolist() == [0]


def _ctx(seed):
    return PruneContext(model=None, groups=[], loss=None, device=torch.device("cpu"),
                        generator=torch.Generator().manual_seed(seed), batches=lambda: iter(()))


def test_random_is_seeded_and_varies_with_the_seed():
    group = conv_group([[1.0]] * 50)
    picks = []
    for seed in (0, 0, 1):
        criterion = make("random")
        criterion.prepare(_ctx(seed))
        picks.append(criterion.select(group, 10).tolist())
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]
    assert len(set(picks[0])) == 10


def test_random_without_prepare_says_so():
    with pytest.raises(RuntimeError, match="prepare"):
        make("random").select(conv_group([[1.0]] * 3), 1)
