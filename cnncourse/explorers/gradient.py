"""GradientExplorer: where the gradient of one output goes, back through a conv or a pool.

Pick one output pixel of a convolution, a max pool or an average pool over a small image.
Backpropagating a gradient of 1 from that output alone shows which input pixels receive
gradient and how much (for a convolution: the kernel's weights, laid over its window; for a
max pool: the window's largest pixel alone; for an average pool: an equal share), and, for a
convolution, which weights do (the pixels of the window). The gradients are computed by
``cnncourse.backprop``, which the tests check against autograd.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.arithmetic import conv_output_size, pool_output_size
from cnncourse.backprop import avg_pool2d_backward, conv2d_backward, max_pool2d_backward
from cnncourse.conv import window_indices
from cnncourse.kernels import KERNELS

from . import _render as r
from ._sources import Digits, as_digits, digits
from .base import Explorer

SIDE = 10  # the image: a digit shrunk to 10x10 pixels, so that every pixel can be seen
CELL = 26
LAYERS = ("convolution", "max pool", "average pool")
CONV_KERNELS = ("top_edge", "left_edge", "sharpen", "box_blur", "emboss")


@dataclass(frozen=True)
class GradientSettings:
    layer: str
    kernel: str  # the convolution's weights (a 3x3 kernel of cnncourse.kernels)
    index: int
    pool_size: int
    stride: int
    padding: int
    row: int
    col: int


@dataclass(frozen=True, eq=False)
class GradientScene:
    """The image, the layer's output, and the gradients of one output pixel."""

    settings: GradientSettings  # row and col kept inside the output
    image: torch.Tensor  # (SIDE, SIDE)
    weight: torch.Tensor | None  # (k, k) for a convolution
    output: torch.Tensor  # (H', W')
    grad_x: torch.Tensor  # (SIDE, SIDE): d output[row, col] / d image
    grad_weight: torch.Tensor | None  # (k, k): d output[row, col] / d weight
    window: tuple[int, int, int, int]  # rows and columns read: top, left, bottom, right
    receivers: int  # input pixels with a non-zero gradient


class GradientExplorer(Explorer):
    """Backpropagate from one output pixel of a conv, max pool or average pool layer."""

    title = "Backpropagation: which inputs and weights does one output's gradient reach?"

    def __init__(self, images=None) -> None:
        super().__init__()
        self.digits: Digits = digits() if images is None else as_digits(images)
        c = {
            "layer": widgets.ToggleButtons(options=LAYERS, value=LAYERS[0]),
            "kernel": widgets.Dropdown(options=CONV_KERNELS, description="conv weights"),
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                       description="digit #"),
            "pool_size": widgets.IntSlider(2, 2, 4, description="pool size"),
            "stride": widgets.IntSlider(1, 1, 3, description="stride"),
            "padding": widgets.IntSlider(0, 0, 2, description="padding"),
            "row": widgets.IntSlider(2, 0, SIDE - 1, description="output row"),
            "col": widgets.IntSlider(3, 0, SIDE - 1, description="output col"),
        }
        self.input_image, self.output_image, self.weight_image = (
            r.image_widget(), r.image_widget(), r.image_widget())
        self.caption = widgets.HTML()
        body = widgets.VBox([
            widgets.HBox([
                r.captioned("input, and the gradient each pixel receives (orange: the window "
                            "read; red positive, blue negative)", self.input_image),
                r.captioned("the layer's output (the chosen pixel outlined)",
                            self.output_image)]),
            r.captioned("a convolution's weights receive gradient too: d output / d weight "
                        "is the window of the input", self.weight_image),
            self.caption])
        self._assemble(c, widgets.VBox(list(c.values())), body)

    # -- settings -> scene -> view -----------------------------------------------------------

    def settings(self) -> GradientSettings:
        return GradientSettings(**{name: w.value for name, w in self.controls.items()})

    def compute(self, settings: GradientSettings) -> GradientScene:
        v = settings
        image = F.adaptive_avg_pool2d(self.digits.images[v.index][None, None], SIDE)
        conv = v.layer == LAYERS[0]
        weight = KERNELS[v.kernel] if conv else None
        k = 3 if conv else v.pool_size
        if conv:
            out_size = conv_output_size(SIDE, k, v.stride, v.padding)
            output = F.conv2d(image, weight[None, None], stride=v.stride, padding=v.padding)
        else:
            out_size = pool_output_size(SIDE, k, v.stride)
            pool = F.max_pool2d if v.layer == LAYERS[1] else F.avg_pool2d
            output = pool(image, k, v.stride)
        row, col = min(v.row, out_size - 1), min(v.col, out_size - 1)
        grad_out = torch.zeros_like(output)
        grad_out[0, 0, row, col] = 1.0
        grad_weight = None
        if conv:
            grad_x, grad_w, _ = conv2d_backward(image, weight[None, None], grad_out, v.stride,
                                                v.padding)
            grad_weight = grad_w[0, 0]
        elif v.layer == LAYERS[1]:
            grad_x = max_pool2d_backward(image, grad_out, k, v.stride)
        else:
            grad_x = avg_pool2d_backward(image, grad_out, k, v.stride)
        padding = v.padding if conv else 0
        rows = window_indices(row, k, v.stride, padding)
        cols = window_indices(col, k, v.stride, padding)
        return GradientScene(replace(v, row=row, col=col), image[0, 0], weight, output[0, 0],
                             grad_x[0, 0], grad_weight, (rows[0], cols[0], rows[-1], cols[-1]),
                             int((grad_x != 0).sum()))

    def draw(self, scene: GradientScene) -> None:
        v, c = scene.settings, self.controls
        out_size = scene.output.shape[-1]
        c["row"].max = c["col"].max = out_size - 1  # draw runs without redraws
        conv = scene.weight is not None
        c["kernel"].disabled = c["padding"].disabled = not conv
        c["pool_size"].disabled = conv
        r.show(self.input_image, _input_picture(scene))
        picture = r.enlarge(r.grey(scene.output), CELL * SIDE // max(out_size, 1) // 2)
        cell = picture.shape[0] // out_size
        r.frame(picture, (v.col * cell, v.row * cell, (v.col + 1) * cell - 1,
                          (v.row + 1) * cell - 1), width=3)
        r.show(self.output_image, picture)
        if conv:
            weights = r.enlarge(r.diverging(scene.grad_weight), CELL, grid=(200, 200, 200))
            r.write_cells(weights, scene.grad_weight.numpy(), CELL)
            r.show(self.weight_image, weights)
        else:
            r.show(self.weight_image, r.blank(3 * CELL, 3 * CELL, "a pool has no weights"))
        top, left, bottom, right = scene.window
        total = float(scene.grad_x.sum())
        what = {LAYERS[0]: "each pixel of the window gets the weight that multiplied it",
                LAYERS[1]: "only the window's largest pixel gets it (1), the others 0",
                LAYERS[2]: f"every pixel of the window gets an equal share, 1/{v.pool_size**2}"}
        self.caption.value = (
            f"output ({v.row}, {v.col}) of the {v.layer} reads input rows {top}..{bottom}, "
            f"columns {left}..{right}. Backpropagating a gradient of 1 from it alone: "
            f"{what[v.layer]}. <b>{scene.receivers}</b> input pixel(s) receive gradient, "
            f"summing to {total:.3g}; every other input pixel gets 0.")

    def clear(self) -> None:
        r.show(self.input_image, r.blank(SIDE * CELL, SIDE * CELL, "no gradient"))
        self.caption.value = ""


def _input_picture(scene: GradientScene) -> np.ndarray:
    """The input in grey, each pixel's gradient written on it and tinted (red positive, blue
    negative); the window the output reads outlined in orange."""
    grad = scene.grad_x.numpy()
    limit = float(np.abs(grad).max()) or 1.0
    grey = r.grey(scene.image).astype(np.float32)
    tint = r.diverging(grad, limit).astype(np.float32)
    mask = (grad != 0)[..., None]
    rgb = np.where(mask, 0.35 * grey + 0.65 * tint, grey).astype(np.uint8)
    picture = r.enlarge(rgb, CELL, grid=(90, 90, 90))
    for (i, j), value in np.ndenumerate(grad):
        if value != 0:
            background = picture[i * CELL + 3, j * CELL + 3]
            r.write(picture, ((j + 0.5) * CELL, (i + 0.5) * CELL), r.number(float(value)), 10,
                    r.ink_for(background))
    top, left, bottom, right = scene.window
    r.frame(picture, (left * CELL, top * CELL, (right + 1) * CELL, (bottom + 1) * CELL),
            width=3)
    return picture


__all__ = ["GradientExplorer", "GradientScene", "GradientSettings"]
