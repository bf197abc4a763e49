"""ConvAsMatmulExplorer: a convolution is one big matrix full of zeros and repeated weights.

Each row of the matrix is one output pixel; it holds the kernel's weights at the columns of the
input pixels under that output's window (coloured by kernel position: the same colour in many
rows is one tied weight) and structural zeros (grey) everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.colours import NOT_HELD, hex_colour
from cnncourse.conv import ConvMatrix, conv_matrix

from . import _render as r
from .base import Explorer

WEIGHTS = ("numbered 1, 2, 3, ...", "random")
MAX_SIDE = 440  # screen pixels for the matrix picture


@dataclass(frozen=True)
class MatmulSettings:
    n: int
    kernel_size: int
    padding: int
    stride: int
    weights: str
    seed: int


@dataclass(frozen=True, eq=False)
class MatmulScene:
    """The weight, the input, the matrix, and the check of ``M @ x`` against ``F.conv2d``."""

    settings: MatmulSettings
    weight: torch.Tensor  # (1, 1, k, k)
    x: torch.Tensor  # (1, n, n)
    result: ConvMatrix
    by_conv: torch.Tensor  # F.conv2d's output, (H_out, W_out)
    difference: float  # largest |M @ x - F.conv2d(x)|
    equal: bool
    tied: int  # matrix entries that hold a kernel weight


class ConvAsMatmulExplorer(Explorer):
    """The dense matrix of a small convolution, and the check that it equals ``F.conv2d``."""

    title = "Convolution as matrix multiplication: sparse, with tied weights"

    def __init__(self) -> None:
        super().__init__()
        slow = {"continuous_update": False}  # redraw when the slider is let go
        c = {
            "n": widgets.IntSlider(4, 3, 6, description="input size", **slow),
            "kernel_size": widgets.IntSlider(2, 1, 4, description="kernel", **slow),
            "padding": widgets.IntSlider(0, 0, 2, description="padding", **slow),
            "stride": widgets.IntSlider(1, 1, 3, description="stride", **slow),
            "weights": widgets.Dropdown(options=WEIGHTS, description="weights"),
            "seed": widgets.IntSlider(0, 0, 20, description="random seed", **slow),
        }
        self.input_image, self.kernel_image, self.output_image = (
            r.image_widget(), r.image_widget(), r.image_widget())
        self.matrix_image = r.image_widget()
        self.summary = widgets.HTML()
        self.check = widgets.HTML()
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([
            widgets.HBox([
                r.captioned("input x (small numbers: pixel = matrix column; padding violet)",
                            self.input_image),
                r.captioned("kernel (one colour per position)", self.kernel_image),
                r.captioned("output = conv2d(x, kernel)", self.output_image)]),
            r.captioned("the matrix M: one row per output pixel, one column per input pixel",
                        self.matrix_image),
            self.summary, self.check])
        self._assemble(c, controls_box, body)

    def settings(self) -> MatmulSettings:
        return MatmulSettings(**{name: w.value for name, w in self.controls.items()})

    def tensors(self, settings: MatmulSettings | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight ``(1, 1, k, k)`` and the input ``(1, n, n)`` the settings describe
        (default: the current controls)."""
        v = settings or self.settings()
        k, n, seed = v.kernel_size, v.n, v.seed
        if v.weights == WEIGHTS[0]:
            weight = torch.arange(1, k * k + 1, dtype=torch.float32)
        else:
            g = torch.Generator().manual_seed(seed)
            weight = torch.randn(k * k, generator=g).mul(2).round().div(2)
        x = torch.randint(0, 10, (1, n, n), generator=torch.Generator().manual_seed(seed + 100))
        return weight.view(1, 1, k, k), x.float()

    def compute(self, settings: MatmulSettings) -> MatmulScene:
        s, p = settings.stride, settings.padding
        weight, x = self.tensors(settings)
        result = conv_matrix(weight, x.shape[1:], stride=s, padding=p)
        by_matrix = result.matrix @ x.flatten()
        by_conv = F.conv2d(x[None], weight, stride=s, padding=p).flatten()
        return MatmulScene(settings, weight, x, result, by_conv.view(result.output_hw),
                           float((by_matrix - by_conv).abs().max()),
                           torch.allclose(by_matrix, by_conv),
                           int((result.weight_index >= 0).sum()))

    def draw(self, scene: MatmulScene) -> None:
        s, p = scene.settings.stride, scene.settings.padding
        weight, x, result = scene.weight, scene.x, scene.result
        r.show(self.input_image, _input_picture(x[0], p))
        r.show(self.kernel_image, _kernel_picture(weight[0, 0]))
        o_h, o_w = result.output_hw
        rows, cols = result.matrix.shape
        tied = scene.tied
        r.show(self.output_image, _output_picture(scene.by_conv))
        r.show(self.matrix_image, *_matrix_picture(result, weight.numel()))
        self.summary.value = (
            f"<code>M</code> has shape (outputs, inputs) = ({o_h}*{o_w}, {x.shape[1]}*"
            f"{x.shape[2]}) = <b>{rows} x {cols}</b>: {tied} entries hold one of the "
            f"{weight.numel()} kernel weights (each used up to {o_h * o_w} times: tied), "
            f"{rows * cols - tied} are structural zeros ({100 * (1 - tied / (rows * cols)):.0f}%"
            f"). A dense layer of this shape would have {rows * cols} free weights.")
        verdict = ("equal &#10004;" if scene.equal else
                   f"<b style='color:{hex_colour(NOT_HELD)}'>different &#10008;</b>")
        self.check.value = (
            f"check: <code>M @ x.flatten()</code> vs <code>F.conv2d(x, w, stride={s}, "
            f"padding={p}).flatten()</code>: largest difference {scene.difference:.2g} "
            f"&rarr; {verdict}")

    def clear(self) -> None:
        r.show(self.output_image, r.blank(80, 80, "none"))
        r.show(self.matrix_image, r.blank(240, 120, "no matrix"))
        self.summary.value = self.check.value = ""


CELL = 26


def _input_picture(x: torch.Tensor, padding: int) -> np.ndarray:
    n = x.shape[0]
    side = n + 2 * padding
    colours = np.full((side, side, 3), r.PADDING, dtype=np.uint8)
    colours[padding:padding + n, padding:padding + n] = 255
    picture = r.enlarge(colours, CELL, r.GRID)
    for (i, j), value in np.ndenumerate(r.as_array(x)):
        x0, y0 = (padding + j) * CELL, (padding + i) * CELL
        r.write(picture, (x0 + 7, y0 + 7), str(i * n + j), 8, (120, 120, 120))
        r.write(picture, (x0 + CELL / 2 + 3, y0 + CELL / 2 + 3), r.number(float(value)), 11)
    return picture


def _kernel_picture(kernel: torch.Tensor) -> np.ndarray:
    k = kernel.shape[0]
    picture = r.enlarge(np.array(r.palette(k * k), dtype=np.uint8).reshape(k, k, 3), CELL,
                        r.GRID)
    r.write_cells(picture, r.as_array(kernel), CELL, size=11)
    return picture


def _output_picture(out: torch.Tensor) -> np.ndarray:
    picture = r.enlarge(np.full((*out.shape, 3), 255, dtype=np.uint8), CELL, r.GRID)
    r.write_cells(picture, r.as_array(out), CELL, size=10)
    return picture


def _matrix_picture(result: ConvMatrix, n_weights: int) -> tuple[np.ndarray, int]:
    """The matrix coloured by kernel position (grey: structural zero), and its zoom: with
    room for them the weights are written in, otherwise it is drawn at half size."""
    index = result.weight_index.numpy()
    rows, cols = index.shape
    cell = int(max(6, min(28, MAX_SIDE // cols, MAX_SIDE // rows)))
    colours = np.array([*r.palette(n_weights), r.MUTED], dtype=np.uint8)
    rgb = colours[np.where(index >= 0, index, n_weights)]
    if cell < 18 or (index >= 0).sum() > 120:
        return r.enlarge(rgb, cell // 2, (255, 255, 255)), 2
    picture = r.enlarge(rgb, cell, (255, 255, 255))
    values = result.matrix.numpy()
    for i, j in zip(*np.nonzero(index >= 0), strict=True):
        r.write(picture, (j * cell + cell / 2, i * cell + cell / 2),
                r.number(float(values[i, j])), 10)
    return picture, 1


__all__ = ["ConvAsMatmulExplorer", "MatmulScene", "MatmulSettings"]
