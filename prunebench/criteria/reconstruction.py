"""The layer that consumes a group's channels, seen as a linear map of per-channel blocks, and
sampled rows of its inputs and outputs (`LayerRows`): what reconstruction criteria choose
channels by (ThiNet, Luo et al., ICCV'17 sec. 3.2; CP, He et al., ICCV'17 sec. 3.1) and what
their refit fits. The harness owns the loops, as in `calibration`: rows are sampled at random
output positions, `locations` per image, with a seeded generator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from prunebench.criterion import Batch, ChannelGroup, LayerRows, NotApplicable, PruneContext

Consumer = nn.Conv2d | nn.Linear


def consumer(model: nn.Module, group: ChannelGroup) -> Consumer:
    """The one layer that consumes `group`'s channels, or NotApplicable saying why there is
    not exactly one a reconstruction can refit."""
    if len(group.consumers) != 1:
        raise NotApplicable(f"layer {group.name}'s filters feed {len(group.consumers)} layers "
                            f"({', '.join(group.consumers) or 'none'}); reconstruction refits "
                            "exactly one consuming layer")
    layer = model.get_submodule(group.consumers[0])
    if isinstance(layer, nn.Conv2d) and layer.groups == 1 and layer.padding_mode == "zeros":
        return layer
    if isinstance(layer, nn.Linear):
        return layer
    raise NotApplicable(f"layer {group.name}'s filters feed {group.consumers[0]}, a "
                        f"{type(layer).__name__} reconstruction cannot see as a linear map")


def input_blocks(layer: Consumer, x: Tensor, channels: int) -> Tensor:
    """The layer's input as (images, positions, channels, block): a conv's k x k patch of each
    channel at each output position, a linear's features of each channel (flattened
    channel-major, as `Tensor.flatten` does)."""
    if isinstance(layer, nn.Conv2d):
        patches = nn.functional.unfold(x, layer.kernel_size, layer.dilation,
                                       layer.padding, layer.stride)  # type: ignore[arg-type]
        n, _, positions = patches.shape
        return patches.view(n, channels, -1, positions).permute(0, 3, 1, 2)
    if x.shape[1] % channels:
        raise NotApplicable(f"{x.shape[1]} input features of a linear layer do not split into "
                            f"{channels} channels")
    return x.reshape(len(x), 1, channels, -1)


def output_positions(layer: Consumer, y: Tensor) -> Tensor:
    """The layer's output as (images, positions, outputs)."""
    return y.flatten(2).transpose(1, 2) if isinstance(layer, nn.Conv2d) else y[:, None, :]


def weight_blocks(layer: Consumer, channels: int) -> Tensor:
    """The layer's weight as (outputs, channels, block), matching `input_blocks`."""
    return layer.weight.detach().reshape(layer.weight.shape[0], channels, -1)


def set_weight_blocks(layer: Consumer, blocks: Tensor) -> None:
    with torch.no_grad():
        layer.weight.copy_(blocks.reshape(layer.weight.shape).to(layer.weight.dtype))


def _pick(images: int, positions: int, locations: int, generator: torch.Generator) -> Tensor:
    """`locations` distinct random positions per image (all of them when there are fewer)."""
    order = torch.rand(images, positions, generator=generator).argsort(dim=1)
    return order[:, :min(locations, positions)]


def sample_rows(batches: Callable[[], Iterator[Batch]], source: tuple[nn.Module, Consumer],
                target: tuple[nn.Module, Consumer], channels: int, outputs: Tensor | None,
                locations: int, generator: torch.Generator) -> LayerRows:
    """Rows of `source`'s consuming layer's inputs and of `target`'s layer's outputs (less its
    bias) at the same images and positions, the outputs restricted to `outputs` (None: all);
    source and target are the same model to choose, the pruned and the unpruned to refit."""
    (source_model, source_layer), (target_model, target_layer) = source, target
    seen: dict[str, Tensor] = {}
    handles = [source_layer.register_forward_pre_hook(
                   lambda _m, args: seen.__setitem__("input", args[0].detach())),
               target_layer.register_forward_hook(
                   lambda _m, _a, out: seen.__setitem__("output", out.detach()))]
    inputs, targets = [], []
    bias = target_layer.bias.detach() if target_layer.bias is not None else None
    try:
        with torch.no_grad():
            for x, _ in batches():
                source_model(x)
                if target_model is not source_model:
                    target_model(x)
                blocks = input_blocks(source_layer, seen["input"], channels)
                out = output_positions(target_layer, seen["output"])
                if bias is not None:
                    out = out - bias
                if outputs is not None:
                    out = out[:, :, outputs]
                picked = _pick(len(x), blocks.shape[1], locations, generator).to(x.device)
                rows = torch.arange(len(x), device=x.device)[:, None]
                inputs.append(blocks[rows, picked].flatten(0, 1).float().cpu())
                targets.append(out[rows, picked].flatten(0, 1).float().cpu())
    finally:
        for handle in handles:
            handle.remove()
    weight = weight_blocks(source_layer, channels)
    if outputs is not None and weight.shape[0] != len(outputs):
        raise ValueError(f"the consuming layer has {weight.shape[0]} outputs, the targets "
                         f"{len(outputs)}")
    return LayerRows(torch.cat(inputs), torch.cat(targets), weight.float().cpu())


def consumer_rows(ctx: PruneContext, group: ChannelGroup, locations: int) -> LayerRows:
    """Rows of the consuming layer of `group` in the model as it is (before any removal): for
    a criterion's `prepare` or `select`. Draws positions with `ctx.generator`."""
    layer = consumer(ctx.model, group)
    ctx.model.eval()
    return sample_rows(ctx.batches, (ctx.model, layer), (ctx.model, layer), group.n_filters,
                       None, locations, ctx.generator)


def channel_gram(rows: LayerRows, weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """G[c, c'] = sum_{r,o} Z[r,o,c] Z[r,o,c'] and b[c] = sum_{r,o} Z[r,o,c] targets[r,o], with
    Z[r,o,c] = inputs[r,c] . weight[o,c] what channel c adds to output o (`weight` defaults to
    the layer's): ||targets - sum_c beta_c Z_c||^2 = beta'G beta - 2 b'beta + const, all that
    ThiNet and CP need. Computed as (X'X * W'W) summed within channels, without Z."""
    x = rows.inputs.flatten(1).double()
    w = (rows.weight if weight is None else weight).flatten(1).double()
    channels = rows.inputs.shape[1]
    blocks = (x.T @ x) * (w.T @ w)
    gram = blocks.view(channels, -1, channels, blocks.shape[1] // channels).sum(dim=(1, 3))
    b = (x * (rows.targets.double() @ w)).view(len(x), channels, -1).sum(dim=(0, 2))
    return gram, b


#: the ridge of `least_squares`, relative to the mean squared input: small enough to leave a fit
#: the rows determine as it is, large enough to keep a square or short system from blowing up
RIDGE = 1e-3


def least_squares(rows: LayerRows, ridge: float = RIDGE) -> Tensor:
    """The weight (rows.weight's shape) that minimises the reconstruction error over the rows,
    sum_r ||targets[r] - W inputs[r]||^2, plus lambda ||W - W0||^2 towards the layer's weight
    now (W0), lambda = `ridge` x the mean diagonal of X'X. Where the rows determine the fit the
    penalty changes it by about `ridge`; where they do not (a linear consumer after a flatten
    has as many unknowns as the calibration has images) the weight stays W0 there instead of
    the unregularised fit's noise, which on Fashion-MNIST made fine-tuning diverge."""
    x = rows.inputs.flatten(1).double()
    current = rows.weight.flatten(1).double()  # (outputs, unknowns)
    gram = x.T @ x
    penalty = ridge * float(gram.diagonal().mean())
    system = gram + penalty * torch.eye(len(gram), dtype=gram.dtype)
    rhs = x.T @ rows.targets.double() + penalty * current.T
    solution = torch.linalg.lstsq(system, rhs, driver="gelsd").solution
    return solution.T.reshape(rows.weight.shape)
