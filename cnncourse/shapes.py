"""Shapes, parameters and multiply-adds of a real model: what one forward pass shows, layer by
layer, on branching models too (each leaf layer is recorded when it runs).

``cnncourse.sizes`` computes sizes from the formulas; this module runs the model itself. The
lessons import these names from ``cnncourse.arithmetic``, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ._checks import first_line


@dataclass(frozen=True)
class ShapeRow:
    """One row of :func:`shape_table`: a leaf layer, its output shape, its parameters (counted
    at the layer's first call only) and the multiply-adds of this call."""

    name: str
    type: str
    out_shape: tuple[int, ...]
    params: int
    macs: int = 0


class ShapeTable(list):
    """The rows of :func:`shape_table`, with the totals ``params`` and ``macs``."""

    def __init__(self, rows: list[ShapeRow], macs: int) -> None:
        super().__init__(rows)
        self.params = sum(row.params for row in rows)
        self.macs = macs  # all of the forward pass, also products outside leaf layers

    def __str__(self) -> str:
        width = max([len(row.name) for row in self] + [5])
        lines = [f"{'layer':<{width}}  {'type':<18} {'output':<20} {'params':>11} "
                 f"{'mult-adds':>15}"]
        for row in self:
            shape = " x ".join(str(v) for v in row.out_shape)
            lines.append(f"{row.name:<{width}}  {row.type:<18} {shape:<20} {row.params:>11,} "
                         f"{row.macs:>15,}")
        lines.append(f"{'total':<{width}}  {'':<18} {'':<20} {self.params:>11,} "
                     f"{self.macs:>15,}")
        return "\n".join(lines)


def shape_table(model: nn.Module, input_shape: Sequence[int]) -> ShapeTable:
    """Run one forward pass and list every leaf layer's output shape, parameters and
    multiply-adds (counted by ``torch.utils.flop_counter``: convolutions and matrix products;
    one multiply-add is two of its flops), in the order the layers run.

    ``input_shape`` is ``(N, C, H, W)`` or ``(C, H, W)`` (a batch of 1 is then added). The pass
    runs on the ``meta`` device, which knows shapes without computing a number (on zeros if
    the model needs values), in eval mode; the model is put back in the mode it was in.
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
    try:
        return _table(model, shape, on_meta=True)
    except Exception:  # noqa: BLE001 - the model needs real values: run it on zeros
        return _table(model, shape, on_meta=False)


def _table(model: nn.Module, shape: tuple[int, ...], on_meta: bool) -> ShapeTable:
    rows: list[ShapeRow] = []
    counted: set[int] = set()
    counter = FlopCounterMode(display=False)
    before: list[int] = []

    def record(name: str, module: nn.Module, output) -> None:
        out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        params = 0 if id(module) in counted else sum(
            p.numel() for p in module.parameters(recurse=False))
        counted.add(id(module))
        macs = (counter.get_total_flops() - before.pop()) // 2
        rows.append(ShapeRow(name, type(module).__name__, out_shape, params, macs))

    param = next(model.parameters(), None)
    device = "meta" if on_meta else param.device if param is not None else "cpu"
    x = torch.zeros(shape, device=device,
                    dtype=param.dtype if param is not None else torch.float32)
    from .hooks import evaluating  # here: importing the sizes need not load the hooks

    def starting(name: str) -> None:
        before.append(counter.get_total_flops())

    with watching_leaves(model, record, starting) as running:
        try:
            with evaluating(model), torch.no_grad(), counter:
                if on_meta:
                    state = {k: torch.empty_like(v, device="meta") for k, v in
                             [*model.named_parameters(), *model.named_buffers()]}
                    functional_call(model, state, (x,))
                else:
                    model(x)
        except RuntimeError as err:
            if on_meta:
                raise
            raise ValueError(f"input_shape {shape}: {where_it_failed(running)} cannot take "
                             f"the input it receives: {first_line(err)}") from None
    return ShapeTable(rows, counter.get_total_flops() // 2)


@contextmanager
def watching_leaves(model: nn.Module, after: Callable[[str, nn.Module, object], None],
                    before: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """Inside the block, ``after(name, module, output)`` runs as each leaf layer of ``model``
    returns (``before(name)`` as it starts). Yields the names of the leaf layers running now:
    after a failure, the last one is where it happened. The hooks are removed on exit."""
    running: list[str] = []

    def starts(name: str):
        def hook(module, inputs):
            running.append(name)
            if before is not None:
                before(name)
        return hook

    def ends(name: str):
        def hook(module, inputs, output):
            running.pop()
            after(name, module, output)
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [h for name, m in leaves for h in (m.register_forward_pre_hook(starts(name)),
                                                  m.register_forward_hook(ends(name)))]
    try:
        yield running
    finally:
        for h in handles:
            h.remove()


def where_it_failed(running: list[str]) -> str:
    """The layer a forward pass stopped in, from ``watching_leaves``'s list, in words."""
    return f"layer {running[-1]!r}" if running else "the model's forward"


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of trainable parameters of a model (all of them with ``trainable_only=False``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["ShapeRow", "ShapeTable", "count_parameters", "shape_table", "watching_leaves",
           "where_it_failed"]
