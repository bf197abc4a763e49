"""ConvArithmeticExplorer: input size, kernel, padding, stride, dilation -> output size.

An animation slides the window over the (padded) input and fills the output one cell at a
time, so each output's inputs are visible. In transposed mode each input cell instead spreads a
kernel-sized footprint over the output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import ipywidgets as widgets
import numpy as np
from PIL import ImageDraw

from cnncourse.arithmetic import (
    conv_output_formula,
    conv_output_size,
    conv_transpose_output_formula,
    conv_transpose_output_size,
    effective_kernel_size,
    same_padding,
)
from cnncourse.conv import window_indices

from . import _render as r
from .base import Explorer

CONV, TRANSPOSED = "convolution", "transposed"
CUSTOM = "custom"
PRESETS = {
    "valid": "no padding: the window stays inside the input, the output shrinks by k' - 1",
    "same": "padding d(k-1)/2 at stride 1: output size = input size (odd kernels only)",
    "full": "padding d(k-1): every window that touches the input at all",
    "stride-2 downsample": "kernel 3, padding 1, stride 2: the output is half the input",
}
DONE = (205, 225, 245)  # outputs already computed in the animation: pale blue
WINDOW = (255, 200, 140)  # inputs under the window: light orange
OFF_EDGE = (70, 70, 140)  # window taps that fall off the padded input: dark blue-grey
# (not red next to the orange window: the two would look alike to colour-blind eyes)
ZOOM = 2  # pictures are shown twice as large as they are drawn


@dataclass(frozen=True)
class ArithmeticSettings:
    mode: str
    preset: str
    n: int
    kernel_size: int
    padding: int
    stride: int
    dilation: int
    output_padding: int
    step: int  # the animation's cell: an output (convolution) or an input (transposed)
    preset_note: str = ""  # why the chosen preset could not be met, if it could not


@dataclass(frozen=True)
class ArithmeticScene:
    """The filled-in formula, the output size (``None`` if the setting gives none) and, for
    the animation's current cell ``(i, j)``, the rows and columns its window covers."""

    settings: ArithmeticSettings  # with ``step`` kept within ``steps``
    formula: str  # HTML
    out_size: int | None
    steps: int  # cells the animation runs over
    cell: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    preset_help: str
    note: str = ""


class ConvArithmeticExplorer(Explorer):
    """The output-size formula, filled in and animated."""

    title = "Convolution arithmetic: how big is the output, and which inputs does each one read?"

    def __init__(self) -> None:
        super().__init__()
        c = {
            "mode": widgets.ToggleButtons(options=[CONV, TRANSPOSED], value=CONV),
            "preset": widgets.Dropdown(options=[CUSTOM, *PRESETS], value=CUSTOM,
                                       description="preset"),
            "n": widgets.IntSlider(5, 1, 16, description="input size"),
            "kernel_size": widgets.IntSlider(3, 1, 7, description="kernel"),
            "padding": widgets.IntSlider(0, 0, 4, description="padding"),
            "stride": widgets.IntSlider(1, 1, 4, description="stride"),
            "dilation": widgets.IntSlider(1, 1, 3, description="dilation"),
            "output_padding": widgets.IntSlider(0, 0, 3, description="output pad"),
            "step": widgets.Play(0, 0, 8, interval=600, description="animate"),
        }
        # valid, same and full follow the kernel; the downsample preset fixes it.
        self._presets = self.link_presets(
            "preset", self._preset_values, custom=CUSTOM, depends_on=("kernel_size", "dilation"),
            linked=("mode", "kernel_size", "padding", "stride", "dilation", "output_padding"))
        self._scrub = widgets.IntSlider(0, 0, 8, description="step")
        widgets.jslink((c["step"], "value"), (self._scrub, "value"))

        self.picture = r.image_widget()
        self.formula = widgets.HTML()
        self.reading = widgets.HTML()
        self.preset_help = widgets.HTML()
        controls_box = widgets.VBox([
            c["mode"], c["preset"], self.preset_help, c["n"], c["kernel_size"], c["padding"],
            c["stride"], c["dilation"], c["output_padding"],
            widgets.HBox([c["step"], self._scrub])])
        body = widgets.VBox([self.formula, self.picture, self.reading])
        self._assemble(c, controls_box, body)

    # -- presets ----------------------------------------------------------------------------

    def _preset_values(self, name: str) -> dict[str, int | str]:
        k, d = self.controls["kernel_size"].value, self.controls["dilation"].value
        if name == "valid":
            return {"mode": CONV, "padding": 0, "stride": 1}
        if name == "same":
            return {"mode": CONV, "padding": same_padding(k, d), "stride": 1}
        if name == "full":
            return {"mode": CONV, "padding": d * (k - 1), "stride": 1}
        return {"mode": CONV, "kernel_size": 3, "dilation": 1, "padding": 1, "stride": 2}

    # -- settings -> scene -> view -------------------------------------------------------

    def settings(self) -> ArithmeticSettings:
        return ArithmeticSettings(**{name: w.value for name, w in self.controls.items()},
                                  preset_note=self._presets.note)

    def compute(self, settings: ArithmeticSettings) -> ArithmeticScene:
        v = settings
        n, k, p, s, d, op = (v.n, v.kernel_size, v.padding, v.stride, v.dilation,
                             v.output_padding)
        note, out_size = "", None
        if v.mode == CONV:
            formula = (f"<code>k' = d(k-1) + 1 = {d}*({k}-1) + 1 = "
                       f"{effective_kernel_size(k, d)}</code><br><code>output = floor((n + 2p "
                       f"- k') / s) + 1 = {conv_output_formula(n, k, s, p, d)}</code>")
            try:
                out_size = conv_output_size(n, k, s, p, d)
            except ValueError as err:
                note = str(err)
            steps = out_size * out_size if out_size else 1
            grid = out_size or 1
        else:
            formula = ("<code>output = (n - 1)s - 2p + d(k-1) + 1 + output_padding = "
                       f"{conv_transpose_output_formula(n, k, s, p, op, d)}</code>")
            try:
                out_size = conv_transpose_output_size(n, k, s, p, op, d)
            except ValueError as err:
                note = str(err)
            steps, grid = n * n, n
        if out_size is not None:
            formula += f" &rarr; output <b>{out_size} x {out_size}</b>"
        step = min(v.step, steps - 1)
        i, j = divmod(step, grid)
        notes = " ".join(t for t in (v.preset_note, note) if t)
        return ArithmeticScene(replace(v, step=step), formula, out_size, steps, (i, j),
                               tuple(window_indices(i, k, s, p, d)),
                               tuple(window_indices(j, k, s, p, d)),
                               f"<small>{PRESETS.get(v.preset, '')}</small>", notes)

    def draw(self, scene: ArithmeticScene) -> None:
        v = scene.settings
        n, k, p, s, d, o = v.n, v.kernel_size, v.padding, v.stride, v.dilation, scene.out_size
        for w in (self.controls["step"], self._scrub):  # the animation runs over these cells
            w.max = scene.steps - 1
        self.preset_help.value = scene.preset_help
        self.formula.value = scene.formula
        (i, j), rows, cols = scene.cell, _span(scene.rows), _span(scene.cols)
        if v.mode == CONV:
            r.show(self.picture, _conv_picture(n, k, p, s, d, v.step, o), ZOOM)
            self.reading.value = (
                "the window does not fit inside the padded input" if o is None else
                f"output ({i}, {j}) = sum of kernel x input at rows {rows}, columns {cols} "
                f"(input coordinates; -1 and {n} and beyond are padding zeros)")
        else:
            r.show(self.picture, _transposed_picture(n, k, p, s, d, v.output_padding, v.step),
                   ZOOM)
            self.reading.value = (
                "nothing is left of the output after cropping" if o is None else
                f"input ({i}, {j}) times the kernel is added onto output rows {rows}, "
                f"columns {cols} (outside 0..{o - 1}: cropped by padding)")

    def clear(self) -> None:
        r.show(self.picture, r.blank(240, 120, "cannot draw this setting"))


def _span(values: tuple[int, ...]) -> str:
    if len(values) == 1:
        return str(values[0])
    step = values[1] - values[0]
    text = f"{values[0]}..{values[-1]}"
    return text if step == 1 else f"{text} every {step}"


def _cell_size(cells: int) -> int:
    return int(max(3, min(15, 165 // max(cells, 1))))


def _grid_picture(colours: np.ndarray, cell: int):
    return r.image(r.enlarge(colours, cell, r.GRID))


def _conv_picture(n: int, k: int, p: int, s: int, d: int, step: int, o: int | None):
    """Padded input with the current window, and the output filled up to ``step``."""
    k_eff = effective_kernel_size(k, d)
    side = n + 2 * p
    i, j = divmod(step, o) if o else (0, 0)
    # The canvas grows to show a window that does not fit.
    canvas = max(side, k_eff)
    cell = _cell_size(canvas)
    colours = np.full((canvas, canvas, 3), 255, dtype=np.uint8)
    colours[side:, :] = r.MUTED
    colours[:, side:] = r.MUTED
    if p:
        colours[:p, :side] = colours[side - p:side, :side] = r.PADDING
        colours[:side, :p] = colours[:side, side - p:side] = r.PADDING
    for a in range(k):
        for b in range(k):
            y, x = i * s + a * d, j * s + b * d
            if y < canvas and x < canvas:
                colours[y, x] = WINDOW if y < side and x < side else OFF_EDGE
    left = _grid_picture(colours, cell)
    draw = ImageDraw.Draw(left)
    draw.rectangle((0, 0, side * cell, side * cell), outline=r.INK, width=1)
    top_px, left_px = i * s * cell, j * s * cell
    r.outline(draw, (left_px, top_px, left_px + k_eff * cell, top_px + k_eff * cell), width=2)
    if o is None:
        return left
    out = np.full((o, o, 3), 255, dtype=np.uint8)
    flat = out.reshape(-1, 3)
    flat[:step] = DONE
    flat[step] = r.HIGHLIGHT
    right = _grid_picture(out, cell)
    return r.beside([left, right], gap=3 * cell)


def _transposed_picture(n: int, k: int, p: int, s: int, d: int, op: int, step: int):
    """Input with the current cell, and the full output with its footprint; the padding
    crop shown in violet (output_padding adds rows and columns at the bottom and right)."""
    k_eff = effective_kernel_size(k, d)
    full = (n - 1) * s + k_eff + op
    cell = _cell_size(max(full, n))
    i, j = divmod(step, n)
    inp = np.full((n, n, 3), 255, dtype=np.uint8)
    flat = inp.reshape(-1, 3)
    flat[:step] = DONE
    flat[step] = r.HIGHLIGHT
    left = _grid_picture(inp, cell)
    out = np.full((full, full, 3), 255, dtype=np.uint8)
    keep = np.zeros((full, full), dtype=bool)
    keep[p:max(full - p, p), p:max(full - p, p)] = True
    out[~keep] = r.PADDING
    for a in range(k):
        for b in range(k):
            out[i * s + a * d, j * s + b * d] = WINDOW
    right = _grid_picture(out, cell)
    draw = ImageDraw.Draw(right)
    top_px, left_px = i * s * cell, j * s * cell
    r.outline(draw, (left_px, top_px, left_px + k_eff * cell, top_px + k_eff * cell), width=2)
    return r.beside([left, right], gap=3 * cell)


__all__ = ["ArithmeticScene", "ArithmeticSettings", "ConvArithmeticExplorer"]
