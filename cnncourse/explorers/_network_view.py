"""NetworkExplorer's pictures: the overview of every layer's maps, the class scores, and the
detail of one dot product (the window, the kernel, their products, the output map so far).

All are numpy arrays painted with :mod:`._render`; the overview rows and the scores depend on
the input only, so NetworkExplorer keeps them per input and only frames the selection.
"""

from __future__ import annotations

import numpy as np
import torch

from cnncourse.colours import LINES

from . import _render as r

PER_ROW = 16  # maps per row of the overview
TILE = 28  # the overview shows every map about this many pixels wide
GAP = 3
READ = (0, 160, 255)  # blue: the map being read
BAR, BEST = LINES[0], LINES[1]


def _colours(maps: np.ndarray) -> np.ndarray:
    """Each map on its own scale: grey for maps without negatives, else blue-white-red."""
    tops = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    scaled = maps / np.where(tops > 0, tops, 1.0)[:, None, None]
    return r.diverging(scaled, 1.0) if maps.min() < 0 else r.grey(scaled, 0.0, 1.0)


def _cell(height: int, width: int, target: int = TILE) -> int:
    return max(1, target // max(height, width))


def overview_row(maps: torch.Tensor) -> np.ndarray:
    """One layer's maps side by side (rows of PER_ROW), each enlarged to about TILE pixels."""
    values = r.as_array(maps)
    count, height, width = values.shape
    cell = _cell(height, width)
    tiles = np.repeat(np.repeat(_colours(values), cell, axis=1), cell, axis=2)
    return r.tile_grid(tiles, min(PER_ROW, count), GAP)


def tile_box(maps_shape: tuple[int, int, int], channel: int) -> tuple[int, int, int, int]:
    """Where map ``channel`` lies in its overview row: x0, y0, x1, y1 (inclusive)."""
    count, height, width = maps_shape
    cell = _cell(height, width)
    x = (channel % PER_ROW) * (width * cell + GAP)
    y = (channel // PER_ROW) * (height * cell + GAP)
    return x, y, x + width * cell - 1, y + height * cell - 1


def framed(base: np.ndarray, maps_shape, boxes: list[tuple[int, tuple]]) -> np.ndarray:
    """The overview row ``base`` with maps outlined: ``boxes`` is (channel, colour) pairs."""
    if not boxes:
        return base
    picture = np.empty((base.shape[0] + 2, base.shape[1] + 2, 3), dtype=np.uint8)
    picture[:] = 255
    picture[1:-1, 1:-1] = base
    for channel, colour in boxes:
        x0, y0, x1, y1 = tile_box(maps_shape, channel)
        r.frame(picture, (x0, y0, x1 + 2, y1 + 2), colour)
    return picture


def scores_picture(probabilities: torch.Tensor, label: int) -> np.ndarray:
    """Ten bars, one per class, the likeliest in orange; the true class underlined."""
    p = r.as_array(probabilities)
    bar, gap, tall = 22, 6, 100
    picture = np.full((tall + 34, 10 * (bar + gap) + gap, 3), 255, dtype=np.uint8)
    best = int(p.argmax())
    for i, value in enumerate(p):
        x = gap + i * (bar + gap)
        height = int(round(float(value) * tall))
        colour = BEST if i == best else BAR
        if height:
            picture[tall - height:tall, x:x + bar] = colour
        r.write(picture, (x + bar / 2, tall + 12), str(i), 13)
        if i == label:
            picture[tall + 22:tall + 25, x:x + bar] = r.INK
    picture[tall, :] = r.GRID
    return picture


def _numbers(values: torch.Tensor, cell: int, limit: float) -> np.ndarray:
    """A small grid of numbers on their colours (blue negative, red positive)."""
    a = r.as_array(values)
    picture = r.enlarge(r.diverging(a, limit if limit > 0 else 1.0), cell, r.GRID)
    r.write_cells(picture, np.round(a, 2), cell, size=11 if cell < 40 else 12)
    return picture


def read_map(source: torch.Tensor, padding: int, box: tuple[int, int, int, int],
             side: int = 180) -> np.ndarray:
    """The map the kernel reads, with its zero padding ring and the window outlined:
    ``box`` is the window's top, left, height and width in padded cells."""
    a = r.as_array(source)
    height, width = a.shape
    cell = max(3, side // (max(height, width) + 2 * padding))
    colours = r.diverging(a) if a.min() < 0 else r.grey(a, 0.0, max(float(a.max()), 1e-6))
    picture = r.enlarge(r.pad_ring(colours, padding), cell)
    top, left, tall, wide = box
    r.frame(picture, (left * cell, top * cell, (left + wide) * cell - 1,
                      (top + tall) * cell - 1), r.HIGHLIGHT, 2)
    return picture


def output_map(out: torch.Tensor, position: int, side: int = 180) -> np.ndarray:
    """The output map filled up to ``position`` (row-major), as the kernel has slid so far;
    the current unit outlined."""
    a = r.as_array(out)
    height, width = a.shape
    cell = max(3, side // max(height, width))
    colours = r.diverging(a) if a.min() < 0 else r.grey(a, 0.0, max(float(a.max()), 1e-6))
    later = np.arange(height * width).reshape(height, width) > position
    colours[later] = r.MUTED
    picture = r.enlarge(colours, cell)
    row, col = divmod(position, width)
    r.frame(picture, (col * cell, row * cell, (col + 1) * cell - 1, (row + 1) * cell - 1),
            r.HIGHLIGHT, 2)
    return picture


def detail_pictures(scene, kernel_too: bool = True) -> dict[str, np.ndarray]:
    """The selected unit's dot product, picture by picture: the map read (window outlined),
    the window, the kernel (unless ``kernel_too`` is False), the products, and the output
    map so far."""
    v, w = scene.settings, scene.conv
    k = w.kernel.shape[-1]
    cell = 34 if k <= 3 else 30
    channel = v.in_channel
    window, kernel, products = w.window[channel], w.kernel[channel], w.products[channel]
    top = w.top + scene.padding
    left = w.left + scene.padding
    pictures = {
        "read": read_map(scene.source[channel], scene.padding, (top, left, k, k)),
        "window": _numbers(window, cell, float(window.abs().max())),
        "products": _numbers(products, cell, float(products.abs().max())),
        "output": output_map(scene.conv_map, v.position),
    }
    if kernel_too:
        pictures["kernel"] = _numbers(kernel, cell, float(kernel.abs().max()))
    return pictures


__all__ = ["detail_pictures", "framed", "output_map", "overview_row", "read_map",
           "scores_picture", "tile_box"]
