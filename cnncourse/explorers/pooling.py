"""PoolingExplorer: max, average or min over windows; then flatten versus global average pool.

A pool has no weights; it summarises each window with one number and shrinks every channel.
At the end of a CNN, flattening the last maps makes the classifier's input (and its parameter
count) grow with the image; a global average pool keeps one number per channel.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch
from PIL import ImageDraw
from torch import nn

from cnncourse.arithmetic import count_parameters, pool_output_size
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


def _head_parameters(inputs: int) -> int:
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

    def maps(self) -> torch.Tensor:
        """The ``(C, 28, 28)`` maps being pooled."""
        digit = self.digits.images[self.controls["index"].value]
        if self.controls["source"].value == SOURCES[0]:
            return digit[None]
        return apply_kernel(digit, self._edges, padding=1).clamp(min=0)  # ReLU'd edge maps

    def render(self) -> str:
        v = {name: w.value for name, w in self.controls.items()}
        k, s, p, mode = v["kernel_size"], v["stride"], v["padding"], v["mode"]
        x = self.maps()
        c, n = x.shape[0], x.shape[-1]
        out_size = pool_output_size(n, k, s, p)
        out = pool2d(x, k, s, p, mode=mode)
        gap = global_avg_pool(out[None])[0]

        top = float(x.max()) or 1.0
        r.show(self.input_image, r.beside([_map_picture(m, top, k, p) for m in x], gap=6), ZOOM)
        r.show(self.output_image, r.beside([
            r.image(r.enlarge(r.grey(m, 0.0, top), CELL * s)) for m in out], gap=6), ZOOM)
        self.formula.value = (
            f"<code>output = floor((n + 2p - k) / s) + 1 = floor(({n} + 2*{p} - {k}) / {s}) + 1"
            f" = {out_size}</code> &rarr; shape ({c}, {n}, {n}) becomes <b>({c}, {out_size}, "
            f"{out_size})</b>; a {mode} pool has no weights")
        flat = c * out_size * out_size
        values = ", ".join(f"{float(g):.3f}" for g in gap)
        self.heads.value = (
            "<b>The classifier head after this pool</b> (10 classes):<ul>"
            f"<li>flatten: {c}*{out_size}*{out_size} = {flat} numbers &rarr; "
            f"<code>Linear({flat}, 10)</code>: <b>{_head_parameters(flat):,}</b> parameters, "
            "and a bigger image would need a bigger head</li>"
            f"<li>global average pool: one mean per channel, ({html.escape(values)}) &rarr; "
            f"<code>Linear({c}, 10)</code>: <b>{_head_parameters(c):,}</b> parameters, "
            "whatever the image size</li></ul>")
        return ""

    def clear(self) -> None:
        r.show(self.output_image, r.blank(168, 168, "no output"))
        self.heads.value = ""


def _map_picture(m: torch.Tensor, top: float, k: int, padding: int):
    picture = r.image(r.enlarge(r.pad_ring(r.grey(m, 0.0, top), padding), CELL))
    r.outline(ImageDraw.Draw(picture), (0, 0, k * CELL - 1, k * CELL - 1), width=1)
    return picture


__all__ = ["PoolingExplorer"]
