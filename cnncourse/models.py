"""The lesson CNN (stride-2 convolution blocks, as in the fastai chapter on convolutions) and
a CNN with a global-average-pooling head (``gap_cnn``).

In the lesson CNN each block halves the image (28 -> 14 -> 7 -> 4 -> 2 -> 1) while the
channels grow; the last block turns the 1x1 map into one score per class and ``Flatten``
makes it ``[N, n_classes]``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import as_int
from .shapes import count_parameters
from .sizes import conv_output_size


def conv_block(in_channels: int, out_channels: int, kernel_size: int = 3,
               batchnorm: bool = True, relu: bool = True, stride: int = 2) -> nn.Sequential:
    """Conv2d with ``stride`` (padding ``kernel_size // 2``), then optional BatchNorm2d and ReLU.

    With batch norm the convolution has no bias: the norm's own shift replaces it.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                               padding=kernel_size // 2, bias=not batchnorm)
    if batchnorm:
        layers["bn"] = nn.BatchNorm2d(out_channels)
    if relu:
        layers["relu"] = nn.ReLU()
    return nn.Sequential(layers)


def _widths(channels: Sequence[int], example: str) -> list[int]:
    if isinstance(channels, (int, str)) or not isinstance(channels, Sequence) or not channels:
        raise ValueError(f"channels must be a non-empty list of ints, e.g. {example}, "
                         f"got {channels!r}")
    return [as_int(c, "channels", minimum=1) for c in channels]


def _sizes(first_kernel_size: int, kernel_size: int, n_classes: int,
           in_channels: int) -> tuple[int, int, int, int]:
    return (as_int(first_kernel_size, "first_kernel_size", minimum=1),
            as_int(kernel_size, "kernel_size", minimum=1),
            as_int(n_classes, "n_classes", minimum=2),
            as_int(in_channels, "in_channels", minimum=1))


class SimpleCNN(nn.Sequential):
    """An ``nn.Sequential`` whose printout starts with its parameter count."""

    def extra_repr(self) -> str:
        return f"{count_parameters(self):,} trainable parameters"


def simple_cnn(channels: Sequence[int] = (8, 16, 32, 64), batchnorm: bool = True,
               first_kernel_size: int = 5, n_classes: int = 10, kernel_size: int = 3,
               in_channels: int = 1, input_size: int = 28, seed: int | None = None,
               ) -> nn.Sequential:
    """Stride-2 conv blocks ``block1 .. blockK`` with ``channels``, then ``head`` and ``flatten``.

    - ``block1`` uses ``first_kernel_size`` (a wider first look at the raw pixels), the others
      ``kernel_size``. Each block is conv, BatchNorm2d (if ``batchnorm``), ReLU.
    - ``head`` is a conv to ``n_classes`` channels with batch norm (if ``batchnorm``) and no
      ReLU, as in fastai's chapter: its outputs are the class scores.
    - With four channel entries a 28x28 image ends at 1x1. Other depths end elsewhere; then an
      ``nn.AdaptiveAvgPool2d(1)`` named ``pool`` averages the last map so the output is still
      ``[N, n_classes]``.
    - ``seed`` makes the initial weights repeatable (without touching torch's global RNG).
    """
    widths = _widths(channels, "(8, 16, 32, 64)")
    first_kernel_size, kernel_size, n_classes, in_channels = _sizes(
        first_kernel_size, kernel_size, n_classes, in_channels)
    input_size = as_int(input_size, "input_size", minimum=1)

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        size, c_in = input_size, in_channels
        kernels = [first_kernel_size] + [kernel_size] * len(widths)
        for i, (c_out, k) in enumerate(zip(widths + [n_classes], kernels, strict=True)):
            size = conv_output_size(size, k, stride=2, padding=k // 2)
            last = i == len(widths)
            name = "head" if last else f"block{i + 1}"
            layers[name] = conv_block(c_in, c_out, k, batchnorm=batchnorm, relu=not last)
            c_in = c_out
        if size > 1:
            layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        return SimpleCNN(layers)


def gap_cnn(channels: Sequence[int] = (16, 32, 64), batchnorm: bool = True,
            first_kernel_size: int = 5, n_classes: int = 10, kernel_size: int = 3,
            in_channels: int = 1, seed: int | None = None) -> nn.Sequential:
    """Conv blocks ``block1 .. blockK``, a 1x1 ``classifier`` conv, then global average pooling.

    - Every block but the last has stride 2; the last keeps its map's size (stride 1), so a
      28x28 image with three blocks ends with 7x7 maps.
    - ``classifier`` turns each position's features into ``n_classes`` scores (a 1x1 conv with
      a bias). Its output, before ``pool``, is the class activation map: how much each position
      votes for each class. ``pool`` (``AdaptiveAvgPool2d(1)``) averages the votes and
      ``flatten`` makes the result ``[N, n_classes]``.
    - Unlike ``simple_cnn``'s head, nothing here depends on the input's size.
    - ``seed`` makes the initial weights repeatable (without touching torch's global RNG).
    """
    widths = _widths(channels, "(16, 32, 64)")
    first_kernel_size, kernel_size, n_classes, in_channels = _sizes(
        first_kernel_size, kernel_size, n_classes, in_channels)

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for i, c_out in enumerate(widths):
            stride = 1 if i == len(widths) - 1 else 2
            layers[f"block{i + 1}"] = conv_block(
                c_in, c_out, first_kernel_size if i == 0 else kernel_size, batchnorm=batchnorm,
                stride=stride)
            c_in = c_out
        layers["classifier"] = nn.Conv2d(c_in, n_classes, kernel_size=1)
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        return SimpleCNN(layers)
