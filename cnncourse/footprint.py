"""Measure which input pixels one output unit depends on, by backpropagating from it.

The measurement works on a copy of the model made linear with positive weights: every
convolution and linear layer averages its inputs, biases are zero, activations and
normalisations become identities and max pools average pools. On an input of ones no
contribution can then cancel or vanish, so the pixels with a non-zero gradient are exactly
the pixels that some path of the network connects to the unit: its receptive field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

Pair = tuple[int, int]

_IDENTITIES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
               nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid,
               nn.Tanh, nn.Softplus, nn.Softmax, nn.Dropout, nn.Dropout2d,
               nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
               nn.LocalResponseNorm, nn.modules.instancenorm._InstanceNorm)


@dataclass(frozen=True)
class Footprint:
    """Rows ``top..bottom`` and columns ``left..right`` (inclusive) of the input pixels that
    output ``unit`` (``(row, col)``, or ``None`` when the output has no positions) depends on;
    ``everything`` when that is every pixel of the ``input_size`` input."""

    unit: Pair | None
    top: int
    bottom: int
    left: int
    right: int
    everything: bool
    input_size: Pair

    @property
    def centre(self) -> tuple[float, float]:
        return (self.top + self.bottom) / 2, (self.left + self.right) / 2

    @property
    def clipped(self) -> bool:
        """Whether the footprint reaches the image border (the field may go on beyond it)."""
        h, w = self.input_size
        return self.top == 0 or self.left == 0 or self.bottom == h - 1 or self.right == w - 1


def linear_probe(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the CPU, in eval mode, made linear with positive weights."""
    probe = copy.deepcopy(model).cpu().float().eval()
    for parent in list(probe.modules()):
        for name, child in parent.named_children():
            if isinstance(child, _IDENTITIES):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d) and child.dilation in (1, (1, 1)):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride,
                                                   child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(parent, name, nn.AdaptiveAvgPool2d(child.output_size))
    with torch.no_grad():
        for module in probe.modules():
            for name, p in module.named_parameters(recurse=False):
                p.requires_grad_(False)
                if name == "weight" and isinstance(module, nn.Conv2d | nn.Linear):
                    p.fill_(1 / p[0].numel())  # each output averages what it sees
                else:
                    p.fill_(0.0 if name.endswith("bias") else 1.0)
    return probe


def gradient_footprint(probe: nn.Module, input_shape: tuple[int, int, int],
                       unit: Pair | None = None, at: str | None = None) -> Footprint:
    """The footprint of one output unit of ``probe`` (a ``linear_probe``) on an input of
    shape ``(C, H, W)``: of ``unit`` (the centre one by default) of the model's output, or of
    the output of its submodule ``at``; a flat output's units are taken together."""
    outputs: list[torch.Tensor] = []
    handle = None
    if at is not None:
        handle = probe.get_submodule(at).register_forward_hook(
            lambda module, inputs, output: outputs.append(_tensor(output)))
    x = torch.ones(1, *input_shape, requires_grad=True)
    try:
        with torch.enable_grad():
            out = probe(x)
    finally:
        if handle is not None:
            handle.remove()
    out = outputs[0] if outputs else _tensor(out)
    if out.dim() == 4:
        if unit is None:
            unit = (out.shape[2] // 2, out.shape[3] // 2)
        out[0, :, unit[0], unit[1]].sum().backward()
    else:
        unit = None
        out[0].sum().backward()
    seen = torch.nonzero(x.grad[0].abs().sum(0))
    rows, cols = seen[:, 0], seen[:, 1]
    size = (input_shape[1], input_shape[2])
    return Footprint(unit, int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max()),
                     len(seen) == size[0] * size[1], size)


def _tensor(output) -> torch.Tensor:
    """The first tensor of a module's output (a tuple or named tuple for some models)."""
    if isinstance(output, torch.Tensor):
        return output
    for item in (output.values() if isinstance(output, dict) else output):
        if isinstance(item, torch.Tensor):
            return item
    raise ValueError(f"the output holds no tensor: {type(output).__name__}")


__all__ = ["Footprint", "gradient_footprint", "linear_probe"]
