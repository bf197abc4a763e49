"""Small CNN architectures for 1x28x28 digits, built to a comparable parameter budget, so that
lesson 18 can put them side by side: what each design idea costs in parameters and
multiply-adds, and what it buys in accuracy.

- ``lenet``: LeCun's recipe, 5x5 convolutions with ReLU and 2x2 max pooling, then a
  fully connected classifier on the flattened maps.
- ``vgg_style``: stages of two 3x3 convolutions at the same size, each stage ending in a 2x2
  max pool (Simonyan and Zisserman's VGG, in miniature).
- ``flatten_cnn``: ``gap_cnn``'s convolutions (``cnncourse.models``) with a flatten head: one
  ``nn.Linear`` from every position of the last maps to the classes.
- ``bottleneck_cnn``: each 3x3 convolution works on fewer channels, squeezed by a 1x1
  convolution before it and expanded by another after it (ResNet's bottleneck).
- ``separable_cnn``: ``vgg_style`` with every 3x3 convolution after the first made
  depthwise-separable: a 3x3 depthwise convolution (``groups`` equal to the channels, as in
  lesson 02) followed by a 1x1 pointwise one (MobileNet's block).
- ``small_resnet``: stride-2 convolutions between ``ResidualBlock``s, whose two 3x3
  convolutions learn a correction added to their input.

The lesson CNN (``models.simple_cnn``) and the GAP network (``models.gap_cnn``) complete the
set. ``conv_weights``, ``bottleneck_weights`` and ``separable_weights`` give the hand formulas
for the weights of the three kinds of convolution. Every builder takes ``seed`` for repeatable
initial weights (torch's global generator is left alone) and checks its arguments: a bad one
gives a ``ValueError`` naming it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._checks import as_int
from .models import SimpleCNN, conv_block, gap_cnn, simple_cnn
from .models import _widths as widths_of


def conv_weights(c_in: int, c_out: int, kernel_size: int = 3) -> int:
    """Weights of a ``kernel_size`` x ``kernel_size`` convolution (no bias):
    ``c_out * c_in * k * k``."""
    c_in, c_out = as_int(c_in, "c_in", 1), as_int(c_out, "c_out", 1)
    return c_out * c_in * as_int(kernel_size, "kernel_size", 1) ** 2


def bottleneck_weights(c_in: int, mid: int, c_out: int, kernel_size: int = 3) -> int:
    """Weights of a 1x1 squeeze to ``mid`` channels, a k x k convolution at ``mid`` and a 1x1
    expansion to ``c_out`` (no biases): ``mid * c_in + mid * mid * k * k + c_out * mid``."""
    c_in, mid, c_out = (as_int(c_in, "c_in", 1), as_int(mid, "mid", 1),
                        as_int(c_out, "c_out", 1))
    return mid * c_in + conv_weights(mid, mid, kernel_size) + c_out * mid


def separable_weights(c_in: int, c_out: int, kernel_size: int = 3) -> int:
    """Weights of a depthwise-separable convolution (no biases): one k x k kernel per input
    channel (``c_in * k * k``), then a 1x1 convolution mixing the channels (``c_out * c_in``)."""
    c_in, c_out = as_int(c_in, "c_in", 1), as_int(c_out, "c_out", 1)
    return c_in * as_int(kernel_size, "kernel_size", 1) ** 2 + c_out * c_in


def _check_common(n_classes: int, in_channels: int) -> tuple[int, int]:
    return as_int(n_classes, "n_classes", minimum=2), as_int(in_channels, "in_channels", 1)


def _seeded(seed: int | None, build) -> nn.Module:
    if seed is not None:
        seed = as_int(seed, "seed")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return SimpleCNN(build())


def _conv_bn_relu(c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1,
                  ) -> nn.Sequential:
    """Conv2d (no bias, "same" padding), BatchNorm2d, ReLU."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2,
                       bias=False),
        bn=nn.BatchNorm2d(c_out), relu=nn.ReLU()))


def _separable_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """A 3x3 ``depthwise`` conv (one kernel per channel), a 1x1 ``pointwise`` conv, BN, ReLU."""
    return nn.Sequential(OrderedDict(
        depthwise=nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
        pointwise=nn.Conv2d(c_in, c_out, 1, bias=False),
        bn=nn.BatchNorm2d(c_out), relu=nn.ReLU()))


def _gap_head(c_in: int, n_classes: int) -> OrderedDict[str, nn.Module]:
    return OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(),
                       classifier=nn.Linear(c_in, n_classes))


def lenet(channels: Sequence[int] = (6, 16), hidden: int = 32, n_classes: int = 10,
          in_channels: int = 1, seed: int | None = None) -> nn.Sequential:
    """Two 5x5 convolutions, each followed by ReLU and a 2x2 max pool, then ``flatten``, a
    hidden ``nn.Linear`` of ``hidden`` units with ReLU and the ``classifier``. No batch norm.

    The first convolution pads by 2, so a 28x28 image gives 28 -> 14 (pool) -> 10 (second
    conv, unpadded) -> 5 (pool): ``channels[1] * 5 * 5`` numbers reach the hidden layer.
    """
    c1, c2 = _two(channels, "channels", "(6, 16)")
    hidden = as_int(hidden, "hidden", minimum=1)
    n_classes, in_channels = _check_common(n_classes, in_channels)
    return _seeded(seed, lambda: OrderedDict(
        conv1=nn.Conv2d(in_channels, c1, 5, padding=2), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(c1, c2, 5), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2),
        flatten=nn.Flatten(), hidden=nn.Linear(c2 * 5 * 5, hidden), relu3=nn.ReLU(),
        classifier=nn.Linear(hidden, n_classes)))


def _two(value: Sequence[int], name: str, example: str) -> tuple[int, int]:
    found = widths_of(value, example)
    if len(found) != 2:
        raise ValueError(f"{name} must hold two ints, e.g. {example}, got {value!r}")
    return found[0], found[1]


def vgg_style(channels: Sequence[int] = (8, 16, 32), convs: Sequence[int] = (1, 2, 2),
              n_classes: int = 10, in_channels: int = 1,
              seed: int | None = None) -> nn.Sequential:
    """One stage per entry of ``channels``: ``convs`` 3x3 conv-BN-ReLU at that width (by
    default one in the first stage, on the full image, and two in the others), then a 2x2 max
    pool (28 -> 14 -> 7 -> 3 with three stages); a global-average-pooling ``classifier``."""
    return _stages(channels, convs, n_classes, in_channels, seed, separable=False)


def separable_cnn(channels: Sequence[int] = (8, 16, 32), convs: Sequence[int] = (1, 2, 2),
                  n_classes: int = 10, in_channels: int = 1,
                  seed: int | None = None) -> nn.Sequential:
    """``vgg_style`` with every 3x3 convolution but the very first depthwise-separable: a 3x3
    ``depthwise`` conv (``groups`` = its channels, one kernel per channel) then a 1x1
    ``pointwise`` conv, followed by BN and ReLU as in ``vgg_style``. The first convolution sees
    a single input channel, so it stays ordinary."""
    return _stages(channels, convs, n_classes, in_channels, seed, separable=True)


def _stages(channels: Sequence[int], convs: Sequence[int], n_classes: int, in_channels: int,
            seed: int | None, separable: bool) -> nn.Sequential:
    widths = widths_of(channels, "(8, 16, 32)")
    if isinstance(convs, str) or not isinstance(convs, Sequence) or len(convs) != len(widths):
        raise ValueError(f"convs must give one count per entry of channels ({len(widths)}), "
                         f"e.g. (1, 2, 2), got {convs!r}")
    counts = [as_int(c, "convs", minimum=1) for c in convs]
    n_classes, in_channels = _check_common(n_classes, in_channels)

    def build() -> OrderedDict[str, nn.Module]:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for s, (c_out, count) in enumerate(zip(widths, counts, strict=True), start=1):
            for j in range(1, count + 1):
                separate = separable and (s, j) != (1, 1)
                layers[f"stage{s}_conv{j}"] = (_separable_bn_relu(c_in, c_out) if separate
                                               else _conv_bn_relu(c_in, c_out, 3))
                c_in = c_out
            layers[f"stage{s}_pool"] = nn.MaxPool2d(2)
        layers.update(_gap_head(c_in, n_classes))
        return layers
    return _seeded(seed, build)


def flatten_cnn(channels: Sequence[int] = (8, 16, 32), input_size: int = 28,
                first_kernel_size: int = 5, n_classes: int = 10, in_channels: int = 1,
                seed: int | None = None) -> nn.Sequential:
    """``gap_cnn``'s blocks (stride 2, the last stride 1: 28 -> 14 -> 7 -> 7) with a flatten
    head: ``flatten`` then one ``nn.Linear`` ``classifier`` with a weight for every channel at
    every position of the last maps (``channels[-1] * 7 * 7`` inputs per class at 28x28)."""
    widths = widths_of(channels, "(8, 16, 32)")
    input_size = as_int(input_size, "input_size", minimum=1)
    first_kernel_size = as_int(first_kernel_size, "first_kernel_size", minimum=1)
    n_classes, in_channels = _check_common(n_classes, in_channels)

    def build() -> OrderedDict[str, nn.Module]:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, size = in_channels, input_size
        for i, c_out in enumerate(widths):
            k = first_kernel_size if i == 0 else 3
            stride = 1 if i == len(widths) - 1 else 2
            layers[f"block{i + 1}"] = conv_block(c_in, c_out, k, stride=stride)
            size = (size + 2 * (k // 2) - k) // stride + 1
            c_in = c_out
        layers["flatten"] = nn.Flatten()
        layers["classifier"] = nn.Linear(c_in * size * size, n_classes)
        return layers
    return _seeded(seed, build)


def bottleneck_cnn(channels: Sequence[int] = (16, 64, 128), squeeze: int = 4,
                   n_classes: int = 10, in_channels: int = 1,
                   seed: int | None = None) -> nn.Sequential:
    """A 5x5 stride-2 ``stem`` to ``channels[0]``, then for each further width a bottleneck
    block: a 1x1 squeeze to ``width // squeeze`` channels, a 3x3 stride-2 convolution at that
    width, a 1x1 expansion to ``width`` (each with BN and ReLU); a GAP ``classifier``."""
    widths = widths_of(channels, "(16, 64, 128)")
    if len(widths) < 2:
        raise ValueError(f"channels must hold at least two ints (the stem's and a block's), "
                         f"e.g. (16, 64, 128), got {channels!r}")
    squeeze = as_int(squeeze, "squeeze", minimum=1)
    if any(w // squeeze < 1 for w in widths[1:]):
        raise ValueError(f"squeeze must leave each block at least one channel: {squeeze} is "
                         f"more than the width {min(widths[1:])}")
    n_classes, in_channels = _check_common(n_classes, in_channels)

    def build() -> OrderedDict[str, nn.Module]:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["stem"] = conv_block(in_channels, widths[0], 5)
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True), start=1):
            mid = c_out // squeeze
            layers[f"block{i}"] = nn.Sequential(OrderedDict(
                squeeze=_conv_bn_relu(c_in, mid, 1), conv=_conv_bn_relu(mid, mid, 3, stride=2),
                expand=_conv_bn_relu(mid, c_out, 1)))
        layers.update(_gap_head(widths[-1], n_classes))
        return layers
    return _seeded(seed, build)


class ResidualBlock(nn.Module):
    """``relu(x + bn2(conv2(relu(bn1(conv1(x))))))``: two 3x3 convolutions at ``channels``
    channels whose result is added to the block's own input (the identity path).

    With ``zero_init`` the last convolution starts at zero, so the correction is zero and the
    block passes its (non-negative, post-ReLU) input through unchanged until training moves it.
    """

    def __init__(self, channels: int, zero_init: bool = False) -> None:
        super().__init__()
        channels = as_int(channels, "channels", minimum=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()
        if zero_init:
            nn.init.zeros_(self.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        correction = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(x + correction)


def small_resnet(channels: Sequence[int] = (8, 16, 32), zero_init: bool = False,
                 n_classes: int = 10, in_channels: int = 1,
                 seed: int | None = None) -> nn.Sequential:
    """For each width a stride-2 conv block (5x5 for the first, 3x3 after: 28 -> 14 -> 7 -> 4)
    and a ``ResidualBlock`` at that width; a GAP ``classifier``. ``zero_init`` starts every
    block as the identity."""
    widths = widths_of(channels, "(8, 16, 32)")
    n_classes, in_channels = _check_common(n_classes, in_channels)
    if not isinstance(zero_init, bool):
        raise ValueError(f"zero_init must be True or False, got {zero_init!r}")

    def build() -> OrderedDict[str, nn.Module]:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for i, c_out in enumerate(widths, start=1):
            layers[f"down{i}"] = conv_block(c_in, c_out, 5 if i == 1 else 3)
            layers[f"res{i}"] = ResidualBlock(c_out, zero_init)
            c_in = c_out
        layers.update(_gap_head(c_in, n_classes))
        return layers
    return _seeded(seed, build)


def _lesson_cnn(seed: int | None = None) -> nn.Sequential:
    return simple_cnn(seed=seed)


def _gap(seed: int | None = None) -> nn.Sequential:
    return gap_cnn(seed=seed)


# Lesson 18's line-up, each with its default sizes: between 15,000 and 31,000 parameters.
EQUAL_BUDGET: dict[str, Callable[..., nn.Module]] = {
    "LeNet": lenet, "lesson CNN (stride 2)": _lesson_cnn, "VGG-style": vgg_style,
    "flatten head": flatten_cnn, "GAP head": _gap, "1x1 bottleneck": bottleneck_cnn,
    "depthwise-separable": separable_cnn, "small ResNet": small_resnet,
}

__all__ = ["EQUAL_BUDGET", "ResidualBlock", "bottleneck_cnn", "bottleneck_weights", "conv_weights",
           "flatten_cnn", "lenet", "separable_cnn", "separable_weights", "small_resnet",
           "vgg_style"]
