"""Three readable ways to compute a 2-D convolution, each equal to ``F.conv2d``.

1. :func:`conv2d_loops`: slide the kernel over every output position.
2. :func:`conv2d_unfold`: copy every window into a column (im2col), then one matrix multiply.
3. :func:`conv_matrix`: write the whole convolution as one big, mostly-zero matrix.

Shapes follow PyTorch: input ``(N, C_in, H, W)`` (or ``(C_in, H, W)``), weight
``(C_out, C_in, kh, kw)``, bias ``(C_out,)``, output ``(N, C_out, H_out, W_out)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import as_pair, check_tensor
from .sizes import conv_output_size

IntOrPair = int | tuple[int, int]


def _check_conv_args(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     stride: IntOrPair, padding: IntOrPair, dilation: IntOrPair):
    """Validate the arguments and return them batched and as pairs, plus the output size."""
    check_tensor(x, "x", (3, 4), "(N, C_in, H, W) or (C_in, H, W)")
    check_tensor(weight, "weight", (4,), "(C_out, C_in, kh, kw)")
    batched = x.dim() == 4
    x4 = x if batched else x.unsqueeze(0)
    if weight.shape[1] != x4.shape[1]:
        raise ValueError(
            f"weight has shape {tuple(weight.shape)}, so it expects C_in = {weight.shape[1]} "
            f"input channels, but x has {x4.shape[1]} (x has shape {tuple(x.shape)})"
        )
    if bias is not None:
        check_tensor(bias, "bias", (1,), f"({weight.shape[0]},)")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias must have shape ({weight.shape[0]},), one value per output "
                             f"channel, got {tuple(bias.shape)}")
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    out_hw = conv_output_size(tuple(x4.shape[2:]), tuple(weight.shape[2:]), stride, padding,
                              dilation)
    return x4, batched, stride, padding, dilation, out_hw


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: IntOrPair = 1, padding: IntOrPair = 0,
                 dilation: IntOrPair = 1) -> torch.Tensor:
    """Convolution by explicit loops over output positions.

    For output position ``(i, j)`` the window starts at input row ``i * stride`` and column
    ``j * stride`` of the zero-padded input and takes every ``dilation``-th pixel. Each output
    channel is the sum over input channels and kernel positions of window times weight.
    """
    x4, batched, (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = _check_conv_args(
        x, weight, bias, stride, padding, dilation)
    c_out, _, kh, kw = weight.shape
    padded = F.pad(x4, (pw, pw, ph, ph))
    out = x4.new_zeros(x4.shape[0], c_out, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh, j * sw
            window = padded[:, :, top:top + dh * (kh - 1) + 1:dh, left:left + dw * (kw - 1) + 1:dw]
            for f in range(c_out):
                # window: (N, C_in, kh, kw), weight[f]: (C_in, kh, kw)
                out[:, f, i, j] = (window * weight[f]).sum(dim=(1, 2, 3))
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out if batched else out[0]


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride: IntOrPair = 1, padding: IntOrPair = 0,
                  dilation: IntOrPair = 1) -> torch.Tensor:
    """Convolution as im2col plus one matrix multiply.

    ``F.unfold`` copies each window into a column of length ``C_in * kh * kw``; the weight,
    flattened to ``(C_out, C_in * kh * kw)``, multiplies all columns at once.
    """
    x4, batched, stride, padding, dilation, (out_h, out_w) = _check_conv_args(
        x, weight, bias, stride, padding, dilation)
    c_out = weight.shape[0]
    columns = F.unfold(x4, weight.shape[2:], dilation=dilation, padding=padding, stride=stride)
    # columns: (N, C_in*kh*kw, out_h*out_w)
    out = weight.reshape(c_out, -1) @ columns
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    out = out.view(x4.shape[0], c_out, out_h, out_w)
    return out if batched else out[0]


@dataclass
class ConvMatrix:
    """A convolution written as a matrix.

    ``matrix`` has shape ``(C_out * H_out * W_out, C_in * H * W)``, and ``weight_index`` has the
    same shape: the flat index into ``weight`` that each entry copies, or -1 for a structural
    zero (an input pixel the output never sees).
    """

    matrix: torch.Tensor
    weight_index: torch.Tensor
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]


def window_indices(index: int, kernel_size: int, stride: int = 1, padding: int = 0,
                   dilation: int = 1) -> list[int]:
    """Along one axis, the input positions that output ``index`` of a convolution reads (one per
    kernel tap; below 0 or past the input they fall on padding). For a transposed convolution
    with the same arguments they are the output positions that input ``index`` adds onto."""
    return [index * stride - padding + a * dilation for a in range(kernel_size)]


def conv_matrix(weight: torch.Tensor, input_hw: IntOrPair, stride: IntOrPair = 1,
                padding: IntOrPair = 0, dilation: IntOrPair = 1) -> ConvMatrix:
    """The dense matrix ``M`` with ``M @ x.flatten() == F.conv2d(x[None], weight).flatten()``.

    Every row is one output pixel; it holds the kernel's weights at the columns of the input
    pixels under the window and zeros elsewhere. The same weight appears in many rows: the
    weights are tied. Padding pixels are zero, so their columns simply drop out.
    """
    check_tensor(weight, "weight", (4,), "(C_out, C_in, kh, kw)")
    in_h, in_w = as_pair(input_hw, "input_hw", 1)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    dh, dw = as_pair(dilation, "dilation", 1)
    c_out, c_in, kh, kw = weight.shape
    out_h, out_w = conv_output_size((in_h, in_w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))

    index = torch.full((c_out * out_h * out_w, c_in * in_h * in_w), -1, dtype=torch.long)
    for f in range(c_out):
        for i in range(out_h):
            for j in range(out_w):
                row = (f * out_h + i) * out_w + j
                rows = window_indices(i, kh, sh, ph, dh)  # input row under each kernel row
                cols = window_indices(j, kw, sw, pw, dw)
                for c in range(c_in):
                    for a, r in enumerate(rows):
                        for b, s in enumerate(cols):
                            if 0 <= r < in_h and 0 <= s < in_w:
                                column = (c * in_h + r) * in_w + s
                                index[row, column] = ((f * c_in + c) * kh + a) * kw + b
    index = index.to(weight.device)
    flat = weight.reshape(-1)
    matrix = torch.where(index >= 0, flat[index.clamp(min=0)], flat.new_zeros(()))
    return ConvMatrix(matrix, index, (in_h, in_w), (out_h, out_w))


@dataclass(frozen=True)
class ConvWindow:
    """One output value of a convolution, written out: the window of the (zero-padded) input
    under the kernel, the kernel, their elementwise products, and ``value = products.sum() +
    bias``. ``window``, ``kernel`` and ``products`` have shape ``(C_in, kh, kw)``; ``top`` and
    ``left`` are the window's first row and column in the unpadded input (negative on padding).
    """

    window: torch.Tensor
    kernel: torch.Tensor
    products: torch.Tensor
    bias: float
    value: float
    top: int
    left: int


def conv_window(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                position: tuple[int, int], out_channel: int = 0, stride: IntOrPair = 1,
                padding: IntOrPair = 0, dilation: IntOrPair = 1) -> ConvWindow:
    """The dot product behind output ``position`` (row, column) of channel ``out_channel``
    of ``F.conv2d(x, weight, bias, stride, padding, dilation)``, for one ``(C_in, H, W)``
    input."""
    check_tensor(x, "x", (3,), "(C_in, H, W)")
    x4, _, (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = _check_conv_args(
        x, weight, bias, stride, padding, dilation)
    row, col = (int(v) for v in position)
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"position must be inside the {out_h} x {out_w} output, rows and "
                         f"columns 0..{out_h - 1} and 0..{out_w - 1}, got ({row}, {col})")
    if not 0 <= out_channel < weight.shape[0]:
        raise ValueError(f"out_channel must be 0..{weight.shape[0] - 1}, got {out_channel}")
    _, _, kh, kw = weight.shape
    padded = F.pad(x4[0], (pw, pw, ph, ph))
    top, left = row * sh, col * sw
    window = padded[:, top:top + dh * (kh - 1) + 1:dh, left:left + dw * (kw - 1) + 1:dw]
    kernel = weight[out_channel]
    products = window * kernel
    b = 0.0 if bias is None else float(bias[out_channel])
    return ConvWindow(window, kernel, products, b, float(products.sum()) + b, top - ph, left - pw)


__all__ = ["ConvMatrix", "ConvWindow", "conv2d_loops", "conv2d_unfold", "conv_matrix",
           "conv_window", "window_indices"]
