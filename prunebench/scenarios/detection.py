"""Faster R-CNN (ResNet-50 FPN) on COCO (seed 001 Table 4): criteria prune the first two convs of
every bottleneck of the detector's backbone, as on the ImageNet row; the FPN keeps its widths.

Schedules, identical for every criterion (SGD, momentum 0.9, weight decay 1e-4):
  smoke  tiny data at 128 pixels: 1 baseline epoch, 1 step x 1 fine-tune epoch, batch 2
  quick  a 10% subset of train2017 at 512 pixels: 12 baseline epochs at 0.02; one-shot, 2
         fine-tune epochs and a final 2, batch 8
  paper  train2017 at 800 pixels: 26 baseline epochs at 0.02 (training from scratch needs about
         twice the usual 1x schedule); 4 steps x 3 fine-tune epochs and a final 6, batch 16
Fine-tuning decays from 2e-3 to 2e-4 with a cosine restarted at every step and in the final
phase. Seed 001 gives no rate for the detector (sec. 4.5): this is one decade below its
fine-tuning rate, the shape of the seed's LeNet-5 and VGG-16 ranges (sec. 4.1-4.2).
Targets: the ImageNet row's `prun1` widths (40/80/160/320) and half of every layer.

`fasterrcnn-coco-transfer` is the seed's generalisation experiment (sec. 4.5): no criterion runs
on the detector; each cell trains the detector, with the baseline schedule above, on the backbone
a criterion pruned on the ImageNet row (see prunebench/harness/cells/transfer.py).
"""

from __future__ import annotations

from dataclasses import replace

from prunebench.data import coco
from prunebench.data.synthetic import write_coco_like
from prunebench.models.detection import fasterrcnn_resnet50_fpn
from prunebench.models.tasks import Detection
from prunebench.protocol.config import Budget, Target
from prunebench.protocol.schedule import decay
from prunebench.scenarios import resnet
from prunebench.scenarios.base import Scenario

ROOT = "backbone.body"
GROUPS = tuple(f"{ROOT}.{g}" for g in resnet.GROUPS)
TARGETS = {"prun1": Target("prun1", widths=resnet.TARGETS["prun1"].widths),
           "half": Target("half", ratio=0.5)}
DETECTOR_DECAY = decay(2e-3, 2e-4)  # no sentence of seed 001: sec. 4.1-4.2's shape
BUDGETS = {
    "smoke": Budget("smoke", baseline_epochs=1, baseline_lr=0.01, finetune_epochs=1,
                    **DETECTOR_DECAY, steps=1, batch_size=2, calibration_batches=1, seeds=(0,),
                    train_limit=4, test_limit=4, image_size=128, weight_decay=1e-4,
                    speed_batch_sizes=(1,)),
    "quick": Budget("quick", baseline_epochs=12, baseline_lr=0.02, finetune_epochs=2,
                    **DETECTOR_DECAY, steps=1, batch_size=8, calibration_batches=8, seeds=(0,),
                    train_limit=11_829, image_size=512, weight_decay=1e-4, final_epochs=2),
    "paper": Budget("paper", baseline_epochs=26, baseline_lr=0.02, finetune_epochs=3,
                    **DETECTOR_DECAY, final_epochs=6, steps=4, batch_size=16,
                    calibration_batches=16,
                    seeds=(0, 1, 2), image_size=800, weight_decay=1e-4),
}


def fasterrcnn_coco() -> Scenario:
    return Scenario(
        name="fasterrcnn-coco",
        description="Faster R-CNN, ResNet-50 FPN backbone, on COCO images + instances JSON; "
                    "COCOeval box AP/AR (seed 001 Table 4)",
        build_model=fasterrcnn_resnet50_fpn, load_data=coco.load, task=Detection(),
        groups=GROUPS, input_shape=(3, 800, 800), targets=TARGETS, budgets=BUDGETS,
        default_target="prun1", prune_root=ROOT, measure_root="backbone",
        tiny_data=lambda root: write_coco_like(root / "coco"))


def fasterrcnn_coco_transfer() -> Scenario:
    return replace(
        fasterrcnn_coco(), name="fasterrcnn-coco-transfer", backbone_source="resnet50-imagenet",
        description="Faster R-CNN on COCO built on each criterion's pruned ResNet-50 from the "
                    "ImageNet row (seed 001 sec. 4.5); needs --backbone-from",
        targets={"prun1": TARGETS["prun1"]})
