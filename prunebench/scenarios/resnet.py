"""ResNet-50 on ImageNet (seed 001 Table 5, Fig. 5): torchvision's ResNet-50; only the first two
convs of every bottleneck are pruned, so the identity paths keep their widths.

Schedules, identical for every criterion (SGD, momentum 0.9, weight decay 1e-4, batch 256 with 224
crops; baseline learning rate 0.1 with a cosine):
  smoke  tiny data: 64-pixel crops, 1 baseline epoch, 1 step x 1 fine-tune epoch, batch 8
  quick  a 10% subset of ImageNet: 16 baseline epochs; one-shot, 2 fine-tune epochs, a final 2
  paper  90 baseline epochs; 16 steps x 3 fine-tune epochs, then a final 12 (seed 001: Prun.1
         after 65 epochs, one sparsity epoch per iteration; the final phase is not measured
         here: the LeNet-5 pilot's, 4 steps' worth)
Fine-tuning decays from 1e-3 to 1e-5 with a cosine restarted at every step and in the final
phase: seed 001 sec. 4.4, "We vary learning rate in the range [0.001, 0.00001]".
Target `prun1`: 40, 80, 160 and 320 filters kept in blocks 2-5 (seed 001 sec. 4.3).
"""

from __future__ import annotations

from prunebench.data import imagefolder
from prunebench.data.synthetic import write_imagefolder_like
from prunebench.models.tasks import Classification
from prunebench.protocol.config import Budget, Target
from prunebench.protocol.schedule import decay
from prunebench.scenarios.base import Scenario, ignoring_size

BLOCKS = (3, 4, 6, 3)  # bottlenecks in layer1..layer4 (the seed's blocks 2-5)
KEPT = (40, 80, 160, 320)
GROUPS = tuple(f"layer{stage}.{block}.conv{i}" for stage, n in enumerate(BLOCKS, 1)
               for block in range(n) for i in (1, 2))
TARGETS = {
    "prun1": Target("prun1", widths=tuple(KEPT[int(g[5]) - 1] for g in GROUPS)),
    "half": Target("half", ratio=0.5),
}
SEED_001_RESNET = decay(1e-3, 1e-5)  # sec. 4.4
BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=1, baseline_lr=0.05, finetune_epochs=1,
                    **SEED_001_RESNET, steps=1, batch_size=8, calibration_batches=1, seeds=(0,),
                    train_limit=32, test_limit=16, image_size=64, weight_decay=1e-4,
                    speed_batch_sizes=(1,)),
    "quick": Budget("quick", baseline_epochs=16, baseline_lr=0.1, finetune_epochs=2,
                    **SEED_001_RESNET, steps=1, batch_size=256, calibration_batches=8, seeds=(0,),
                    train_limit=128_117, weight_decay=1e-4, final_epochs=2),
    "paper": Budget("paper", baseline_epochs=90, baseline_lr=0.1, finetune_epochs=3,
                    **SEED_001_RESNET, final_epochs=12, steps=16, batch_size=256,
                    calibration_batches=16,
                    seeds=(0, 1, 2), weight_decay=1e-4),
}


def _resnet50(num_classes: int = 1000):
    from torchvision.models import resnet50

    return resnet50(weights=None, num_classes=num_classes)


def resnet50_imagenet() -> Scenario:
    return Scenario(
        name="resnet50-imagenet",
        description="torchvision ResNet-50 on an ImageNet ImageFolder tree; prunes conv1/conv2 of "
                    "each bottleneck (seed 001 Fig. 5)",
        build_model=ignoring_size(_resnet50, 1000), load_data=imagefolder.load,
        task=Classification(),
        groups=GROUPS, input_shape=(3, 224, 224), targets=TARGETS, budgets=BUDGETS,
        default_target="prun1",
        tiny_data=lambda root: write_imagefolder_like(root / "imagenet"),
        paper_settings={"stability": (("lam", 5e-6),)})  # seed 001 sec. 4.4
