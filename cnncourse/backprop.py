"""Backpropagation through convolution and pooling, written out, each equal to autograd.

For ``y = conv2d(x, weight, bias, stride, padding)`` and the loss's gradient ``grad_y``:

- ``grad_bias[o]`` is the sum of ``grad_y[:, o]``: every output of channel ``o`` adds the bias;
- ``grad_weight`` is a correlation of the input with ``grad_y``: each weight met every input
  pixel its window covered, so it collects ``window * grad_y`` over all positions;
- ``grad_x`` sends each output's gradient back through the same weights to the pixels its
  window read. That is a transposed convolution of ``grad_y`` with the same weights (the
  transpose of the matrix of ``conv.conv_matrix``); below it is written with ``F.fold``, the
  transpose of ``F.unfold``.

Max pooling sends each window's gradient to the window's largest input alone (the first one
in reading order when several tie, as torch does); average pooling spreads it evenly.
Overlapping windows add their gradients up. ``compose_kernels`` shows why depth needs a
non-linearity: two convolutions in a row are one convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import as_pair, check_tensor
from .sizes import conv_output_size, pool_output_size

IntOrPair = int | tuple[int, int]


def conv2d_backward(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor,
                    stride: IntOrPair = 1, padding: IntOrPair = 0,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``F.conv2d(x, weight, bias, stride, padding)``
    given ``grad_out``, the loss's gradient with respect to its output ``(N, C_out, H', W')``."""
    check_tensor(x, "x", (4,), "(N, C_in, H, W)")
    check_tensor(weight, "weight", (4,), "(C_out, C_in, kh, kw)")
    check_tensor(grad_out, "grad_out", (4,), "(N, C_out, H_out, W_out)")
    stride, padding = as_pair(stride, "stride", 1), as_pair(padding, "padding", 0)
    kernel = tuple(weight.shape[2:])
    _check_grad_out(grad_out, (x.shape[0], weight.shape[0], *conv_output_size(
        tuple(x.shape[2:]), kernel, stride, padding)), "the convolution's output")
    n, c_out, out_h, out_w = grad_out.shape
    columns = F.unfold(x, kernel, padding=padding, stride=stride)  # (N, C_in*kh*kw, L)
    grads = grad_out.reshape(n, c_out, out_h * out_w)  # (N, C_out, L)
    grad_bias = grad_out.sum(dim=(0, 2, 3))
    # every weight times every pixel its windows read, weighted by those outputs' gradients
    grad_weight = torch.einsum("nol,nkl->ok", grads, columns).reshape(weight.shape)
    # each output's gradient back through the weights into its window's columns ...
    grad_columns = weight.reshape(c_out, -1).T @ grads  # (N, C_in*kh*kw, L)
    # ... and the columns back onto the pixels they were copied from (overlaps add up)
    grad_x = F.fold(grad_columns, tuple(x.shape[2:]), kernel, padding=padding, stride=stride)
    return grad_x, grad_weight, grad_bias


def _windows(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """Every pooling window of every channel as a column: ``(N*C, kh*kw, L)``."""
    n, c, h, w = x.shape
    return F.unfold(x.reshape(n * c, 1, h, w), kernel, stride=stride)


def _unwindow(columns: torch.Tensor, shape: torch.Size, kernel: tuple[int, int],
              stride: tuple[int, int]) -> torch.Tensor:
    """The transpose of ``_windows``: columns back onto their pixels, overlaps added up."""
    n, c, h, w = shape
    return F.fold(columns, (h, w), kernel, stride=stride).reshape(n, c, h, w)


def _pool_args(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: IntOrPair,
               stride: IntOrPair | None) -> tuple[tuple[int, int], tuple[int, int]]:
    check_tensor(x, "x", (4,), "(N, C, H, W)")
    check_tensor(grad_out, "grad_out", (4,), "(N, C, H_out, W_out)")
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else as_pair(stride, "stride", 1)
    _check_grad_out(grad_out, (*x.shape[:2], *pool_output_size(tuple(x.shape[2:]), kernel,
                                                               stride)), "the pooled output")
    return kernel, stride


def _check_grad_out(grad_out: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    if tuple(grad_out.shape) != expected:
        raise ValueError(f"grad_out must have the shape of {what}, {expected}, got "
                         f"{tuple(grad_out.shape)}")


def max_pool2d_backward(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: IntOrPair,
                        stride: IntOrPair | None = None) -> torch.Tensor:
    """The gradient of ``F.max_pool2d(x, kernel_size, stride)`` with respect to ``x``."""
    kernel, stride = _pool_args(x, grad_out, kernel_size, stride)
    windows = _windows(x, kernel, stride)  # (N*C, kh*kw, L)
    winner = windows.argmax(dim=1, keepdim=True)  # the first largest of each window
    grads = grad_out.reshape(windows.shape[0], 1, -1)
    columns = torch.zeros_like(windows).scatter(1, winner, grads)
    return _unwindow(columns, x.shape, kernel, stride)


def avg_pool2d_backward(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: IntOrPair,
                        stride: IntOrPair | None = None) -> torch.Tensor:
    """The gradient of ``F.avg_pool2d(x, kernel_size, stride)`` with respect to ``x``."""
    kernel, stride = _pool_args(x, grad_out, kernel_size, stride)
    n, c = x.shape[:2]
    grads = grad_out.reshape(n * c, 1, -1)
    columns = grads.expand(-1, kernel[0] * kernel[1], -1) / (kernel[0] * kernel[1])
    return _unwindow(columns, x.shape, kernel, stride)


def compose_kernels(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The one kernel that does what ``first`` then ``second`` do (stride 1, no padding, no
    bias): ``conv2d(conv2d(x, first), second) == conv2d(x, compose_kernels(first, second))``.

    Weights ``(C1, C0, a, a)`` then ``(C2, C1, b, b)`` give ``(C2, C0, a+b-1, a+b-1)``: two
    3x3 convolutions are one 5x5. Each composed weight adds up, over the middle channels,
    every product of a weight of ``first`` and one of ``second`` whose offsets add up to it.
    """
    check_tensor(first, "first", (4,), "(C1, C0, a, a)")
    check_tensor(second, "second", (4,), "(C2, C1, b, b)")
    if second.shape[1] != first.shape[0]:
        raise ValueError(f"second must read the {first.shape[0]} channels first makes, but "
                         f"its shape {tuple(second.shape)} reads {second.shape[1]}")
    b_h, b_w = second.shape[2:]
    # (C0, C1, a, a) correlated with the flipped second, zero-padded: a full convolution
    composed = F.conv2d(first.transpose(0, 1), second.flip(-2, -1),
                        padding=(b_h - 1, b_w - 1))
    return composed.transpose(0, 1)


__all__ = ["avg_pool2d_backward", "compose_kernels", "conv2d_backward", "max_pool2d_backward"]
