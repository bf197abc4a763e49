"""A model's computation graph as the receptive-field walk sees it, read with ``torch.fx``.

``trace(model)`` follows the model's ``forward`` with ``torch.fx.symbolic_trace``'s tracer and
turns every node of the graph into a ``Step``: the input, a conv or pool layer, a global pool,
a layer that mixes every position (a linear layer over flattened maps, attention), an
operation whose effect on positions is not followed, or a step that lets its inputs through
(batch norm, activations, dropout, additions and concatenations of branches).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from ._checks import as_pair, first_line
from .sizes import effective_kernel_size

Pair = tuple[int, int]

KINDS = ("input", "constant", "layer", "adaptive", "global", "flatten", "dense", "whole",
         "unknown", "pass", "output")
"""What a step does to the positions it sees; ``pass`` also merges branches."""


@dataclass(frozen=True)
class Layer:
    """A conv or pool layer's geometry, each a ``(height, width)`` pair.

    ``padding`` is the padding before the first row and column; a ``same`` layer keeps the
    size of its input (torch pads one more pixel at the end when the kernel is even).
    """

    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    pool: bool
    ceil_mode: bool = False
    same: bool = False


@dataclass(frozen=True)
class Step:
    """One node of the graph: its ``kind`` (one of ``KINDS``), the steps it reads
    (``inputs``, indices of earlier steps), the layer for ``layer`` steps, the output size of
    an ``adaptive`` pool, and why an ``unknown`` step cannot be followed (``note``)."""

    name: str
    kind: str
    inputs: tuple[int, ...] = ()
    layer: Layer | None = None
    output_size: tuple[int | None, int | None] | None = None
    note: str = ""


@dataclass(frozen=True)
class Traced:
    """The steps in topological order; for every submodule, the step of its output; and
    ``(submodule, step of its output)`` for every call of a submodule, in the order the calls
    end (a module called twice, such as a shared ReLU, is listed twice)."""

    steps: list[Step]
    ends: dict[str, int]
    calls: list[tuple[str, int]]


class TraceFailed(ValueError):
    """``torch.fx`` could not trace the model; ``module`` is where the trace stopped."""

    def __init__(self, module: str | None, reason: str) -> None:
        self.module, self.reason = module, reason
        where = f"module {module!r}" if module else "the model's own forward"
        super().__init__(f"torch.fx cannot trace the model: {where} stopped it: {reason}")


class _Tracer(fx.Tracer):
    """The standard tracer, remembering each submodule's output node and the modules being
    traced (the innermost one is where a failed trace stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: dict[str, fx.Node] = {}
        self.calls: list[tuple[str, fx.Node]] = []
        self.inside: list[str] = []

    def call_module(self, m, forward, args, kwargs):
        name = self.path_of_module(m)
        self.inside.append(name)
        out = super().call_module(m, forward, args, kwargs)
        self.inside.pop()
        if isinstance(out, fx.Proxy):
            self.ends[name] = out.node
            self.calls.append((name, out.node))
        return out


def trace(model: nn.Module) -> Traced:
    """Trace ``model`` in eval mode (so dropout and training-only branches are left out)."""
    from .hooks import evaluating  # here: tracing need not load the training machinery

    tracer = _Tracer()
    try:
        with evaluating(model):
            graph = tracer.trace(model)
    except Exception as err:  # fx fails in many ways: control flow, unsupported calls
        raise TraceFailed(tracer.inside[-1] if tracer.inside else None,
                          first_line(err)) from None
    index: dict[fx.Node, int] = {}
    steps: list[Step] = []
    for node in graph.nodes:
        inputs = tuple(index[n] for n in node.all_input_nodes if n in index)
        steps.append(_step(node, model, inputs, first_input=not any(
            s.kind == "input" for s in steps)))
        index[node] = len(steps) - 1
    return Traced(steps, {name: index[node] for name, node in tracer.ends.items()},
                  [(name, index[node]) for name, node in tracer.calls if node in index])


# ---------------------------------------------------------------------------------------------
# Nodes as steps
# ---------------------------------------------------------------------------------------------

_WHOLE_MODULES = (nn.MultiheadAttention, nn.Transformer, nn.TransformerEncoderLayer,
                  nn.TransformerDecoderLayer)
_UNFOLLOWED_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Conv1d,
                       nn.Conv3d, nn.MaxPool1d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool3d,
                       nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.Unfold, nn.Fold,
                       nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d,
                       nn.ReplicationPad2d, nn.CircularPad2d, nn.MaxUnpool2d, nn.LPPool2d,
                       nn.FractionalMaxPool2d)
_WHOLE_FUNCTIONS = {torch.matmul, torch.bmm, torch.einsum, operator.matmul,
                    F.scaled_dot_product_attention}
_UNFOLLOWED_FUNCTIONS = {F.interpolate, F.upsample, F.pixel_shuffle, F.pixel_unshuffle,
                         F.unfold, F.fold, F.pad, F.grid_sample, F.conv_transpose2d,
                         torch.roll, torch.flip, torch.rot90, F.conv1d, F.conv3d}
_FLATTEN = {torch.flatten, torch.reshape, "flatten", "view", "reshape"}
_REDUCTIONS = {torch.mean, torch.amax, torch.sum, torch.amin, "mean", "amax", "sum", "amin",
               "max", "min", torch.max, torch.min}


def _step(node: fx.Node, model: nn.Module, inputs: tuple[int, ...], first_input: bool) -> Step:
    name = str(node.target) if node.op == "call_module" else node.name
    if node.op == "placeholder":
        return Step(name, "input" if first_input else "constant")
    if node.op == "get_attr":
        return Step(name, "constant")
    if node.op == "output":
        return Step(name, "output", inputs)
    if node.op == "call_module":
        kind, layer, size, note = _module_kind(model.get_submodule(str(node.target)))
    else:
        kind, layer, size, note = _function_kind(node, model)
    return Step(name, kind, inputs, layer, size, note)


def _module_kind(m: nn.Module) -> tuple:
    if isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d):
        return "layer", _conv_layer(m.kernel_size, m.stride, m.padding, m.dilation), None, ""
    if isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
        return "layer", _pool_layer(m.kernel_size, m.stride, m.padding,
                                    getattr(m, "dilation", 1), m.ceil_mode), None, ""
    if isinstance(m, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        return _adaptive(m.output_size)
    if isinstance(m, nn.Flatten):
        return "flatten", None, None, ""
    if isinstance(m, nn.Linear | nn.Bilinear):
        return "dense", None, None, ""
    if isinstance(m, _WHOLE_MODULES):
        return "whole", None, None, ""
    if isinstance(m, _UNFOLLOWED_MODULES):
        return "unknown", None, None, f"{type(m).__name__} layers are not followed"
    return "pass", None, None, ""


def _function_kind(node: fx.Node, model: nn.Module) -> tuple:
    target = node.target
    if target in (F.max_pool2d, F.avg_pool2d, F.conv2d):
        a = _arguments(node, model)
        if a is None:
            return "unknown", None, None, f"the arguments of {node.name} cannot be read"
        if target is F.conv2d:
            weight = a["weight"]
            if not isinstance(weight, fx.Node) or weight.op != "get_attr":
                return "unknown", None, None, f"the weight of {node.name} is not a parameter"
            shape = model.get_parameter(str(weight.target)).shape
            return "layer", _conv_layer(tuple(shape[2:]), a.get("stride", 1),
                                        a.get("padding", 0), a.get("dilation", 1)), None, ""
        return "layer", _pool_layer(a["kernel_size"], a.get("stride") or None,
                                    a.get("padding", 0), a.get("dilation", 1),
                                    a.get("ceil_mode", False)), None, ""
    if target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        return _adaptive(node.args[1] if len(node.args) > 1 else node.kwargs["output_size"])
    if target in (F.linear, F.bilinear):
        return "dense", None, None, ""
    if target in _WHOLE_FUNCTIONS:
        return "whole", None, None, ""
    if target in _UNFOLLOWED_FUNCTIONS:
        return "unknown", None, None, f"{getattr(target, '__name__', target)} is not followed"
    if target in _FLATTEN:
        return "flatten", None, None, ""
    if target in _REDUCTIONS and _reduces_positions(node):
        return "global", None, None, ""
    return "pass", None, None, ""


def _arguments(node: fx.Node, model: nn.Module) -> dict | None:
    """A call's arguments by name (``F.conv2d``'s two signatures are told apart by hand)."""
    if node.target is F.conv2d:
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        return {**dict(zip(names, node.args, strict=False)), **node.kwargs}
    try:
        args = node.normalized_arguments(model, normalize_to_only_use_kwargs=True)
    except RuntimeError:
        return None
    return None if args is None else args.kwargs


def _reduces_positions(node: fx.Node) -> bool:
    """Whether a mean/sum/max over ``dim`` folds the height or width of an (N, C, H, W) map."""
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    if dims is None:
        return True  # over every dimension
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return any(isinstance(d, int) and d in (2, 3, -1, -2) for d in dims)


def _adaptive(output_size) -> tuple:
    size = (output_size, output_size) if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if size == (1, 1):
        return "global", None, None, ""
    return "adaptive", None, size, ""


def _conv_layer(kernel, stride, padding, dilation) -> Layer:
    k, s, d = (as_pair(tuple(v) if isinstance(v, list) else v, name, 1)
               for v, name in ((kernel, "kernel_size"), (stride, "stride"),
                               (dilation, "dilation")))
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":  # torch puts the odd pixel of an even total at the end
        p = tuple((effective_kernel_size(k[a], d[a]) - 1) // 2 for a in range(2))
    else:
        p = as_pair(tuple(padding) if isinstance(padding, list) else padding, "padding")
    return Layer(k, s, p, d, pool=False, same=padding == "same")  # type: ignore[arg-type]


def _pool_layer(kernel, stride, padding, dilation, ceil_mode) -> Layer:
    def pair(v, name, minimum):
        return as_pair(tuple(v) if isinstance(v, list) else v, name, minimum)

    k = pair(kernel, "kernel_size", 1)
    return Layer(k, pair(stride, "stride", 1) if stride else k, pair(padding, "padding", 0),
                 pair(dilation, "dilation", 1), pool=True, ceil_mode=bool(ceil_mode))


__all__ = ["KINDS", "Layer", "Step", "TraceFailed", "Traced", "trace"]
