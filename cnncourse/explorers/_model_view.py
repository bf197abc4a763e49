"""ModelExplorer's view: the layer table as HTML, the chosen unit's region drawn on the image and
the layer's feature maps in a grid, all painted with PIL (see ``_render``)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
import torch
from PIL import ImageDraw

from cnncourse.arithmetic import ReceptiveField

from . import _render as r

if TYPE_CHECKING:
    from .model import ModelScene

SHOWN_ROWS = 15  # table rows shown around the chosen layer
FIELD_SIDE = 256  # about this many screen pixels for the image
TILE = 72  # about this many screen pixels for each feature map
PER_ROW = 8


TABLE_STYLE = ("<style>.cnncourse-layers{border-collapse:collapse;font-size:90%}"
               ".cnncourse-layers td,.cnncourse-layers th{padding:1px 8px;line-height:1.3;"
               "text-align:right}.cnncourse-layers td:nth-child(2),"
               ".cnncourse-layers th:nth-child(2){text-align:left}</style>")


def image_widgets() -> tuple[widgets.Image, widgets.Image]:
    return r.image_widget(), r.image_widget()


def layout(table: widgets.HTML, caption: widgets.HTML, field: widgets.Image,
           maps: widgets.Image) -> widgets.VBox:
    field.layout.min_width = "260px"
    return widgets.VBox([
        caption,
        widgets.HBox([
            r.captioned("the region the layer's centre unit sees (orange), on what the model "
                        "is given; violet: outside the image", field),
            r.captioned("the layer's first feature maps for this image, each on its own scale "
                        "(black: its lowest value, white: its highest)", maps)]),
        table])


def layer_options(rows) -> tuple[tuple[str, int], ...]:
    return tuple((f"{i}: {row.name} ({row.type})", i) for i, row in enumerate(rows))


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(v) for v in shape) if shape else "-"


def _pair_text(value) -> str:
    if isinstance(value, tuple):
        return " x ".join(_number(v) for v in value)
    return _number(value)


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def field_text(field: ReceptiveField | None) -> str:
    """A row's receptive field in a word or a number."""
    if field is None:
        return "?"
    if field.rf is not None:
        return _pair_text(field.rf)
    return "whole image" if field.whole else "?"


def table(scene: ModelScene) -> str:
    """The rows around the chosen layer (it highlighted), and the totals."""
    chosen = scene.settings.layer
    first = max(0, min(chosen - SHOWN_ROWS // 2, len(scene.rows) - SHOWN_ROWS))
    last = min(len(scene.rows), first + SHOWN_ROWS)
    head = ("<tr><th>#</th><th>layer</th><th>type</th><th>output</th><th>parameters</th>"
            "<th>mult-adds</th><th>receptive field</th></tr>")
    lines = []
    if first > 0:
        lines.append(f"<tr><td colspan='7' style='color:#777'>... {first} layer(s) above"
                     "</td></tr>")
    for i in range(first, last):
        row, field = scene.rows[i], scene.fields[i]
        style = " style='background:#ffe2bf'" if i == chosen else ""
        title = f" title='{html.escape(field.note)}'" if field is not None and field.note else ""
        cells = [str(i), html.escape(row.name), row.type, _shape(row.out_shape),
                 f"{row.params:,}", f"{row.macs:,}", field_text(field)]
        lines.append(f"<tr{style}{title}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if last < len(scene.rows):
        lines.append(f"<tr><td colspan='7' style='color:#777'>... {len(scene.rows) - last} "
                     "layer(s) below</td></tr>")
    lines.append(f"<tr style='font-weight:bold'><td></td><td>total ({len(scene.rows)} layers)"
                 f"</td><td></td><td></td><td>{scene.params:,}</td><td>{scene.macs:,}</td>"
                 "<td></td></tr>")
    return (TABLE_STYLE + "<table class='cnncourse-layers'>" + head + "".join(lines)
            + "</table>")


def caption(scene: ModelScene) -> str:
    row, field, region = scene.row, scene.field, scene.region
    size = scene.picture.shape[-1]
    text = (f"Layer {scene.settings.layer}, <code>{html.escape(row.name)}</code> "
            f"({row.type}): output {_shape(row.out_shape)}. ")
    if region is not None:
        jump = field.jump if isinstance(field.jump, int) else min(field.jump)
        text += (f"Its centre unit {scene.unit} sees input rows {_number(region.top)}.."
                 f"{_number(region.bottom)}, columns {_number(region.left)}.."
                 f"{_number(region.right)}: a {region.height} x {region.width} region of the "
                 f"{size} x {size} input; neighbouring units are {_number(jump)} pixel(s) "
                 "apart (the jump). ")
    elif field is not None and field.whole:
        text += "Every unit of this layer sees the whole image. "
    elif field is not None and field.note:
        text += f"Its receptive field is not known: {html.escape(field.note)}. "
    if scene.maps is not None and scene.maps.dim() == 3:
        channels = row.out_shape[1] if len(row.out_shape) > 1 else len(scene.maps)
        text += f"Shown: the first {len(scene.maps)} of its {channels} feature maps."
    elif scene.maps is not None:
        text += f"Shown: its first {len(scene.maps)} outputs, one cell each."
    return text


def field_picture(scene: ModelScene) -> np.ndarray:
    """What the model is given, in a violet margin, with the centre unit's region outlined."""
    size = scene.picture.shape[-1]
    margin = max(2, size // 8)
    cell = max(1, FIELD_SIDE // (size + 2 * margin))
    picture = r.image(_framed(scene.picture, margin, cell))
    region = scene.region
    if region is not None:
        limit = (size + 2 * margin) * cell - 1

        def px(coordinate: float) -> float:  # input coordinate -> screen pixel, clipped
            return float(np.clip((coordinate + 0.5 + margin) * cell, 0, limit))

        draw = ImageDraw.Draw(picture)
        r.outline(draw, (px(region.left - 0.5), px(region.top - 0.5),
                         px(region.right + 0.5) - 1, px(region.bottom + 0.5) - 1), width=2)
        cx, cy = px(region.centre[1]), px(region.centre[0])
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=r.HIGHLIGHT)
    return np.asarray(picture)


_last_framed: list = [None, None]  # the picture framed last, and the framing


def _framed(pixels: torch.Tensor, margin: int, cell: int) -> np.ndarray:
    """``pixels`` (``(C, S, S)`` in [0, 1]) as RGB in a violet margin, enlarged ``cell``
    times; the last one is kept, since a layer change draws on the same picture again."""
    key = (id(pixels), margin, cell)
    if _last_framed[0] != key:
        rgb = r.grey(pixels[0], 0.0, 1.0) if pixels.shape[0] == 1 else (
            pixels[:3].permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
        _last_framed[:] = key, r.enlarge(r.pad_ring(rgb, margin), cell)
    return _last_framed[1]


def maps_picture(maps: torch.Tensor | None) -> np.ndarray:
    """The maps in rows of ``PER_ROW``, each from its own lowest (black) to its highest value
    (white); a flat output as one row of cells. Numpy only: a draw runs outside
    ``single_thread``, where each small torch operation would wake torch's thread pool."""
    if maps is None:
        return np.asarray(r.blank(4 * TILE, TILE, "this layer's output is not a tensor"))
    values = r.as_array(maps)
    if values.ndim == 1:
        values = values[None, None]
    elif values.ndim != 3:
        return np.asarray(r.blank(4 * TILE, TILE, f"an output of {values.ndim} dimensions"))
    count, height, width = values.shape
    shrink = -(-max(height, width) // TILE)  # big maps: the mean of shrink x shrink blocks
    if shrink > 1:
        h, w = max(1, height // shrink), max(1, width // shrink)
        values = values[:, :h * shrink, :w * shrink].reshape(count, h, shrink, w, shrink)
        values = values.mean(axis=(2, 4))
    flat = values.reshape(count, -1)
    low = flat.min(axis=1)[:, None, None]
    span = np.maximum(flat.max(axis=1)[:, None, None] - low, 1e-12)
    colours = r.grey((values - low) / span, 0.0, 1.0)
    cell = max(1, TILE // max(colours.shape[1], colours.shape[2]))
    if values.shape[:2] == (1, 1):  # a flat output: cells of 12 pixels
        cell = 12
    tiles = np.repeat(np.repeat(colours, cell, axis=1), cell, axis=2)
    return r.tile_grid(tiles, min(PER_ROW, count), 4)


def show_pictures(scene: ModelScene, field: widgets.Image, maps: widgets.Image) -> None:
    r.show(field, field_picture(scene))
    r.show(maps, maps_picture(scene.maps))


__all__ = ["caption", "field_picture", "layer_options", "layout", "maps_picture",
           "show_pictures", "table"]
