"""ReceptiveFieldExplorer: which input pixels can one unit of a layer see?

The table comes from ``arithmetic.receptive_field``: for each layer its output size, ``jump``
(input pixels between neighbouring units), ``rf`` (side of the region one unit sees) and
``start`` (centre of unit 0's region). Pick a unit and its region is drawn on a digit.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw
from torch import nn

from cnncourse.arithmetic import ReceptiveField, Region, receptive_field, unit_region

from . import _render as r
from ._sources import Digits, as_digits, digits
from .base import Explorer

CELL = 4  # picture pixels per image pixel (shown ZOOM times larger)
ZOOM = 2
MARGIN = 6  # cells drawn around the digit, so regions that reach into the padding show
CUSTOM = "custom (edit the text)"
YOUR_MODEL = "your model"
LESSON = "lesson CNN"
STACKS = {
    "3x3 convs, no downsampling": [(3, 1, 1)] * 4,
    "3x3 convs with stride 2": [(3, 2, 1)] * 4,
    "conv, conv, 2x2 pool (VGG-style)": [(3, 1, 1), (3, 1, 1), (2, 2, 0),
                                         (3, 1, 1), (3, 1, 1), (2, 2, 0)],
    "dilated 3x3 (1, 2, 4)": [(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)],
    "big kernels": [(7, 2, 3), (5, 1, 2)],
}


def lesson_model() -> nn.Module | None:
    """The lesson CNN from ``cnncourse.models``, or None if that module is unavailable."""
    try:
        from cnncourse.models import simple_cnn

        return simple_cnn()
    except Exception:  # noqa: BLE001 - explorers open even without the training modules
        return None


def parse_layers(text: str) -> list[tuple[int, ...]]:
    """Layers from text, one ``kernel stride padding [dilation]`` line each (``#`` comments)."""
    layers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = re.split(r"[\s,]+", line)
        if len(words) not in (3, 4) or not all(re.fullmatch(r"\d{1,3}", w) for w in words):
            raise ValueError(
                f"layers line {number}: {line!r} should be 3 or 4 whole numbers, "
                "'kernel stride padding' or 'kernel stride padding dilation', e.g. '3 2 1'")
        layers.append(tuple(int(w) for w in words))
    if not layers:
        raise ValueError("layers: write at least one line 'kernel stride padding', e.g. '3 1 1'")
    if len(layers) > 16:
        raise ValueError(f"layers: at most 16 layers, got {len(layers)}")
    return layers


def layers_text(records: list[ReceptiveField]) -> str:
    """The conv and pool records as text lines (records of whole blocks are left out)."""
    lines = []
    for rec in records:
        if rec.kernel_size is None:
            continue
        k, s, p, d = (_first(x) for x in (rec.kernel_size, rec.stride, rec.padding,
                                          rec.dilation))
        lines.append(f"{k} {s} {p}" + (f" {d}" if d != 1 else "") + f"  # {rec.name}")
    return "\n".join(lines)


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value, value)


@dataclass(frozen=True)
class FieldSettings:
    stack: str
    layers: str  # the text of the layers box
    layer: int  # 1-based
    row: int
    col: int
    index: int


@dataclass(frozen=True, eq=False)
class FieldScene:
    """The receptive-field table and the region of the chosen unit."""

    settings: FieldSettings  # layer, row and col kept within the stack's sizes
    records: tuple[ReceptiveField, ...]
    region: Region
    image: object  # the digit drawn on, (28, 28) in [0, 1]
    caption: str  # HTML


class ReceptiveFieldExplorer(Explorer):
    """Per-layer receptive-field table and one unit's input region drawn on a digit.

    ``model``: an ``nn.Module`` to analyse instead of the lesson CNN (its Conv2d, MaxPool2d
    and AvgPool2d layers count). ``images``: digits ``(N, 28, 28)`` to draw on.
    """

    title = "Receptive fields: the input region one unit of a layer can see"

    def __init__(self, model: nn.Module | None = None, images=None) -> None:
        super().__init__()
        self.digits: Digits = digits() if images is None else as_digits(images)
        self.models: dict[str, nn.Module] = {}
        self.stacks: dict[str, list] = dict(STACKS)
        if isinstance(model, nn.Module):
            self.models[YOUR_MODEL] = model
        elif model is not None:  # a list of (kernel, stride, padding[, dilation]) tuples
            self.stacks = {YOUR_MODEL: list(model), **STACKS}
        lesson = lesson_model()
        if lesson is not None:
            self.models[LESSON] = lesson
        stacks = [*self.models, *self.stacks, CUSTOM]
        if model is not None:  # what the caller passed comes first
            stacks.remove(YOUR_MODEL)
            stacks.insert(0, YOUR_MODEL)
        c = {
            "stack": widgets.Dropdown(options=stacks, value=stacks[0], description="layers"),
            "layers": widgets.Textarea(
                rows=7, continuous_update=False,
                placeholder="one layer a line: kernel stride padding [dilation]",
                layout=widgets.Layout(width="280px")),
            "layer": widgets.IntSlider(1, 1, 4, description="layer"),
            "row": widgets.IntSlider(0, 0, 0, description="unit row"),
            "col": widgets.IntSlider(0, 0, 0, description="unit col"),
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                       description="digit #"),
        }
        self.examples["layers"] = [_as_text(s) for s in STACKS.values()]
        self.link_presets("stack", {name: {"layers": self._text_of(name)}
                                    for name in [*self.models, *self.stacks]}, custom=CUSTOM)

        self.table = widgets.HTML()
        self.picture = r.image_widget()
        self.caption = widgets.HTML()
        controls_box = widgets.VBox([
            c["stack"], widgets.HTML("<small>kernel stride padding [dilation], one layer a "
                                     "line:</small>"), c["layers"],
            c["layer"], c["row"], c["col"], c["index"]])
        body = widgets.VBox([self.table, self.caption, self.picture])
        self._assemble(c, controls_box, body)

    # -- the layer stack --------------------------------------------------------------------

    def _text_of(self, stack: str) -> str:
        """The layers of a named stack or model, as the text box shows them."""
        if stack in self.stacks:
            return _as_text(self.stacks[stack])
        try:
            return layers_text(receptive_field(self.models[stack]))
        except (ValueError, TypeError) as err:  # shown again, as the message, by compute()
            return f"# these layers cannot be read: {err}"

    def layers(self, settings: FieldSettings | None = None) -> nn.Module | list[tuple[int, ...]]:
        """What ``receptive_field`` is given: a model, or the parsed text."""
        v = settings or self.settings()
        if v.stack in self.models:
            return self.models[v.stack]
        if v.stack in self.stacks:
            return self.stacks[v.stack]
        return parse_layers(v.layers)

    # -- drawing ----------------------------------------------------------------------------

    def settings(self) -> FieldSettings:
        return FieldSettings(**{name: w.value for name, w in self.controls.items()})

    def compute(self, settings: FieldSettings) -> FieldScene:
        image = self.digits.images[settings.index]
        size = image.shape[-1]
        records = [rec for rec in receptive_field(self.layers(settings), input_size=size)
                   if rec.rf is not None]  # units that see all of the image have no region
        if not records:
            raise ValueError("model: no layer has a local receptive field to draw")
        layer = min(settings.layer, len(records))
        rec = records[layer - 1]
        out_h, out_w = _pair(rec.out_size)
        row, col = min(settings.row, out_h - 1), min(settings.col, out_w - 1)
        region = unit_region(rec, row, col)
        inside = (max(0, min(region.bottom, size - 1) - max(region.top, 0) + 1)
                  * max(0, min(region.right, size - 1) - max(region.left, 0) + 1))
        jump = min(_pair(rec.jump))
        caption = (
            f"unit ({row}, {col}) of layer {layer} (<code>{html.escape(rec.name)}"
            f"</code>, output {out_h} x {out_w}) sees input rows {_coord(region.top)}.."
            f"{_coord(region.bottom)}, columns {_coord(region.left)}..{_coord(region.right)}: "
            f"a {region.height} x {region.width} region centred at ({_coord(region.centre[0])}"
            f", {_coord(region.centre[1])}), {int(inside)} of its {region.height * region.width}"
            f" pixels inside the {size} x {size} image; the rest is padding. "
            + (f"Dots: the centres of all units of this layer, {_show(rec.jump)} pixels apart "
               "(the jump)." if jump >= 2 else "Neighbouring units are 1 pixel apart "
               "(jump 1)."))
        return FieldScene(replace(settings, layer=layer, row=row, col=col), tuple(records),
                          region, image, caption)

    def draw(self, scene: FieldScene) -> None:
        c, v = self.controls, scene.settings
        rec = scene.records[v.layer - 1]
        out_h, out_w = _pair(rec.out_size)
        c["layer"].max = len(scene.records)  # the sliders offer this stack's layers and units
        c["row"].max, c["col"].max = out_h - 1, out_w - 1
        self.table.value = _table(list(scene.records), v.layer - 1)
        r.show(self.picture, region_picture(scene.image, rec, v.row, v.col), ZOOM)
        self.caption.value = scene.caption

    def clear(self) -> None:
        self.table.value = ""
        self.caption.value = ""
        r.show(self.picture, r.blank(224, 224, "no receptive field"))


def _as_text(layers: list[tuple[int, ...]]) -> str:
    return "\n".join(" ".join(str(v) for v in layer) for layer in layers)


def _coord(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _show(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_coord(v) for v in value) + ")"
    return _coord(value)


def _table(records: list[ReceptiveField], selected: int) -> str:
    head = ("<tr><th>#</th><th>layer</th><th>kernel</th><th>stride</th><th>padding</th>"
            "<th>dilation</th><th>size</th><th>jump</th><th>rf</th><th>start</th></tr>")
    rows = ["<tr><td>0</td><td>input</td><td></td><td></td><td></td><td></td>"
            "<td>-</td><td>1</td><td>1</td><td>0</td></tr>"]
    for i, rec in enumerate(records):
        style = " style='background:#ffe2bf'" if i == selected else ""
        cells = [str(i + 1), html.escape(rec.name)] + [
            _show(getattr(rec, f)) for f in ("kernel_size", "stride", "padding", "dilation",
                                             "out_size", "jump", "rf", "start")]
        rows.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table style='border-collapse:collapse;text-align:right' cellpadding='3'>"
            + head + "".join(rows) + "</table>")


def region_picture(image, rec: ReceptiveField, row: int, col: int) -> Image.Image:
    """``image`` (28x28 in [0, 1]) with a margin, the region of unit ``(row, col)``
    outlined and, when the jump is at least 2, the centres of all the layer's units dotted."""
    size = image.shape[-1]
    side = size + 2 * MARGIN
    colours = np.empty((side, side, 3), dtype=np.uint8)
    colours[:] = r.PADDING
    colours[MARGIN:MARGIN + size, MARGIN:MARGIN + size] = r.grey(image, 0.0, 1.0)
    picture = r.image(r.enlarge(colours, CELL))
    draw = ImageDraw.Draw(picture)

    def px(coordinate: float) -> float:  # input coordinate (pixel centres) -> screen pixels
        return (coordinate + MARGIN + 0.5) * CELL

    (jh, jw), (sh, sw) = _pair(rec.jump), _pair(rec.start)
    out_h, out_w = _pair(rec.out_size) if rec.out_size is not None else (0, 0)
    limit = side * CELL
    rows = range(out_h) if min(jh, jw) >= 2 else range(0)  # jump 1: every pixel, no dots
    for i in rows:
        y = px(sh + i * jh)
        if not 0 <= y < limit:
            continue
        for j in range(out_w):
            x = px(sw + j * jw)
            if 0 <= x < limit:
                draw.point((x, y), fill=(80, 160, 255))
    region = unit_region(rec, row, col)
    box = (px(region.left - 0.5), px(region.top - 0.5), px(region.right + 0.5) - 1,
           px(region.bottom + 0.5) - 1)
    r.outline(draw, tuple(float(np.clip(v, 0, limit - 1)) for v in box), width=2)
    cx, cy = px(region.centre[1]), px(region.centre[0])
    if 0 <= cx < limit and 0 <= cy < limit:
        draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=r.HIGHLIGHT)
    return picture


__all__ = ["FieldScene", "FieldSettings", "ReceptiveFieldExplorer", "layers_text",
           "parse_layers", "region_picture"]
