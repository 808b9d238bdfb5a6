"""The training loop's CPU speed measures change no result: channels-last steps give the standard
layout's weights (to float rounding) and hand back standard tensors; freed memory is reused."""

import resource

import pytest
import torch

from prunebench.data.arrays import ArrayData
from prunebench.errors import TrainingDiverged
from prunebench.harness.train import train
from prunebench.models import surgery
from prunebench.models.lenet5 import LeNet5
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget
from prunebench.runtime.heap import keep_freed_memory
from prunebench.runtime.memory_format import cpu_channels_last, suits_channels_last

BUDGET = Budget("t", baseline_epochs=1, baseline_lr=0.05, finetune_epochs=1, finetune_lr=0.01,
                steps=1, batch_size=16, calibration_batches=1, seeds=(0,))


def _data() -> ArrayData:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (96,), generator=gen)
    return ArrayData(x, y, x[:16], y[:16], num_classes=10, source="random")


def _untrained() -> LeNet5:
    torch.manual_seed(0)
    return LeNet5()


def _train(model: LeNet5, extra_loss=None) -> None:
    train(model, _data(), Classification(), BUDGET, epochs=1, lr=0.05,
          generator=torch.Generator().manual_seed(1), device=torch.device("cpu"),
          extra_loss=extra_loss)


def test_channels_last_training_matches_the_standard_layout_and_hands_back_standard_weights():
    standard, fast, layouts = _untrained(), _untrained(), []

    def penalty():  # a criterion's penalty reads the weights: they stay in the standard layout
        layouts.append(standard.conv2.weight.is_contiguous())

    _train(standard, penalty)
    _train(fast)
    assert layouts and all(layouts)
    for (name, a), b in zip(fast.named_parameters(), standard.parameters()):
        assert a.is_contiguous(), name
        # one epoch of SGD grows the layouts' rounding apart: up to 7e-5 on weights of ~0.1
        # with torch 2.14 (AVX-512), 1e-5 with 2.15; a layout bug moves them by 1e-2 and more
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-4, msg=name)
    assert not torch.equal(fast.conv1.weight, _untrained().conv1.weight)  # it did train


def test_weights_gone_to_nan_stop_training_by_name_and_leave_no_checkpoint(tmp_path):
    """A learning rate of 1e12 sends LeNet-5 to NaN within the first of two epochs (6 steps
    each): training stops at that epoch's end, naming the phase, and the epoch checkpoint it
    would have saved there is not written (nor one left from before)."""
    resume = tmp_path / "cell.epoch.pt"
    model = _untrained()
    with pytest.raises(TrainingDiverged, match=r"^step 2's fine-tuning diverged: the weights "
                                               r"became NaN or infinite by step 6 of 12 "
                                               r"\(learning rate 1e\+12\)"):
        train(model, _data(), Classification(), BUDGET, epochs=2, lr=1e12,
              generator=torch.Generator().manual_seed(1), device=torch.device("cpu"),
              resume=resume, label="step 2's fine-tuning")
    assert not resume.exists()
    assert not all(torch.isfinite(p).all() for p in model.parameters())


def lenet(widths: tuple[int, int]) -> LeNet5:
    model = LeNet5()
    surgery.keep_first(model, ("conv1", "conv2"), widths, torch.zeros(1, 1, 28, 28))
    return model


def test_the_memory_layout_follows_the_architecture_alone():
    """conv2 takes conv1's filters: channels-last from 4 of them up, whatever conv2 keeps, the
    standard layout at 3 or 2 (measured slower channels-last); conv1 sees the image's one."""
    assert suits_channels_last(LeNet5()) and suits_channels_last(lenet((4, 14)))
    assert suits_channels_last(lenet((20, 2))) and suits_channels_last(lenet((4, 5)))
    assert not suits_channels_last(lenet((3, 8))) and not suits_channels_last(lenet((2, 40)))
    cpu = torch.device("cpu")
    for widths, inside in (((4, 14), False), ((3, 8), True)):
        model = lenet(widths)
        with cpu_channels_last(model, cpu):
            assert model.conv2.weight.is_contiguous() is inside
        assert model.conv2.weight.is_contiguous()


@pytest.mark.skipif(not keep_freed_memory(), reason="needs glibc's mallopt")
def test_megabyte_blocks_freed_by_one_step_are_reused_without_page_faults():
    def step():  # three activation-sized blocks, all freed at the end, as in a training step
        blocks = [torch.ones(1 << 20) for _ in range(3)]  # 4 MiB each
        return sum(float(b[0]) for b in blocks)

    for _ in range(3):  # the heap settles: on one thread the first steps still grow it
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # glibc's own moving thresholds give ~10,000-40,000 here (measured); kept memory, 0 once
    # settled (measured), at most a few blocks' fresh pages (1,024 each)
    assert faults < 3 * 1024
