"""Output sizes of convolutions and pools, for one axis or for (height, width) pairs.

Every size function takes ints, or ``(height, width)`` pairs where torch accepts a pair, and
returns an int (or a pair when any argument was a pair). An impossible setting raises a
``ValueError`` that names the parameter and shows the formula with your numbers filled in.

The central formula, for one spatial axis::

    effective kernel  k' = dilation * (kernel_size - 1) + 1
    output            o  = floor((n + 2 * padding - k') / stride) + 1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._checks import as_pair

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


def _checked(out: int, n: int, k: int, s: int, p: int, d: int, rounding: str,
             advice: str) -> int:
    """``out``, or the reason why a kernel larger than the padded input leaves no output."""
    if out < 1:
        k_eff = effective_kernel_size(k, d)
        raise ValueError(
            f"kernel_size {k} (dilated to {k_eff}) is larger than the padded input "
            f"{n} + 2*{p} = {n + 2 * p}: output = {rounding}(({n} + {2 * p} - {k_eff}) / {s})"
            f" + 1 = {out}. Use {advice}, or a larger input."
        )
    return out


def _conv_size_1d(n: int, k: int, s: int, p: int, d: int) -> int:
    out = (n + 2 * p - effective_kernel_size(k, d)) // s + 1
    return _checked(out, n, k, s, p, d, "floor",
                    "more padding, a smaller kernel_size or dilation")


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
    return _checked(out, n, k, s, p, d, rounding, "a smaller kernel_size")


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


__all__ = [
    "IntOrPair",
    "conv_output_formula",
    "conv_output_size",
    "conv_transpose_output_formula",
    "conv_transpose_output_size",
    "effective_kernel_size",
    "pool_output_size",
    "same_padding",
]
