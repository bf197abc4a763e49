"""PoolingExplorer: max, average or min over windows; then flatten versus global average pool.

A pool has no weights; it summarises each window with one number and shrinks every channel.
At the end of a CNN, flattening the last maps makes the classifier's input (and its parameter
count) grow with the image; a global average pool keeps one number per channel.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
import torch
from PIL import ImageDraw
from torch import nn

from cnncourse.arithmetic import conv_output_formula, count_parameters, pool_output_size
from cnncourse.kernels import KERNELS, apply_kernel
from cnncourse.pooling import global_avg_pool, pool2d

from . import _render as r
from ._sources import Digits, as_digits, digits
from .base import Explorer

CELL = 3  # picture pixels per image pixel (shown ZOOM times larger)
ZOOM = 2
N_CLASSES = 10
FEATURE_KERNELS = ("top_edge", "bottom_edge", "left_edge", "right_edge")
SOURCES = ("digit", "edge feature maps (4 channels)")


@dataclass(frozen=True)
class PoolSettings:
    source: str
    index: int
    mode: str
    kernel_size: int
    stride: int
    padding: int


@dataclass(frozen=True, eq=False)
class PoolScene:
    """What the view shows: the maps, their pooled version and the two classifier heads."""

    settings: PoolSettings
    maps: torch.Tensor  # (C, n, n), pooled as they are
    pooled: torch.Tensor  # (C, out_size, out_size)
    out_size: int
    formula: str  # the output-size formula with the numbers filled in
    gap: tuple[float, ...]  # the global average of each pooled channel
    flatten_inputs: int
    flatten_parameters: int  # Linear(flatten_inputs, 10)
    gap_parameters: int  # Linear(channels, 10)


def head_parameters(inputs: int) -> int:
    """Parameters of ``nn.Linear(inputs, 10)``, counted without allocating the weights."""
    return count_parameters(nn.Linear(inputs, N_CLASSES, device="meta"))


class PoolingExplorer(Explorer):
    """Pool a digit or its edge maps, and compare the classifier heads after the pool."""

    title = "Pooling: summarise each window; flatten or global-average-pool for the head"

    def __init__(self, images=None) -> None:
        super().__init__()
        self.digits: Digits = digits() if images is None else as_digits(images)
        self._edges = torch.stack([KERNELS[name] for name in FEATURE_KERNELS])
        c = {
            "source": widgets.Dropdown(options=SOURCES, description="pool"),
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                       description="digit #"),
            "mode": widgets.ToggleButtons(options=["max", "avg", "min"], value="max"),
            "kernel_size": widgets.IntSlider(2, 1, 6, description="kernel"),
            "stride": widgets.IntSlider(2, 1, 6, description="stride"),
            "padding": widgets.IntSlider(0, 0, 3, description="padding"),
        }
        self.input_image = r.image_widget()
        self.output_image = r.image_widget()
        self.formula = widgets.HTML()
        self.heads = widgets.HTML()
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([
            r.captioned("input (padding in violet, first window in orange)", self.input_image),
            self.formula,
            r.captioned("pooled output, each pixel drawn over the stride it covers",
                        self.output_image),
            self.heads])
        self._assemble(c, controls_box, body)

    def settings(self) -> PoolSettings:
        return PoolSettings(**{name: w.value for name, w in self.controls.items()})

    def maps(self, settings: PoolSettings) -> torch.Tensor:
        """The ``(C, 28, 28)`` maps being pooled."""
        digit = self.digits.images[settings.index]
        if settings.source == SOURCES[0]:
            return digit[None]
        return apply_kernel(digit, self._edges, padding=1).clamp(min=0)  # ReLU'd edge maps

    def compute(self, settings: PoolSettings) -> PoolScene:
        k, s, p = settings.kernel_size, settings.stride, settings.padding
        x = self.maps(settings)
        c, n = x.shape[0], x.shape[-1]
        out_size = pool_output_size(n, k, s, p)  # a ValueError explains a window that won't fit
        pooled = pool2d(x, k, s, p, mode=settings.mode)
        gap = tuple(float(g) for g in global_avg_pool(pooled[None])[0])
        flat = c * out_size * out_size
        return PoolScene(settings, x, pooled, out_size, conv_output_formula(n, k, s, p), gap,
                         flat, head_parameters(flat), head_parameters(c))

    def draw(self, scene: PoolScene) -> None:
        k, s, p = scene.settings.kernel_size, scene.settings.stride, scene.settings.padding
        x, out, o = scene.maps, scene.pooled, scene.out_size
        c, n = x.shape[0], x.shape[-1]
        top = float(x.max()) or 1.0
        r.show(self.input_image, r.beside([_map_picture(m, top, k, p) for m in x], gap=6), ZOOM)
        r.show(self.output_image, r.beside([
            r.image(r.enlarge(r.grey(m, 0.0, top), CELL * s)) for m in out], gap=6), ZOOM)
        self.formula.value = (
            f"<code>output = floor((n + 2p - k) / s) + 1 = {scene.formula}</code> &rarr; shape "
            f"({c}, {n}, {n}) becomes <b>({c}, {o}, {o})</b>; a {scene.settings.mode} pool has "
            "no weights")
        values = ", ".join(f"{g:.3f}" for g in scene.gap)
        self.heads.value = (
            "<b>The classifier head after this pool</b> (10 classes):<ul>"
            f"<li>flatten: {c}*{o}*{o} = {scene.flatten_inputs} numbers &rarr; "
            f"<code>Linear({scene.flatten_inputs}, 10)</code>: "
            f"<b>{scene.flatten_parameters:,}</b> parameters, and a bigger image would need a "
            "bigger head</li>"
            f"<li>global average pool: one mean per channel, ({html.escape(values)}) &rarr; "
            f"<code>Linear({c}, 10)</code>: <b>{scene.gap_parameters:,}</b> parameters, "
            "whatever the image size</li></ul>")

    def clear(self) -> None:
        r.show(self.output_image, r.blank(168, 168, "no output"))
        self.heads.value = ""


def _map_picture(m: torch.Tensor, top: float, k: int, padding: int):
    picture = r.image(r.enlarge(r.pad_ring(r.grey(m, 0.0, top), padding), CELL))
    r.outline(ImageDraw.Draw(picture), (0, 0, k * CELL - 1, k * CELL - 1), width=1)
    return picture


__all__ = ["PoolScene", "PoolSettings", "PoolingExplorer"]
