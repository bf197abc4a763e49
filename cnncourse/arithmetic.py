"""Output sizes and receptive fields: the arithmetic of convolutions and pools.

``shape_table`` and ``count_parameters``, which run a real model, live in ``cnncourse.shapes``
and are importable from here too.

Every size function takes ints, or ``(height, width)`` pairs where torch accepts a pair, and
returns an int (or a pair when any argument was a pair). An impossible setting raises a
``ValueError`` that names the parameter and shows the formula with your numbers filled in.

The central formula, for one spatial axis::

    effective kernel  k' = dilation * (kernel_size - 1) + 1
    output            o  = floor((n + 2 * padding - k') / stride) + 1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from ._checks import as_int, as_pair
from .shapes import ShapeRow, count_parameters, shape_table

IntOrPair = int | tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Formulas for one axis, written as text with the numbers filled in
# ---------------------------------------------------------------------------------------------


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``dilation * (kernel_size - 1) + 1``."""
    return dilation * (kernel_size - 1) + 1


def conv_output_formula(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                        dilation: int = 1) -> str:
    """The output-size formula for one axis with the numbers filled in, e.g.
    ``"floor((28 + 2*1 - 3) / 1) + 1 = 28"``."""
    k_eff = effective_kernel_size(kernel_size, dilation)
    out = (n + 2 * padding - k_eff) // stride + 1
    return f"floor(({n} + 2*{padding} - {k_eff}) / {stride}) + 1 = {out}"


def conv_transpose_output_formula(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                                  output_padding: int = 0, dilation: int = 1) -> str:
    """The transposed-convolution size formula for one axis with the numbers filled in."""
    k_eff = effective_kernel_size(kernel_size, dilation)
    out = (n - 1) * stride - 2 * padding + k_eff + output_padding
    return f"({n} - 1)*{stride} - 2*{padding} + {k_eff} + {output_padding} = {out}"


# ---------------------------------------------------------------------------------------------
# Checked sizes for one axis
# ---------------------------------------------------------------------------------------------


def _conv_size_1d(n: int, k: int, s: int, p: int, d: int) -> int:
    k_eff = effective_kernel_size(k, d)
    out = (n + 2 * p - k_eff) // s + 1
    if out < 1:
        raise ValueError(
            f"kernel_size {k} (dilated to {k_eff}) is larger than the padded input "
            f"{n} + 2*{p} = {n + 2 * p}: output = floor(({n} + {2 * p} - {k_eff}) / {s}) + 1"
            f" = {out}. Use more padding, a smaller kernel_size or dilation, or a larger input."
        )
    return out


def _pool_size_1d(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    if 2 * p > k:
        raise ValueError(
            f"padding {p} is more than half of kernel_size {k}: a pooling window could then "
            f"see only padding. Use padding <= {k // 2}."
        )
    k_eff = effective_kernel_size(k, d)
    rounding = "ceil" if ceil_mode else "floor"
    numerator = n + 2 * p - k_eff
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        # torch drops a last window that would start inside the right padding
        out -= 1
    if out < 1:
        raise ValueError(
            f"kernel_size {k} (dilated to {k_eff}) is larger than the padded input "
            f"{n} + 2*{p} = {n + 2 * p}: output = {rounding}(({n} + {2 * p} - {k_eff}) / {s})"
            f" + 1 = {out}. Use a smaller kernel_size or a larger input."
        )
    return out


def _conv_transpose_size_1d(n: int, k: int, s: int, p: int, op: int, d: int) -> int:
    if op >= s and op >= d:
        raise ValueError(
            f"output_padding {op} must be smaller than stride {s} or dilation {d}: it only "
            f"picks among the output sizes that a stride-{s} convolution maps to the same input "
            f"size. Use output_padding < {max(s, d)}."
        )
    k_eff = effective_kernel_size(k, d)
    out = (n - 1) * s - 2 * p + k_eff + op
    if out < 1:
        raise ValueError(
            f"padding {p} crops more than the transposed convolution produces: output = "
            f"({n} - 1)*{s} - 2*{p} + {k_eff} + {op} = {out}. Use less padding."
        )
    return out


def _per_axis(fn: Callable[..., int], names: Sequence[str], values: Sequence[IntOrPair],
              minimums: Sequence[int]) -> IntOrPair:
    """Apply a one-axis size function to both axes when any argument is a pair."""
    any_pair = any(not isinstance(v, int) for v in values)
    pairs = [as_pair(v, name, m) for v, name, m in zip(values, names, minimums, strict=True)]
    if not any_pair:
        return fn(*(p[0] for p in pairs))
    results = []
    for axis, axis_name in enumerate(("height", "width")):
        try:
            results.append(fn(*(p[axis] for p in pairs)))
        except ValueError as err:
            raise ValueError(f"{axis_name}: {err}") from None
    return tuple(results)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Public size functions
# ---------------------------------------------------------------------------------------------


def conv_output_size(n: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, dilation: IntOrPair = 1) -> IntOrPair:
    """Output size of ``nn.Conv2d`` along an axis: ``floor((n + 2p - d(k-1) - 1) / s) + 1``."""
    return _per_axis(_conv_size_1d, ("n", "kernel_size", "stride", "padding", "dilation"),
                     (n, kernel_size, stride, padding, dilation), (1, 1, 1, 0, 1))


def same_padding(kernel_size: IntOrPair, dilation: IntOrPair = 1) -> IntOrPair:
    """Padding that keeps the size unchanged at stride 1: ``d(k-1) / 2``.

    Only odd effective kernels can be padded equally on both sides.
    """

    def one_axis(k: int, d: int) -> int:
        k_eff = effective_kernel_size(k, d)
        if k_eff % 2 == 0:
            raise ValueError(
                f"kernel_size {k} with dilation {d} spans {k_eff} pixels, an even number: no "
                f"equal padding on both sides keeps the size at stride 1 (it would need "
                f"{(k_eff - 1) / 2} on each side). Use an odd kernel_size such as {k + 1}."
            )
        return (k_eff - 1) // 2

    return _per_axis(one_axis, ("kernel_size", "dilation"), (kernel_size, dilation), (1, 1))


def pool_output_size(n: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                     padding: IntOrPair = 0, dilation: IntOrPair = 1,
                     ceil_mode: bool = False) -> IntOrPair:
    """Output size of ``nn.MaxPool2d`` (stride defaults to the kernel size), ceil_mode included."""
    if not isinstance(ceil_mode, bool):
        raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    if stride is None:
        stride = kernel_size

    def one_axis(n: int, k: int, s: int, p: int, d: int) -> int:
        return _pool_size_1d(n, k, s, p, d, ceil_mode)

    return _per_axis(one_axis, ("n", "kernel_size", "stride", "padding", "dilation"),
                     (n, kernel_size, stride, padding, dilation), (1, 1, 1, 0, 1))


def conv_transpose_output_size(n: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair = 1,
                               padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                               dilation: IntOrPair = 1) -> IntOrPair:
    """Output size of ``nn.ConvTranspose2d``: ``(n-1)s - 2p + d(k-1) + output_padding + 1``."""
    return _per_axis(
        _conv_transpose_size_1d,
        ("n", "kernel_size", "stride", "padding", "output_padding", "dilation"),
        (n, kernel_size, stride, padding, output_padding, dilation), (1, 1, 1, 0, 0, 1))


# ---------------------------------------------------------------------------------------------
# Receptive fields
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceptiveField:
    """One layer of a receptive-field table (ints, or (h, w) pairs for non-square stacks).

    ``jump`` is the distance in input pixels between neighbouring outputs of this layer,
    ``rf`` the side of the input region one output sees, and ``start`` the input coordinate of
    the centre of output 0's region (input pixel 0 has its centre at 0).
    """

    name: str
    kernel_size: IntOrPair
    stride: IntOrPair
    padding: IntOrPair
    dilation: IntOrPair
    out_size: IntOrPair | None
    jump: IntOrPair
    rf: IntOrPair
    start: float | tuple[float, float]


@dataclass(frozen=True)
class _Layer:
    name: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    pool: bool
    ceil_mode: bool = False


def _layers_of_module(model: nn.Module) -> list[_Layer]:
    layers = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if not isinstance(module.padding, tuple):
                raise ValueError(
                    f"layers: module {name!r} uses padding={module.padding!r}; give the padding "
                    "as numbers so the receptive field can be computed"
                )
            layers.append(_Layer(name, module.kernel_size, module.stride, module.padding,
                                 module.dilation, pool=False))
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            stride = module.stride if module.stride is not None else module.kernel_size
            dilation = getattr(module, "dilation", 1)
            layers.append(_Layer(name, as_pair(module.kernel_size, "kernel_size", 1),
                                 as_pair(stride, "stride", 1),
                                 as_pair(module.padding, "padding"),
                                 as_pair(dilation, "dilation", 1), pool=True,
                                 ceil_mode=bool(module.ceil_mode)))
    return layers


def _layers_of_tuples(layers: Sequence) -> list[_Layer]:
    result = []
    for i, spec in enumerate(layers):
        where = f"layers[{i}]"
        if isinstance(spec, str) or not isinstance(spec, Sequence) or len(spec) not in (3, 4):
            raise ValueError(
                f"{where} must be a tuple (kernel, stride, padding) or "
                f"(kernel, stride, padding, dilation), got {spec!r}"
            )
        kernel, stride, padding, *rest = spec
        dilation = rest[0] if rest else 1
        result.append(_Layer(f"layer{i + 1}", as_pair(kernel, f"{where} kernel", 1),
                             as_pair(stride, f"{where} stride", 1),
                             as_pair(padding, f"{where} padding"),
                             as_pair(dilation, f"{where} dilation", 1), pool=False))
    return result


def receptive_field(layers: nn.Module | Sequence, input_size: IntOrPair | None = None,
                    ) -> list[ReceptiveField]:
    """Receptive field of every conv or pool layer, walked from the input upwards.

    ``layers`` is an ``nn.Module`` (its Conv2d, MaxPool2d and AvgPool2d count, in order; other
    modules are passed through) or a list of ``(kernel, stride, padding[, dilation])`` tuples.
    For each layer, with ``k, s, p, d`` its kernel, stride, padding and dilation::

        jump_out  = jump_in * s
        rf_out    = rf_in + d * (k - 1) * jump_in
        start_out = start_in + (d * (k - 1) / 2 - p) * jump_in

    starting from ``jump = 1, rf = 1, start = 0`` at the input. ``out_size`` is filled when
    ``input_size`` is given.
    """
    if isinstance(layers, nn.Module):
        specs = _layers_of_module(layers)
        if not specs:
            raise ValueError("layers: the module holds no Conv2d, MaxPool2d or AvgPool2d layer")
    elif isinstance(layers, Sequence) and not isinstance(layers, str):
        if len(layers) == 0:
            raise ValueError("layers must hold at least one (kernel, stride, padding) tuple")
        specs = _layers_of_tuples(layers)
    else:
        raise ValueError(
            f"layers must be an nn.Module or a list of (kernel, stride, padding) tuples, "
            f"got {type(layers).__name__}"
        )
    size = as_pair(input_size, "input_size", 1) if input_size is not None else None
    square = all(
        len({*spec.kernel_size}) == len({*spec.stride}) == len({*spec.padding})
        == len({*spec.dilation}) == 1 for spec in specs
    ) and (size is None or size[0] == size[1])

    def show(pair):
        return pair[0] if square else tuple(pair)

    jump, rf, start = [1, 1], [1, 1], [0.0, 0.0]
    records = []
    for spec in specs:
        out_size = None
        if size is not None:
            args = [show(v) for v in (size, spec.kernel_size, spec.stride, spec.padding,
                                      spec.dilation)]
            try:
                if spec.pool:
                    out_size = pool_output_size(*args, ceil_mode=spec.ceil_mode)
                else:
                    out_size = conv_output_size(*args)
            except ValueError as err:
                raise ValueError(f"layer {spec.name!r}: {err}") from None
            size = as_pair(out_size, "out_size", 1)
        for a in range(2):
            k, s, p, d = spec.kernel_size[a], spec.stride[a], spec.padding[a], spec.dilation[a]
            start[a] = start[a] + (d * (k - 1) / 2 - p) * jump[a]
            rf[a] = rf[a] + d * (k - 1) * jump[a]
            jump[a] = jump[a] * s
        records.append(ReceptiveField(
            name=spec.name, kernel_size=show(spec.kernel_size), stride=show(spec.stride),
            padding=show(spec.padding), dilation=show(spec.dilation), out_size=out_size,
            jump=show(jump), rf=show(rf), start=show(start)))
    return records


@dataclass(frozen=True)
class Region:
    """The input pixels one unit sees: rows ``top..bottom`` and columns ``left..right``
    (inclusive, input coordinates). Parts outside the image are padding."""

    top: float
    bottom: float
    left: float
    right: float
    height: int
    width: int
    centre: tuple[float, float]


def unit_region(record: ReceptiveField, row: int, col: int) -> Region:
    """The input region of unit ``(row, col)`` of the layer ``record`` describes: ``rf``
    pixels a side, centred at ``start + index * jump`` on each axis."""
    as_int(row, "row")
    as_int(col, "col")
    if record.out_size is not None:
        out_h, out_w = _both(record.out_size)
        if row >= out_h or col >= out_w:
            raise ValueError(f"unit ({row}, {col}) is outside layer {record.name!r}, whose "
                             f"output is {out_h} x {out_w}: use row < {out_h}, col < {out_w}")
    (jh, jw), (rh, rw), (sh, sw) = _both(record.jump), _both(record.rf), _both(record.start)
    cy, cx = sh + row * jh, sw + col * jw
    return Region(cy - (rh - 1) / 2, cy + (rh - 1) / 2, cx - (rw - 1) / 2, cx + (rw - 1) / 2,
                  rh, rw, (cy, cx))


def _both(value: IntOrPair | float | tuple[float, float]) -> tuple:
    """A record's field as a ``(height, width)`` pair."""
    return value if isinstance(value, tuple) else (value, value)


__all__ = [
    "ReceptiveField",
    "Region",
    "ShapeRow",
    "conv_output_formula",
    "conv_output_size",
    "conv_transpose_output_formula",
    "conv_transpose_output_size",
    "count_parameters",
    "effective_kernel_size",
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "shape_table",
    "unit_region",
]
