"""ChannelsExplorer: a colour image is three channels, and a conv filter is as deep as its input.

The weight of a convolution has rank 4, ``[out, in, kh, kw]``: one ``in x kh x kw`` filter per
output channel. Each output map is the sum, over the input channels, of channel ⋆ kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

from cnncourse.arithmetic import conv_output_size
from cnncourse.kernels import apply_kernel

from . import _render as r
from ._sources import rgb_images
from .base import Explorer

CELL = 3  # picture pixels per image pixel (shown ZOOM times larger)
ZOOM = 2
CHANNELS = ("red", "green", "blue")
TINTS = np.array([[1.0, 0.2, 0.2], [0.2, 0.85, 0.2], [0.25, 0.35, 1.0]])
COLOURS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0)}
DESIGNS = ("colour detectors", "edges per channel", "brightness and edges", "random")


def _ramp(k: int) -> torch.Tensor:
    """A k x k kernel that is negative on the left and positive on the right."""
    return torch.linspace(-1, 1, k).expand(k, k).clone() if k > 1 else torch.zeros(1, 1)


def design_weight(design: str, out_channels: int, kernel_size: int,
                  seed: int = 0) -> torch.Tensor:
    """A ``(out_channels, 3, k, k)`` weight of one of ``DESIGNS``."""
    k = kernel_size
    w = torch.zeros(out_channels, 3, k, k)
    box = torch.full((k, k), 1.0 / (k * k))
    for f in range(out_channels):
        if design == "colour detectors":
            target = torch.tensor(list(COLOURS.values())[f % 4], dtype=torch.float32)
            mix = target - target.mean()  # likes its colour, dislikes the others
            w[f] = mix.view(3, 1, 1) * box
        elif design == "edges per channel":
            edge = _ramp(k) if f < 3 else _ramp(k).T
            w[f, f % 3] = edge
        elif design == "brightness and edges":
            kernels = [box, _ramp(k) / 3, _ramp(k).T / 3, None]
            if kernels[f] is None:  # red minus blue
                w[f, 0], w[f, 2] = box, -box
            else:
                w[f] = kernels[f]
        elif design == "random":
            g = torch.Generator().manual_seed(seed * 10 + f)
            w[f] = torch.randn(3, k, k, generator=g) / (3 * k * k) ** 0.5
        else:
            raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
    return w


@dataclass(frozen=True)
class ChannelsSettings:
    image: str
    weights: str  # one of DESIGNS
    out_channels: int
    kernel_size: int
    padding: int
    seed: int


@dataclass(frozen=True, eq=False)
class ChannelsScene:
    """The image, the rank-4 weight and one output map per filter."""

    settings: ChannelsSettings
    x: torch.Tensor  # (3, H, W)
    weight: torch.Tensor  # (out, 3, k, k)
    out: torch.Tensor  # (out, H', W')
    note: str = ""


class ChannelsExplorer(Explorer):
    """Split an RGB image into channels and convolve it with a multi-channel weight.

    ``images``: optional dict name -> ``(3, H, W)`` tensors in [0, 1].
    """

    title = "Channels: a filter spans every input channel; one output map per filter"

    def __init__(self, images: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.images = rgb_images() if images is None else images
        c = {
            "image": widgets.Dropdown(options=list(self.images), description="image"),
            "weights": widgets.Dropdown(options=DESIGNS, value="colour detectors",
                                        description="filters"),
            "out_channels": widgets.IntSlider(3, 1, 4, description="out channels",
                                              continuous_update=False),
            "kernel_size": widgets.IntSlider(3, 1, 5, description="kernel",
                                             continuous_update=False),
            "padding": widgets.IntSlider(1, 0, 2, description="padding",
                                         continuous_update=False),
            "seed": widgets.IntSlider(0, 0, 20, description="random seed",
                                      continuous_update=False),
        }
        self.input_image = r.image_widget()
        self._shown_image = None
        self.weight_image = r.image_widget()
        self.output_image = r.image_widget()
        self.shape_text = widgets.HTML()
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([
            r.captioned("the image and its three channels", self.input_image),
            self.shape_text,
            r.captioned("the weight: one row per output channel, one column per input channel",
                        self.weight_image),
            r.captioned("one output map per output channel (red positive, blue negative)",
                        self.output_image)])
        self._assemble(c, controls_box, body)

    def settings(self) -> ChannelsSettings:
        return ChannelsSettings(**{name: w.value for name, w in self.controls.items()})

    def weight(self) -> torch.Tensor:
        v = self.settings()
        return design_weight(v.weights, v.out_channels, v.kernel_size, v.seed)

    def compute(self, settings: ChannelsSettings) -> ChannelsScene:
        v = settings
        x = self.images[v.image]
        if x.dim() != 3 or x.shape[0] != 3:
            raise ValueError(f"image {v.image!r} must have shape (3, H, W), got "
                             f"{tuple(x.shape)}")
        w = design_weight(v.weights, v.out_channels, v.kernel_size, v.seed)
        conv_output_size((x.shape[1], x.shape[2]), v.kernel_size, 1, v.padding)  # explains
        out = apply_kernel(x, w, padding=v.padding)
        note = ""
        if v.kernel_size == 1 and v.weights in ("edges per channel", "brightness and edges"):
            note = ("a 1x1 kernel sees a single pixel, so it cannot find edges; it can only "
                    "mix the channels of each pixel")
        return ChannelsScene(v, x, w, out, note)

    def draw(self, scene: ChannelsScene) -> None:
        v, w = scene.settings, scene.weight
        f_out, _, k, _ = w.shape
        _, h, wd = scene.out.shape
        if self._shown_image != v.image:  # the slow picture changes only with the image
            r.show(self.input_image, _channels_picture(scene.x), ZOOM)
            self._shown_image = v.image
        r.show(self.weight_image, _weight_picture(w))
        r.show(self.output_image, _maps_picture(scene.out), ZOOM)
        self.shape_text.value = (
            f"<code>weight.shape = [out, in, kh, kw] = [{f_out}, 3, {k}, {k}]</code>: "
            f"{f_out} filter{'s' if f_out > 1 else ''}, each 3 channels deep and {k}x{k} wide "
            f"&rarr; {w.numel()} weights (+ {f_out} biases)<br>"
            f"<code>output[f] = sum over c of input[c] &#8902; weight[f, c]</code> &rarr; "
            f"output shape <code>[{f_out}, {h}, {wd}]</code>")

    def clear(self) -> None:
        r.show(self.output_image, r.blank(200, 100, "no output"))


def _channels_picture(x: torch.Tensor) -> np.ndarray:
    rgb = (r.as_array(x).clip(0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
    pictures = [r.enlarge(rgb, CELL)]
    for c in range(3):
        level = r.as_array(x[c]).clip(0, 1)[..., None]
        tinted = (level * TINTS[c] * 255).astype(np.uint8)
        pictures.append(r.enlarge(tinted, CELL))
    return r.beside(pictures, gap=6)


def _weight_picture(w: torch.Tensor) -> np.ndarray:
    f_out, c_in, k, _ = w.shape
    cell = max(12, 84 // k)
    values = r.as_array(w)
    colours = r.diverging(values)  # one colour scale for the whole weight
    side = k * cell + 1
    label_w, label_h, gap = 52, 18, 10
    canvas = np.full((label_h + f_out * (side + gap), label_w + c_in * (side + gap), 3), 255,
                     dtype=np.uint8)
    for c in range(c_in):
        r.write(canvas, (label_w + c * (side + gap) + side / 2, label_h / 2), f"in {c}: "
                f"{CHANNELS[c]}", 11)
    for f in range(f_out):
        top = label_h + f * (side + gap)
        r.write(canvas, (label_w / 2, top + side / 2), f"out {f}", 11)
        for c in range(c_in):
            left = label_w + c * (side + gap)
            tile = canvas[top:top + side, left:left + side]
            tile[:] = r.enlarge(colours[f, c], cell, r.GRID)
            if k <= 3:
                r.write_cells(tile, values[f, c], cell, size=11)
    return canvas


def _maps_picture(out: torch.Tensor) -> np.ndarray:
    return r.beside([r.enlarge(r.diverging(m), CELL) for m in out], gap=6)


__all__ = ["ChannelsExplorer", "ChannelsScene", "ChannelsSettings", "design_weight"]
