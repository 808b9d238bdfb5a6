"""Physical filter removal and the measurements, against hand-computed LeNet-5 numbers.

LeNet-5 (28x28 input): conv1 1->20 5x5 gives 24x24, pool 12x12; conv2 20->50 5x5 gives 8x8, pool
4x4; fc1 800->500; fc2 500->10.
  MACs: conv1 20*25*576 = 288,000; conv2 50*20*25*64 = 1,600,000; fc1 400,000; fc2 5,000.
  Widths 4,14: conv1 4*25*576 = 57,600; conv2 14*4*25*64 = 89,600; fc1 224*500 = 112,000; fc2 5,000.
  Params: 520 + 25,050 + 400,500 + 5,010 = 431,080; widths 4,14: 104 + 1,414 + 112,500 + 5,010.
"""

import torch
from torch import nn

from prunebench.measure.flops import count_macs
from prunebench.measure.memory import count_params, feature_map_elements, trm_bytes
from prunebench.models import surgery
from prunebench.models.lenet5 import LeNet5

SHAPE = (1, 28, 28)
EXAMPLE = torch.zeros(1, *SHAPE)


def pruned_lenet(keep1, keep2):
    torch.manual_seed(0)
    model = LeNet5()
    surgery.remove_filters(model, EXAMPLE, {"conv1": torch.tensor(keep1),
                                            "conv2": torch.tensor(keep2)})
    return model


def test_unpruned_lenet5_counts():
    model = LeNet5()
    macs, per_layer = count_macs(model, SHAPE)
    assert count_params(model) == 431_080
    assert macs == 2_293_000
    assert per_layer == {"conv1": 288_000, "conv2": 1_600_000, "fc1": 400_000, "fc2": 5_000}


def test_prun1_widths_give_hand_computed_params_and_macs():
    model = pruned_lenet(range(4), range(14))
    macs, per_layer = count_macs(model, SHAPE)
    assert surgery.widths(model, ("conv1", "conv2")) == (4, 14)
    assert count_params(model) == 104 + 1_414 + 112_500 + 5_010 == 119_028
    assert per_layer == {"conv1": 57_600, "conv2": 89_600, "fc1": 112_000, "fc2": 5_000}
    assert macs == 264_200
    assert model(torch.randn(3, *SHAPE)).shape == (3, 10)


def test_surgery_keeps_exactly_the_chosen_filters_and_their_consumers():
    torch.manual_seed(0)
    original = LeNet5()
    model = LeNet5()
    model.load_state_dict(original.state_dict())
    keep1, keep2 = [1, 5, 7, 19], [0, 3, 49]
    surgery.remove_filters(model, EXAMPLE, {"conv1": torch.tensor(keep1),
                                            "conv2": torch.tensor(keep2)})
    assert torch.equal(model.conv1.weight, original.conv1.weight[keep1])
    assert torch.equal(model.conv1.bias, original.conv1.bias[keep1])
    assert torch.equal(model.conv2.weight, original.conv2.weight[keep2][:, keep1])
    # the flatten into fc1 keeps the 16 spatial positions of each kept channel
    columns = torch.cat([torch.arange(16) + 16 * c for c in keep2])
    assert torch.equal(model.fc1.weight, original.fc1.weight[:, columns])


def test_removing_dead_filters_leaves_outputs_unchanged():
    """Filters with zero weights and bias contribute nothing; removing them must not change
    a single output, which also proves the consumers were sliced consistently."""
    torch.manual_seed(0)
    model = LeNet5()
    dead = [2, 11, 30, 31, 45]
    with torch.no_grad():
        model.conv2.weight[dead] = 0
        model.conv2.bias[dead] = 0
    x = torch.randn(8, *SHAPE)
    expected = model(x)
    alive = [i for i in range(50) if i not in dead]
    surgery.remove_filters(model, EXAMPLE, {"conv2": torch.tensor(alive)})
    assert model.conv2.out_channels == 45 and model.fc1.in_features == 45 * 16
    torch.testing.assert_close(model(x), expected)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def test_groups_find_their_batchnorm_and_surgery_prunes_it():
    model = BNNet()
    example = torch.zeros(1, 3, 8, 8)
    groups = surgery.channel_groups(model, ("conv1", "conv2"), example)
    assert [g.bn for g in groups] == [model.bn1, model.bn2]
    assert [g.n_filters for g in groups] == [8, 6]
    surgery.remove_filters(model, example, {"conv1": torch.tensor([0, 2, 4]),
                                            "conv2": torch.tensor([1, 5])})
    assert (model.bn1.num_features, model.conv2.in_channels, model.bn2.num_features,
            model.fc.in_features) == (3, 3, 2, 2)


def test_group_without_batchnorm_says_none():
    assert surgery.channel_groups(LeNet5(), ("conv1",), EXAMPLE)[0].bn is None


def test_trm_follows_eq_16_by_hand():
    model = LeNet5()
    # feature maps per sample: conv1 20*24*24 + conv2 50*8*8 + fc1 500 + fc2 10
    assert feature_map_elements(model, SHAPE) == 11_520 + 3_200 + 500 + 10 == 15_230
    assert trm_bytes(model, SHAPE, 64) == 431_080 * 4 + 15_230 * 4 * 64
    pruned = pruned_lenet(range(4), range(14))
    assert trm_bytes(pruned, SHAPE, 1) == 119_028 * 4 + (4 * 576 + 14 * 64 + 510) * 4


def test_automatic_groups_are_the_convs_no_residual_add_couples():
    """torchvision ResNet-18: in each of the 8 basic blocks conv1 feeds only conv2, so its filters
    go alone; conv2, the downsample convs and the stem feed a residual add, coupled with another
    conv's output. The known answer is the 8 conv1s."""
    import torchvision

    model = torchvision.models.resnet18()
    found = surgery.independent_convs(model, torch.zeros(1, 3, 64, 64))
    assert found == tuple(f"layer{i}.{j}.conv1" for i in range(1, 5) for j in range(2))
    # a plain chain: every conv; traced under a root, the names are the whole model's
    assert surgery.independent_convs(LeNet5(), torch.zeros(1, 1, 28, 28)) == ("conv1", "conv2")
    wrapped = nn.ModuleDict({"net": LeNet5()})
    assert surgery.independent_convs(wrapped, torch.zeros(1, 1, 28, 28), "net") == (
        "net.conv1", "net.conv2")
