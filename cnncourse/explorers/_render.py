"""Fast pictures for explorers: numpy arrays -> coloured, enlarged PIL images -> PNG bytes.

Re-rendering a matplotlib figure costs tens of milliseconds; painting a small array with PIL
and encoding it costs about one. Every explorer picture goes through here.
"""

from __future__ import annotations

import colorsys
import io
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from cnncourse.colours import NEGATIVE, POSITIVE, ZERO

GRID = (200, 200, 200)
PADDING = (235, 225, 250)  # the zero ring added by padding: pale violet
HIGHLIGHT = (255, 140, 0)  # orange: the window or region under discussion
MUTED = (225, 225, 225)  # structural zeros, unused cells
INK = (30, 30, 30)

# Diverging colour map: negative blue, zero white, positive deep red (no red-green pair: the
# two ends differ in lightness and on the blue-yellow axis, see cnncourse.colours).
_BLUE = np.array(NEGATIVE, dtype=np.float32)
_WHITE = np.array(ZERO, dtype=np.float32)
_RED = np.array(POSITIVE, dtype=np.float32)


def as_array(values) -> np.ndarray:
    """A float32 numpy array from a tensor or array-like, with NaN and inf made finite."""
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(values, dtype=np.float32)
    return np.nan_to_num(array, nan=0.0, posinf=np.finfo(np.float32).max,
                         neginf=-np.finfo(np.float32).max)


def grey(values, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Grey levels (black = ``vmin``, white = ``vmax``) as an ``(H, W, 3)`` uint8 array."""
    a = as_array(values)
    lo = float(a.min()) if vmin is None else vmin
    hi = float(a.max()) if vmax is None else vmax
    span = hi - lo if hi > lo else 1.0
    level = np.clip((a.astype(np.float64) - lo) / span, 0, 1) * 255
    return np.repeat(level.astype(np.uint8)[..., None], 3, axis=-1)


def diverging(values, limit: float | None = None) -> np.ndarray:
    """Blue for negative, white for zero, red for positive; ``limit`` maps to full colour."""
    a = as_array(values).astype(np.float64)
    top = float(np.abs(a).max()) if limit is None else limit
    t = np.clip(a / top, -1, 1)[..., None] if top > 0 else np.zeros((*a.shape, 1))
    rgb = np.where(t < 0, _WHITE + (_BLUE - _WHITE) * -t, _WHITE + (_RED - _WHITE) * t)
    return rgb.astype(np.uint8)


# Sequential colour map for counts: viridis's anchors, dark violet to yellow, lighter all the
# way (readable in grey and by colour-blind eyes).
_HEAT = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                 dtype=np.float32)


def heat(values, vmax: float | None = None) -> np.ndarray:
    """Dark for 0 through yellow for ``vmax`` (default: the largest value)."""
    a = as_array(values).astype(np.float64)
    top = float(a.max()) if vmax is None else vmax
    t = np.clip(a / top, 0, 1) if top > 0 else np.zeros_like(a)
    position = t * (len(_HEAT) - 1)
    low = np.floor(position).astype(int).clip(0, len(_HEAT) - 2)
    frac = (position - low)[..., None]
    return (_HEAT[low] * (1 - frac) + _HEAT[low + 1] * frac).astype(np.uint8)


def palette(n: int) -> list[tuple[int, int, int]]:
    """``n`` clearly different colours (one per kernel position, say)."""
    colours = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.55, 0.95)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def enlarge(rgb: np.ndarray, cell: int, grid: tuple[int, int, int] | None = None) -> np.ndarray:
    """Each array entry becomes a ``cell`` x ``cell`` square, optionally with grid lines
    (then the picture is one pixel wider and taller, to close the last line)."""
    h, w = rgb.shape[:2]
    block = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    if grid is None or cell < 4:
        return block
    big = np.empty((h * cell + 1, w * cell + 1, 3), dtype=np.uint8)
    big[:-1, :-1] = block
    big[::cell, :] = grid
    big[:, ::cell] = grid
    return big


def tile_grid(tiles: np.ndarray, per_row: int, gap: int,
              background=(255, 255, 255)) -> np.ndarray:
    """``(N, H, W, 3)`` tiles in rows of ``per_row``, ``gap`` pixels apart."""
    count, height, width = tiles.shape[:3]
    rows = -(-count // per_row)
    padded = np.empty((rows * per_row, height + gap, width + gap, 3), dtype=np.uint8)
    padded[:] = background
    padded[:count, :height, :width] = tiles
    grid = padded.reshape(rows, per_row, height + gap, width + gap, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid.reshape(rows * (height + gap), per_row * (width + gap), 3))


def frame(picture: np.ndarray, box: tuple[int, int, int, int], colour=HIGHLIGHT,
          width: int = 1) -> None:
    """Outline the pixels ``x0..x1, y0..y1`` (inclusive, clipped) of an ``(H, W, 3)`` array."""
    height, wide = picture.shape[:2]
    x0, y0, x1, y1 = (max(box[0], 0), max(box[1], 0), min(box[2], wide - 1),
                      min(box[3], height - 1))
    if x0 > x1 or y0 > y1:
        return
    picture[y0:y0 + width, x0:x1 + 1] = colour
    picture[y1 - width + 1:y1 + 1, x0:x1 + 1] = colour
    picture[y0:y1 + 1, x0:x0 + width] = colour
    picture[y0:y1 + 1, x1 - width + 1:x1 + 1] = colour


def pad_ring(rgb: np.ndarray, padding: int, colour=PADDING) -> np.ndarray:
    """``rgb`` with a ring of ``padding`` cells of ``colour`` around it."""
    if padding <= 0:
        return rgb
    h, w = rgb.shape[:2]
    framed = np.empty((h + 2 * padding, w + 2 * padding, 3), dtype=np.uint8)
    framed[:] = colour
    framed[padding:padding + h, padding:padding + w] = rgb
    return framed


def image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def to_png(picture: Image.Image | np.ndarray) -> bytes:
    """PNG bytes of a PIL image or an ``(H, W, 3)`` uint8 array (fast, light compression:
    run-length zlib suits flat colours and enlarged pixels)."""
    if isinstance(picture, np.ndarray):
        picture = image(picture)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1, compress_type=3)
    return buffer.getvalue()


PIXELATED = "cnncourse-pixelated"
STYLE = ("<style>.cnncourse-pixelated{image-rendering:crisp-edges;"
         "image-rendering:pixelated}</style>")
"""CSS that makes the browser enlarge explorer pictures as crisp squares, not blurred."""


def show(widget: widgets.Image, picture: Image.Image | np.ndarray, zoom: int = 1) -> None:
    """Put ``picture`` into an Image widget, displayed ``zoom`` times larger by the browser.

    Encoding is most of the cost of a redraw, so pictures are drawn small and enlarged on
    screen; a picture identical to the one shown is not encoded again.
    """
    if isinstance(picture, np.ndarray):
        picture = image(picture)
    key = (picture.size, picture.mode, hash(picture.tobytes()))
    width = str(picture.width * zoom)
    if getattr(widget, "_cnncourse_key", None) != key:
        widget.value = to_png(picture)
        widget._cnncourse_key = key
    if widget.width != width:
        widget.width = width


@lru_cache(maxsize=16)
def font(size: int = 12) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def number(value: float) -> str:
    """A short label for a cell: integers without decimals, others with up to two."""
    if abs(value - round(value)) < 1e-6:
        return str(int(round(value)))
    text = f"{value:.2f}".rstrip("0")
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


@lru_cache(maxsize=4096)
def _glyphs(text: str, size: int) -> tuple[Image.Image, np.ndarray, int, int]:
    """``text`` rendered once as a coverage mask (as an image and as floats in [0, 1]), with
    the mask's offset from the text centre. Blending a cached mask is far cheaper than
    rendering the glyphs again."""
    f = font(size)
    left, top, right, bottom = f.getbbox(text, anchor="mm")
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=f, fill=255, anchor="mm")
    coverage = np.asarray(mask, dtype=np.float32)[..., None] / 255
    return mask, coverage, left, top


def write(picture: Image.Image | np.ndarray, centre: tuple[float, float], text: str,
          size: int = 12, fill: tuple[int, int, int] = INK) -> None:
    """Text centred on ``centre``, onto a PIL image or (faster) an ``(H, W, 3)`` uint8 array."""
    mask, coverage, left, top = _glyphs(text, size)
    x, y = int(round(centre[0])) + left, int(round(centre[1])) + top
    if type(picture) is not np.ndarray:  # a PIL image
        picture.paste(tuple(int(v) for v in fill), (x, y, x + mask.width, y + mask.height),
                      mask)
        return
    height, width = picture.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + mask.width, width), min(y + mask.height, height)
    if x0 >= x1 or y0 >= y1:
        return
    region = picture[y0:y1, x0:x1]
    if (x0, y0, x1, y1) == (x, y, x + mask.width, y + mask.height) and (
            region == region[0, 0]).all():  # a flat background: stamp a cached patch
        region[:] = _patch(text, size, bytes(fill), region[0, 0].tobytes())
        return
    a = coverage[y0 - y:y1 - y, x0 - x:x1 - x]
    region[:] = region * (1 - a) + np.asarray(fill, dtype=np.float32) * a


@lru_cache(maxsize=4096)
def _patch(text: str, size: int, fill: bytes, background: bytes) -> np.ndarray:
    """``text`` in ``fill`` on a flat ``background`` (RGB bytes), blended once."""
    coverage = _glyphs(text, size)[1]
    blend = (np.frombuffer(background, dtype=np.uint8) * (1 - coverage)
             + np.frombuffer(fill, dtype=np.uint8) * coverage)
    return blend.astype(np.uint8)


def ink_for(rgb: tuple[int, int, int] | np.ndarray) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on ``rgb``."""
    r, g, b = (int(v) for v in rgb)
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def write_cells(picture: np.ndarray, values: np.ndarray, cell: int, origin=(0, 0),
                size: int | None = None) -> None:
    """Write each value of a 2-D array in the middle of its cell of an ``(H, W, 3)`` array."""
    size = size or max(8, min(14, cell // 3))
    x0, y0 = origin
    for (i, j), v in np.ndenumerate(values):
        centre = (x0 + j * cell + cell / 2, y0 + i * cell + cell / 2)
        background = picture[int(y0 + i * cell + 2), int(centre[0])]
        write(picture, centre, number(float(v)), size, ink_for(background))


def outline(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float],
            colour=HIGHLIGHT, width: int = 3) -> None:
    draw.rectangle(box, outline=colour, width=width)


def beside(pictures: list[Image.Image | np.ndarray], gap: int = 12,
           background=(255, 255, 255)) -> np.ndarray:
    """Pictures (PIL images or ``(H, W, 3)`` arrays) side by side, top-aligned."""
    arrays = [np.asarray(p) for p in pictures]
    width = sum(a.shape[1] for a in arrays) + gap * (len(arrays) - 1)
    height = max(a.shape[0] for a in arrays)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = background
    x = 0
    for a in arrays:
        canvas[:a.shape[0], x:x + a.shape[1]] = a
        x += a.shape[1] + gap
    return canvas


def blank(width: int, height: int, text: str = "") -> Image.Image:
    """A light grey placeholder, shown where a picture cannot be drawn."""
    picture = Image.new("RGB", (width, height), (245, 245, 245))
    if text:
        write(picture, (width / 2, height / 2), text, 14, (120, 120, 120))
    return picture


def image_widget() -> widgets.Image:
    """An Image widget for :func:`show`, enlarged with crisp pixels."""
    widget = widgets.Image(format="png")
    widget.add_class(PIXELATED)
    return widget


def captioned(caption: widgets.HTML | str, picture: widgets.Widget) -> widgets.VBox:
    label = widgets.HTML(caption) if isinstance(caption, str) else caption
    return widgets.VBox([label, picture])





def feature_maps(acts: torch.Tensor, channel: int, row: int, col: int) -> np.ndarray:
    """Every map of one layer in a grid, each on its own scale (so weak maps still show
    their pattern); the selected map outlined in orange, its unit in blue."""
    count, height, width = acts.shape
    cell = max(2, 42 // max(height, width))
    per_row, gap = 8, 3
    values = as_array(acts)
    tops = np.abs(values).reshape(count, -1).max(axis=1)
    scaled = values / np.where(tops > 0, tops, 1.0)[:, None, None]
    colours = diverging(scaled, 1.0) if values.min() < 0 else grey(scaled, 0.0, 1.0)
    tiles = np.repeat(np.repeat(colours, cell, axis=1), cell, axis=2)
    picture = tile_grid(tiles, per_row, gap)
    x = (channel % per_row) * (width * cell + gap)
    y = (channel // per_row) * (height * cell + gap)
    frame(picture, (x - 1, y - 1, x + width * cell, y + height * cell))
    frame(picture, (x + col * cell, y + row * cell, x + (col + 1) * cell - 1,
                    y + (row + 1) * cell - 1), colour=(0, 160, 255))
    return picture


__all__ = [
    "as_array", "beside", "blank", "captioned", "diverging", "enlarge", "feature_maps", "frame",
    "grey", "heat", "image", "image_widget", "ink_for", "number", "outline", "pad_ring",
    "palette", "show", "tile_grid", "to_png", "write", "write_cells",
]
