"""KernelExplorer: slide a 3x3 kernel over a digit and see the feature map it makes."""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
import torch
from PIL import ImageDraw

from cnncourse.arithmetic import conv_output_formula, conv_output_size, effective_kernel_size
from cnncourse.kernels import KERNELS, apply_kernel

from . import _render as r
from ._sources import Digits, as_digits, builtin_images, digits
from .base import Explorer

CELL = 4  # picture pixels per image pixel (shown ZOOM times larger)
ZOOM = 2
KERNEL_CELL = 44
CUSTOM = "custom"


@dataclass(frozen=True)
class KernelSettings:
    image: str
    index: int
    kernel: str  # a name from KERNELS, or "custom"
    weights: tuple[float, ...]  # the nine boxes, row by row
    padding: int
    stride: int
    dilation: int


@dataclass(frozen=True, eq=False)
class KernelScene:
    """The input, the kernel, the feature map and the filled-in size formula."""

    settings: KernelSettings
    x: torch.Tensor  # (n, n), 0 .. 1
    kernel: torch.Tensor  # (3, 3)
    out: torch.Tensor  # the feature map
    out_size: int
    formula: str  # HTML
    caption: str  # HTML


class KernelExplorer(Explorer):
    """Pick an image and a kernel (named, or your own nine numbers) and see the output map.

    ``images``: optional digits ``(N, 28, 28)`` to use instead of the default data.
    """

    title = "Kernels: each output pixel is a weighted sum of the input pixels under the window"

    def __init__(self, images=None) -> None:
        super().__init__()
        self.digits: Digits = digits() if images is None else as_digits(images)
        self.pictures = builtin_images()
        c = {
            "image": widgets.Dropdown(options=["digit", *self.pictures], value="digit",
                                      description="image"),
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                       description="digit #"),
            "kernel": widgets.Dropdown(options=[*KERNELS, CUSTOM], value="top_edge",
                                       description="kernel"),
        }
        self._weights = {}
        for i in range(3):
            for j in range(3):
                self._weights[f"k{i}{j}"] = widgets.BoundedFloatText(
                    0.0, min=-10, max=10, step=0.5, layout=widgets.Layout(width="64px"))
        c.update(self._weights)
        c["padding"] = widgets.IntSlider(0, 0, 4, description="padding")
        c["stride"] = widgets.IntSlider(1, 1, 4, description="stride")
        c["dilation"] = widgets.IntSlider(1, 1, 4, description="dilation")

        self.link_presets("kernel", {name: _boxes(kernel) for name, kernel in KERNELS.items()},
                          custom=CUSTOM)

        self.input_image, self.kernel_image, self.output_image = (
            r.image_widget(), r.image_widget(), r.image_widget())
        self.caption = widgets.HTML()
        self.formula = widgets.HTML()
        grid = widgets.GridBox(list(self._weights.values()), layout=widgets.Layout(
            grid_template_columns="repeat(3, 68px)"))
        controls_box = widgets.VBox([
            c["image"], c["index"], c["kernel"],
            widgets.HTML("edit the kernel (its numbers become <i>custom</i>):"), grid,
            c["padding"], c["stride"], c["dilation"]])
        pictures = widgets.HBox([
            r.captioned("input (padding in violet, first window in orange)", self.input_image),
            r.captioned("kernel", self.kernel_image),
            r.captioned("output map (red positive, blue negative)", self.output_image)])
        body = widgets.VBox([self.caption, pictures, self.formula])
        self._assemble(c, controls_box, body)

    # -- drawing ----------------------------------------------------------------------------

    def settings(self) -> KernelSettings:
        v = {name: w.value for name, w in self.controls.items()}
        weights = tuple(float(v[f"k{i}{j}"]) for i in range(3) for j in range(3))
        return KernelSettings(v["image"], v["index"], v["kernel"], weights, v["padding"],
                              v["stride"], v["dilation"])

    def kernel(self) -> torch.Tensor:
        """The 3x3 kernel the boxes hold now."""
        return torch.tensor(self.settings().weights, dtype=torch.float32).view(3, 3)

    def compute(self, settings: KernelSettings) -> KernelScene:
        v = settings
        p, s, d = v.padding, v.stride, v.dilation
        x = self.digits.images[v.index] if v.image == "digit" else self.pictures[v.image]
        kernel = torch.tensor(v.weights, dtype=torch.float32).view(3, 3)
        n = x.shape[-1]
        out_size = conv_output_size(n, 3, s, p, d)
        out = apply_kernel(x, kernel, stride=s, padding=p, dilation=d)
        if v.image == "digit":
            label = int(self.digits.labels[v.index])
            what = f"digit #{v.index}" + (f" (a {label})" if label >= 0 else "")
            what += f" from {html.escape(self.digits.source)}"
        else:
            what = f"built-in image <b>{v.image}</b>"
        caption = (f"{what}; kernel <b>{v.kernel}</b>; output values from "
                   f"{float(out.min()):.2f} to {float(out.max()):.2f}")
        formula = (f"<code>effective kernel = {d}*(3 - 1) + 1 = {effective_kernel_size(3, d)}"
                   f"</code><br><code>output = floor((n + 2*padding - k') / stride) + 1 = "
                   f"{conv_output_formula(n, 3, s, p, d)}</code>"
                   f" &rarr; <b>{out_size} x {out_size}</b>")
        return KernelScene(v, x, kernel, out, out_size, formula, caption)

    def draw(self, scene: KernelScene) -> None:
        r.show(self.input_image, _input_picture(scene.x, scene.settings.padding,
                                                scene.settings.dilation), ZOOM)
        r.show(self.kernel_image, _kernel_picture(scene.kernel))
        r.show(self.output_image, _output_picture(scene.out), ZOOM)
        self.caption.value = scene.caption
        self.formula.value = scene.formula

    def clear(self) -> None:
        r.show(self.output_image, r.blank(224, 224, "no output"))
        self.formula.value = ""


def _boxes(kernel: torch.Tensor) -> dict[str, float]:
    """The nine boxes' values for a 3x3 kernel."""
    return {f"k{i}{j}": round(float(kernel[i, j]), 4) for i in range(3) for j in range(3)}


def _input_picture(x: torch.Tensor, padding: int, dilation: int):
    picture = r.image(r.enlarge(r.pad_ring(r.grey(x, 0.0, 1.0), padding), CELL))
    draw = ImageDraw.Draw(picture)
    for a in range(3):
        for b in range(3):
            top, left = a * dilation * CELL, b * dilation * CELL
            r.outline(draw, (left, top, left + CELL - 1, top + CELL - 1), width=1)
    return picture


def _kernel_picture(kernel: torch.Tensor):
    values = r.as_array(kernel)
    picture = r.enlarge(r.diverging(values), KERNEL_CELL, r.GRID)
    r.write_cells(picture, values, KERNEL_CELL, size=13)
    return picture


def _output_picture(out: torch.Tensor):
    picture = r.image(r.enlarge(r.diverging(out), CELL))
    r.outline(ImageDraw.Draw(picture), (0, 0, CELL - 1, CELL - 1), width=1)
    return picture


__all__ = ["KernelExplorer", "KernelScene", "KernelSettings"]
