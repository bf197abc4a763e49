"""Default pictures for explorers: MNIST digits when present, and small built-in images.

Explorers must open with no arguments and no network. ``digits()`` asks
``cnncourse.data.load_mnist`` (which finds MNIST or its own offline fallback); if even that is
unavailable, a few digits drawn with a font stand in. The built-in images are made here with a
few lines of numpy, so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

SIZE = 28


@dataclass(frozen=True)
class Digits:
    """A set of 28x28 digits: ``images`` float in [0, 1], shape ``(N, 28, 28)``."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str


@lru_cache(maxsize=1)
def lesson_data():
    """``cnncourse.data.load_mnist()``, loaded once per session (MNIST or its fallback)."""
    from cnncourse.data import load_mnist

    return load_mnist()


@lru_cache(maxsize=1)
def digits() -> Digits:
    """The validation digits of :func:`lesson_data`, or digits drawn with a font without it."""
    try:
        data = lesson_data()
        images = torch.as_tensor(data.valid_x)
        labels = torch.as_tensor(data.valid_y)
        source = str(getattr(data, "source", "MNIST"))
    except Exception:  # noqa: BLE001 - any failure: fall back to drawn digits
        return _drawn_digits()
    return as_digits(images, labels, source)


def as_digits(images, labels=None, source: str = "your images") -> Digits:
    """Digits from ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` images, uint8 or float."""
    images = torch.as_tensor(images)
    if images.dim() == 4:
        images = images[:, 0]
    if images.dim() == 2:
        images = images[None]
    if images.dim() != 3 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W) with N >= 1, got "
                         f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        images = images.float() / 255
    else:
        images = images.float()
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 1:  # normalised data: bring it back to [0, 1] for display
            images = (images - low) / max(high - low, 1e-12)
    if labels is None:
        labels = torch.full((images.shape[0],), -1)
    return Digits(images, torch.as_tensor(labels).long(), source)


def _drawn_digits() -> Digits:
    pictures = []
    for d in range(10):
        canvas = Image.new("L", (SIZE, SIZE), 0)
        ImageDraw.Draw(canvas).text((SIZE / 2, SIZE / 2), str(d), fill=255,
                                    font=ImageFont.load_default(size=22), anchor="mm")
        pictures.append(torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255))
    return Digits(torch.stack(pictures), torch.arange(10), "digits drawn with a font (offline)")


def _grid() -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


@lru_cache(maxsize=1)
def builtin_images() -> dict[str, torch.Tensor]:
    """Small test pictures, 28x28 in [0, 1], each showing edges of a known direction."""
    y, x = _grid()
    c = (SIZE - 1) / 2
    pictures = {
        "square": ((abs(x - c) < 8) & (abs(y - c) < 8)),
        "circle": ((x - c) ** 2 + (y - c) ** 2 < 81),
        "stripes": ((x // 4) % 2 == 0),
        "checkerboard": (((x // 7) + (y // 7)) % 2 == 0),
        "diagonal": (x > y),
        "gradient": x / (SIZE - 1),
    }
    return {name: torch.from_numpy(np.asarray(p, dtype=np.float32)) for name, p in pictures.items()}


@lru_cache(maxsize=1)
def rgb_images() -> dict[str, torch.Tensor]:
    """Colour test pictures, ``(3, 32, 32)`` in [0, 1], where each channel tells a story."""
    n = 32
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    c = (n - 1) / 2
    # Three shapes, one per primary colour, on a dark background.
    shapes = np.zeros((3, n, n), dtype=np.float32)
    shapes[0] = (x - 10) ** 2 + (y - 10) ** 2 < 49  # red disc
    shapes[1] = (abs(x - 22) < 6) & (abs(y - 10) < 6)  # green square
    shapes[2] = (y > 16) & (abs(x - c) < (y - 16))  # blue triangle
    # A yellow (red + green) bar crossing a blue-to-white ramp.
    ramp = np.stack([x / (n - 1), x / (n - 1), np.ones_like(x)])
    bar = (abs(y - c) < 4).astype(np.float32)
    ramp[0] = np.maximum(ramp[0], bar)
    ramp[1] = np.maximum(ramp[1], bar)
    ramp[2] = ramp[2] * (1 - bar)
    # A colour wheel: hue goes round, so every channel peaks in a different direction.
    angle = np.arctan2(y - c, x - c)
    wheel = np.stack([np.cos(angle - shift) for shift in (0, 2.094, 4.189)]) * 0.5 + 0.5
    wheel *= ((x - c) ** 2 + (y - c) ** 2 < c**2)
    pictures = {"shapes": shapes, "ramp and bar": ramp, "colour wheel": wheel}
    return {name: torch.from_numpy(np.ascontiguousarray(p, dtype=np.float32))
            for name, p in pictures.items()}


__all__ = ["Digits", "as_digits", "builtin_images", "digits", "lesson_data", "rgb_images"]
