"""The plugin contract: what a pruning criterion receives, and what it must answer.

A criterion only decides *which* filters of a layer to keep. The harness owns every loop (training,
calibration, surgery, fine-tuning) and checks every answer with `check_keep` / `check_scores`, so a
bad plugin fails with a clear message instead of silently producing a wrong table.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]

#: What a criterion may declare in `needs`; an empty tuple means data-free.
NEEDS = ("activations", "gradients", "training")


@dataclass(frozen=True)
class ChannelGroup:
    """One prunable set of output channels: a conv, its BatchNorm (if any), and everything that
    consumes them (handled by the surgery, not by the criterion)."""

    name: str
    conv: nn.Conv2d
    bn: nn.BatchNorm2d | None = None
    #: The layers (convs, linears) whose input channels these filters are, by name in the model.
    consumers: tuple[str, ...] = ()

    @property
    def n_filters(self) -> int:
        return self.conv.out_channels


@dataclass(frozen=True)
class SparsityPhase:
    """The SGD of a step's sparsity epochs, which a penalty's strength is measured against:
    its (constant) learning rate, momentum and iterations per epoch, and the budget's
    fine-tuning epochs per step, against which a phase's length can be kept in proportion."""

    lr: float = 1e-3
    momentum: float = 0.9
    iterations_per_epoch: int = 1
    #: the fine-tuning epochs of each pruning step: what the budget itself spends per step
    finetune_epochs: float = 1.0

    @property
    def step(self) -> float:
        """How far one iteration moves a weight per unit of steady gradient: lr / (1 - momentum)."""
        return self.lr / (1 - self.momentum)


@dataclass
class PruneContext:
    """Everything a criterion may use; handed to `prepare` and `penalty`.

    `batches()` yields at most the schedule's number of calibration batches of training data, in
    the same order for every criterion, already on `device`. `widths` maps each group's name to
    the filters it keeps after this step (a criterion that decides before its sparsity epochs
    what it will remove needs them). `sparsity` describes the SGD of the sparsity epochs, for a
    criterion that sets its penalty's strength or its epochs from them in `prepare`.
    """

    model: nn.Module
    groups: Sequence[ChannelGroup]
    loss: Callable[[nn.Module, Batch], Tensor]
    generator: torch.Generator
    device: torch.device
    batches: Callable[[], Iterator[Batch]]
    widths: Mapping[str, int] = field(default_factory=dict)
    sparsity: SparsityPhase = SparsityPhase()


@dataclass(frozen=True)
class LayerRows:
    """Sampled rows of a layer that consumes a group's channels, seen as a linear map of
    per-channel blocks: output[r, o] = sum_c inputs[r, c] . weight[o, c] + bias[o] (a conv's
    blocks are its k x k input patches, a linear's the features one channel flattened into).

    `inputs` (rows, channels, block), `targets` (rows, outputs) the outputs to reproduce less
    the bias, `weight` (outputs, channels, block) the layer's weights now."""

    inputs: Tensor
    targets: Tensor
    weight: Tensor

    def error(self, weight: Tensor | None = None) -> float:
        """The squared reconstruction error with `weight` (default: the layer's now) over the
        targets' squared norm."""
        w = (self.weight if weight is None else weight).double()
        residual = 0.0
        for start in range(0, len(self.inputs), 256):
            out = torch.einsum("rcb,ocb->ro", self.inputs[start:start + 256].double(), w)
            residual += float((self.targets[start:start + 256].double() - out).pow(2).sum())
        return residual / max(float(self.targets.double().pow(2).sum()), 1e-30)


@dataclass(frozen=True)
class Limits:
    """What one setting's value may be, declared in a criterion's `limits` so a bad value is
    refused with the other arguments, before any work: bounds (inclusive, or `above`:
    exclusive), a list of choices, or a path that must exist."""

    low: float | None = None
    high: float | None = None
    above: float | None = None
    choices: tuple[object, ...] = ()
    must_exist: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` is outside these limits (one clause), or None."""
        if value is None:
            return None
        if self.choices and value not in self.choices:
            return f"is none of {', '.join(map(str, self.choices))}"
        if self.must_exist and not Path(str(value)).exists():
            return f"names {value}, which does not exist"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.low is not None and value < self.low:
                return f"is below {self.low:g}"
            if self.above is not None and value <= self.above:
                return f"must be above {self.above:g}"
            if self.high is not None and value > self.high:
                return f"is above {self.high:g}"
        return None


class NotApplicable(Exception):
    """Raised by a criterion that cannot judge this model (e.g. it needs a BatchNorm the layer
    lacks). The cell is recorded as not applicable with the message, not as a failure."""


class Criterion(abc.ABC):
    """Base class of every criterion. Subclasses are instantiated with no arguments."""

    #: Extra training epochs with `penalty` added to the loss before selection; charged as cost.
    #: Read from the instance after `prepare`, so a setting or the step's data may choose it.
    sparsity_epochs: float = 0.0
    #: How the sparsity epochs are chosen where `prepare` sets them; `prunebench list` shows it.
    sparsity_rule: ClassVar[str] = ""
    #: Subset of `NEEDS`; shown by `prunebench list`.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Whether the harness calls `refit` after the filters are removed; its time is charged.
    refits: ClassVar[bool] = False
    #: Each setting's allowed values (`Limits`), checked before any work; unlisted: any value
    #: of its type.
    limits: ClassVar[Mapping[str, Limits]] = {}
    #: Rows sampled per calibration image for `refit` (ThiNet and CP sample 10).
    refit_locations: int = 10

    def prepare(self, ctx: PruneContext) -> None:  # noqa: B027 - optional hook
        """Called once per pruning step before any sparsity epochs and `select` calls."""

    def penalty(self, ctx: PruneContext) -> Tensor | None:
        """Auxiliary loss added during the sparsity epochs (None: no extra loss)."""
        return None

    def state(self) -> dict:
        """What the criterion carries from one pruning step to the next (plain JSON values),
        saved with each step's checkpoint, so a killed cell resumes as an uninterrupted one
        would have gone on (a lambda chosen at the first step, say). Default: nothing."""
        return {}

    def restore(self, state: dict) -> None:  # noqa: B027 - optional hook
        """Take back what `state` returned, when a cell resumes after a finished step."""

    @abc.abstractmethod
    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        """Return the indices of the `n_keep` filters of `group.conv` to KEEP."""

    def refit(self, group: ChannelGroup, rows: LayerRows) -> Tensor | None:
        """With `refits`: called once per group in forward order after the filters are removed
        and before fine-tuning. `rows` holds the pruned model's inputs to the group's consuming
        layer and the unpruned model's outputs there; return that layer's new weight, shaped as
        `rows.weight`, or None to leave it."""
        return None

    def allocate(self, ctx: PruneContext, macs_of: Callable[[tuple[int, ...]], int],
                 target_macs: int, floors: tuple[int, ...]) -> Sequence[int] | None:
        """On a global target (`--target macs-Fx`), after `prepare` and the sparsity epochs: the
        widths of `ctx.groups` for `target_macs` (`macs_of` counts an architecture's MACs), each
        at least its floor; None leaves the choice to the harness's shared normalisation. The
        harness checks the budget and the floors, and the board marks the row."""
        return None

    def report(self) -> dict:
        """JSON-ready facts the result file should record (e.g. which auxiliary weights were
        used)."""
        return {}


class ScoreCriterion(Criterion):
    """A criterion that scores each filter; the `n_keep` highest scores are kept.

    Ties are broken towards the lower filter index, so equal scores give a deterministic answer.
    """

    #: On a global target (`macs-Fx`): True when the raw scores are comparable across layers
    #: (LAMP's, |gamma|), so one threshold on them is the criterion's own global rule; False
    #: lets the harness divide each layer's scores by their mean first.
    scores_comparable_across_layers: ClassVar[bool] = False

    @abc.abstractmethod
    def score(self, group: ChannelGroup) -> Tensor:
        """One finite value per filter of `group.conv`; higher means more worth keeping."""

    def select(self, group: ChannelGroup, n_keep: int) -> Tensor:
        scores = check_scores(self.score(group), group)
        order = torch.argsort(-scores, stable=True)
        return order[:n_keep].sort().values


def check_scores(scores: object, group: ChannelGroup) -> Tensor:
    """Return `scores` as a 1-D float tensor, or raise ValueError saying what is wrong with it."""
    if not isinstance(scores, Tensor):
        raise ValueError(f"score() on {group.name} returned {type(scores).__name__}, not a Tensor")
    scores = scores.detach().flatten().double().cpu()
    if scores.numel() != group.n_filters:
        raise ValueError(
            f"score() on {group.name} returned {scores.numel()} values for {group.n_filters} "
            "filters"
        )
    bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"score() on {group.name} returned NaN/inf for filters {bad[:5]}")
    return scores


def check_keep(answer: object, group: ChannelGroup, n_keep: int) -> Tensor:
    """Return `answer` as sorted int64 indices, or raise ValueError saying what is wrong with it."""
    if isinstance(answer, Tensor):
        if answer.is_floating_point() or answer.is_complex() or answer.dtype == torch.bool:
            raise ValueError(f"select() on {group.name} returned {answer.dtype}, not integers")
        values = answer.detach().flatten().cpu().tolist()
    elif isinstance(answer, Sequence) and all(isinstance(v, int) for v in answer):
        values = list(answer)
    else:
        raise ValueError(f"select() on {group.name} returned {type(answer).__name__}, not indices")
    if len(values) != n_keep:
        raise ValueError(f"select() on {group.name} returned {len(values)} indices, expected "
                         f"{n_keep}")
    outside = [v for v in values if not 0 <= v < group.n_filters]
    if outside:
        raise ValueError(
            f"select() on {group.name} returned indices {outside[:5]} outside "
            f"0..{group.n_filters - 1}"
        )
    if len(set(values)) != len(values):
        dupes = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"select() on {group.name} returned duplicate indices {dupes[:5]}")
    return torch.tensor(sorted(values), dtype=torch.long)

