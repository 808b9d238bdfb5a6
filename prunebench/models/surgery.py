"""Physical removal of filters with torch-pruning's DependencyGraph: the conv loses its output
channels, and its BatchNorm and every consumer (next conv, the flatten into the first FC layer)
lose the matching inputs. The pruned model is genuinely smaller; nothing is masked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch_pruning as tp
from torch import Tensor, nn

from prunebench.criterion import ChannelGroup
from prunebench.errors import PrunebenchError


def _graph(model: nn.Module, example: Tensor, root: str) -> tp.DependencyGraph:
    """Trace the dependencies of `model.<root>` (the whole model when root is "")."""
    return tp.DependencyGraph().build_dependency(model.get_submodule(root), example_inputs=example)


def _conv(model: nn.Module, name: str) -> nn.Conv2d:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise PrunebenchError(f"model has no layer named '{name}'") from None
    if not isinstance(module, nn.Conv2d):
        raise PrunebenchError(f"layer '{name}' is a {type(module).__name__}, not a Conv2d")
    return module


def channel_groups(model: nn.Module, names: Sequence[str], example: Tensor,
                   root: str = "") -> list[ChannelGroup]:
    """The prunable groups named by the scenario, with the BatchNorm that follows each conv and
    the layers that consume its channels."""
    graph = _graph(model, example, root)
    module_names = {id(module): name for name, module in model.named_modules()}
    groups = []
    for name in names:
        conv = _conv(model, name)
        coupled = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=[0])
        bns = [dep.target.module for dep, _ in coupled
               if isinstance(dep.target.module, nn.BatchNorm2d)]
        takes_channels = (tp.prune_conv_in_channels, tp.prune_linear_in_channels)
        consumers = tuple(module_names[id(dep.target.module)] for dep, _ in coupled
                          if dep.handler in takes_channels)
        groups.append(ChannelGroup(name=name, conv=conv, bn=bns[0] if bns else None,
                                   consumers=consumers))
    return groups


def independent_convs(model: nn.Module, example: Tensor, root: str = "") -> tuple[str, ...]:
    """Every conv of `model.<root>` whose filters can be removed on their own, in module order:
    removing one takes only its own output channel, its BatchNorm's, the inputs of the layers it
    feeds (and a depthwise conv's channel it alone feeds), never another conv's or linear
    layer's output channel, as a residual add would. Grouped convs are left out."""
    graph = _graph(model, example, root)
    outputs = (tp.prune_conv_out_channels, tp.prune_linear_out_channels)
    found = []
    for name, module in model.get_submodule(root).named_modules():
        if not isinstance(module, nn.Conv2d) or module.groups != 1:
            continue
        coupled = graph.get_pruning_group(module, tp.prune_conv_out_channels, idxs=[0])
        if all(dep.target.module is module for dep, _ in coupled if dep.handler in outputs):
            found.append(f"{root}.{name}" if root else name)
    return tuple(found)


def remove_filters(model: nn.Module, example: Tensor, keep: Mapping[str, Tensor],
                   root: str = "") -> None:
    """Prune every named conv down to the filters in `keep[name]` (sorted indices), in place."""
    graph = _graph(model, example, root)
    for name, kept in keep.items():
        conv = _conv(model, name)
        drop = sorted(set(range(conv.out_channels)) - set(kept.tolist()))
        if not drop:
            continue
        group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=drop)
        if not graph.check_pruning_group(group):
            raise PrunebenchError(f"cannot remove {len(drop)} filters from '{name}': "
                                  "the layer would be left empty")
        group.prune()


def keep_first(model: nn.Module, names: Sequence[str], widths: Sequence[int], example: Tensor,
               root: str = "") -> None:
    """Narrow each named conv to its width by keeping its first filters: for an architecture whose
    weights do not matter (sizes, speed) or are loaded right after."""
    remove_filters(model, example, {n: torch.arange(w) for n, w in zip(names, widths)}, root)


def widths(model: nn.Module, names: Sequence[str]) -> tuple[int, ...]:
    return tuple(_conv(model, name).out_channels for name in names)
