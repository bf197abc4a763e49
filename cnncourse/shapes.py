"""Shapes and parameter counts of a real model: what one forward pass shows, layer by layer.

``cnncourse.arithmetic`` computes sizes from the formulas; this module runs the model itself.
The lessons import these names from ``cnncourse.arithmetic``, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import first_line


@dataclass(frozen=True)
class ShapeRow:
    """One row of :func:`shape_table`: a leaf layer, its output shape and parameter count."""

    name: str
    type: str
    out_shape: tuple[int, ...]
    params: int


def shape_table(model: nn.Module, input_shape: Sequence[int]) -> list[ShapeRow]:
    """Run one forward pass on zeros and list every leaf layer's output shape and parameters.

    ``input_shape`` is ``(N, C, H, W)`` or ``(C, H, W)`` (a batch of 1 is then added). The model
    is run in eval mode without gradients and put back in the mode it was in.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape)
    if not all(isinstance(v, int) and v >= 1 for v in shape) or len(shape) not in (3, 4):
        raise ValueError(
            f"input_shape must be (N, C, H, W) or (C, H, W) with positive ints, got {shape!r}"
        )
    if len(shape) == 3:
        shape = (1, *shape)
    rows: list[ShapeRow] = []
    current: list[str] = []

    def before(name: str):
        def hook(module, inputs):
            current.append(name)
        return hook

    def after(name: str):
        def hook(module, inputs, output):
            out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(ShapeRow(name, type(module).__name__, out_shape, params))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = []
    for name, module in leaves:
        handles.append(module.register_forward_pre_hook(before(name)))
        handles.append(module.register_forward_hook(after(name)))
    param = next(model.parameters(), None)
    x = torch.zeros(shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None else torch.float32)
    from .hooks import evaluating  # here: importing the sizes need not load the hooks

    try:
        with evaluating(model), torch.no_grad():
            model(x)
    except RuntimeError as err:
        where = f"layer {current[-1]!r}" if current else "the model"
        raise ValueError(f"input_shape {shape}: {where} cannot take the input it receives: "
                         f"{first_line(err)}") from None
    finally:
        for h in handles:
            h.remove()
    return rows


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of trainable parameters of a model (all of them with ``trainable_only=False``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["ShapeRow", "count_parameters", "shape_table"]
