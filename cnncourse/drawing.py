"""A drawing made into an MNIST-style digit, the way the MNIST digits themselves were made.

The MNIST digits were scanned, cropped to their ink, scaled to fit a 20x20 box (keeping their
aspect ratio) and placed in a 28x28 frame so that their centre of mass sits at the centre.
A digit drawn with the mouse must go through the same steps, or the CNN sees something unlike
anything it was trained on (a tiny digit in a corner, say).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

FRAME = 28  # the MNIST image side
BOX = 20  # the side of the box the ink is scaled to fit


@dataclass(frozen=True)
class PreparedDrawing:
    """A drawing as the CNN sees it: ``image`` (28x28 uint8), and the map back to the
    drawing's pixels, ``drawing = origin + (frame - offset) / scale`` per axis (x, y)."""

    image: torch.Tensor
    scale: float
    origin: tuple[float, float]
    offset: tuple[float, float]

    def to_drawing(self, x: float, y: float) -> tuple[float, float]:
        """Where the frame's pixel (x, y) lies in the drawing."""
        return (self.origin[0] + (x - self.offset[0]) / self.scale,
                self.origin[1] + (y - self.offset[1]) / self.scale)


def prepare_drawing(drawing: torch.Tensor, threshold: int = 25) -> PreparedDrawing | None:
    """The MNIST-style 28x28 digit of ``drawing`` (uint8 ``[H, W]``, white ink on black);
    ``None`` if it holds (almost) no ink, that is fewer than 4 pixels above ``threshold``."""
    if not isinstance(drawing, torch.Tensor) or drawing.dim() != 2:
        raise ValueError("drawing must be a 2-d tensor [H, W] of pixels 0-255")
    ink = drawing > threshold
    if int(ink.sum()) < 4:
        return None
    rows, cols = ink.any(dim=1).nonzero()[:, 0], ink.any(dim=0).nonzero()[:, 0]
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1
    scale = BOX / max(bottom - top, right - left)
    width = max(1, round((right - left) * scale))
    height = max(1, round((bottom - top) * scale))
    crop = drawing[top:bottom, left:right].float()[None, None]
    small = F.interpolate(crop, size=(height, width), mode="area")[0, 0]  # box filter
    frame = torch.zeros(FRAME, FRAME)
    x0, y0 = (FRAME - width) // 2, (FRAME - height) // 2
    frame[y0:y0 + height, x0:x0 + width] = small
    # shift so that the centre of mass sits at the centre, keeping the ink inside the frame
    ys, xs = torch.meshgrid(torch.arange(float(FRAME)), torch.arange(float(FRAME)),
                            indexing="ij")
    mass = frame.sum()
    centre = (FRAME - 1) / 2
    dy = round(centre - float((ys * frame).sum() / mass))
    dx = round(centre - float((xs * frame).sum() / mass))
    dy = min(max(dy, -y0), FRAME - y0 - height)
    dx = min(max(dx, -x0), FRAME - x0 - width)
    frame = torch.roll(frame, shifts=(dy, dx), dims=(0, 1))
    image = frame.clamp(0, 255).round().to(torch.uint8)
    return PreparedDrawing(image, scale, (float(left), float(top)), (float(x0 + dx),
                                                                     float(y0 + dy)))


__all__ = ["PreparedDrawing", "prepare_drawing"]
