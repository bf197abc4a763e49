"""Pictures for ModelExplorer: a file's bytes decoded, a built-in picture, and any picture made
into a model's input.

``decode(data, name)`` reads PNG or JPEG bytes of any size, colour or grey, 8 or 16 bits, with
or without transparency, into a ``Picture``: floats in [0, 1], shape ``(C, H, W)`` with C 1
or 3, and a note of what was changed on the way (a huge photo shrunk, transparency flattened
onto white). Bytes that are not such an image give a ``ValueError`` that says so.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

LARGEST = 1024  # a picture's longer side is shrunk to this on loading
FORMATS = ("PNG", "JPEG")


@dataclass(frozen=True, eq=False)
class Picture:
    """An image in [0, 1], ``(C, H, W)`` with C 1 (grey) or 3 (RGB), and what loading it
    changed."""

    pixels: torch.Tensor
    note: str = ""


def decode(data: bytes, name: str = "your file") -> Picture:
    """The picture in PNG or JPEG ``data`` (see the module's docstring)."""
    if not data:
        raise ValueError(f"upload: {name!r} is empty; upload a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(bytes(data)))
            kind = picture.format
            if kind not in FORMATS:
                raise ValueError(f"upload: {name!r} is a {kind} image; upload a PNG or JPEG")
            width, height = picture.size
            if kind == "JPEG":  # let the decoder shrink a big photo by up to 8 as it reads
                picture.draft("RGB" if picture.mode != "L" else "L", (LARGEST, LARGEST))
            picture.load()
    except (UnidentifiedImageError, Image.DecompressionBombWarning,
            Image.DecompressionBombError, OSError, SyntaxError) as err:
        reason = ("it is not a PNG or JPEG image" if isinstance(err, UnidentifiedImageError)
                  else f"it cannot be read ({err})")
        raise ValueError(f"upload: {name!r}: {reason}; upload a PNG or JPEG file") from None
    notes = []
    if max(picture.size) > LARGEST:
        picture.thumbnail((LARGEST, LARGEST), Image.Resampling.BOX)
    if (width, height) != picture.size:
        notes.append(f"{name} is {width} x {height} pixels: it was shrunk to "
                     f"{picture.width} x {picture.height} on loading")
    pixels, changed = _as_floats(picture)
    if changed:
        notes.append(f"{name}: {changed}")
    return Picture(torch.from_numpy(pixels), "; ".join(notes))


def _as_floats(picture: Image.Image) -> tuple[np.ndarray, str]:
    """``(C, H, W)`` floats in [0, 1] from any PIL mode, and what was changed, if anything."""
    mode, changed = picture.mode, ""
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) grey
        values = np.asarray(picture, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        return (np.clip(values / top, 0, 1)[None]).astype(np.float32), ""
    if mode == "F":
        values = np.asarray(picture, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        return ((values - low) / (high - low or 1.0))[None].astype(np.float32), ""
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in picture.info):
        rgba = np.asarray(picture.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3:]
        if (alpha < 1).any():
            changed = "its transparent parts were put on white"
        rgb = rgba[..., :3] * alpha + (1 - alpha)
        if mode == "LA":
            return rgb[..., :1].transpose(2, 0, 1).copy(), changed
        return rgb.transpose(2, 0, 1).copy(), changed
    if mode in ("1", "L"):
        return (np.asarray(picture.convert("L"), dtype=np.float32) / 255)[None], ""
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255  # RGB, CMYK, YCbCr, P
    return rgb.transpose(2, 0, 1).copy(), changed


@lru_cache(maxsize=1)
def builtin_picture(side: int = 256) -> Picture:
    """A small street scene drawn with numpy: a sky, a sun, a house with a striped roof and
    windows, a checkered path on grass; edges of every direction and several colours."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rgb = np.empty((3, side, side), dtype=np.float32)
    rgb[0], rgb[1], rgb[2] = 0.45 + 0.3 * y, 0.65 + 0.2 * y, 0.95 - 0.1 * y  # the sky
    ground = y > 0.68
    rgb[:, ground] = np.array([0.25, 0.6, 0.2])[:, None] + 0.1 * np.sin(x[ground] * 90)
    sun = (x - 0.8) ** 2 + (y - 0.18) ** 2 < 0.09 ** 2
    rgb[:, sun] = np.array([1.0, 0.85, 0.2])[:, None]
    wall = (x > 0.18) & (x < 0.58) & (y > 0.42) & (y <= 0.72)
    rgb[:, wall] = np.array([0.85, 0.75, 0.6])[:, None]
    roof = (y > 0.22) & (y <= 0.42) & (abs(x - 0.38) < (y - 0.22) * 1.25)
    stripes = ((y * 40).astype(int) % 2 == 0)
    rgb[:, roof] = np.where(stripes[roof], 0.55, 0.75) * np.array([1.0, 0.3, 0.25])[:, None]
    for left in (0.23, 0.43):  # two windows, each cut in four panes
        window = (x > left) & (x < left + 0.1) & (y > 0.48) & (y < 0.58)
        rgb[:, window] = np.array([0.2, 0.35, 0.6])[:, None]
        bars = window & ((abs(x - left - 0.05) < 0.006) | (abs(y - 0.53) < 0.006))
        rgb[:, bars] = 0.95
    door = (x > 0.33) & (x < 0.43) & (y > 0.6) & (y <= 0.72)
    rgb[:, door] = np.array([0.4, 0.22, 0.1])[:, None]
    path = ground & (abs(x - 0.38) < 0.05 + (y - 0.72) * 0.6)
    checks = ((x * 24).astype(int) + (y * 24).astype(int)) % 2 == 0
    rgb[:, path] = np.where(checks[path], 0.9, 0.55)
    return Picture(torch.from_numpy(np.clip(rgb, 0, 1)))


def model_input(pixels: torch.Tensor, channels: int, size: int) -> tuple[torch.Tensor, str]:
    """``pixels`` (``(C, H, W)`` in [0, 1]) made ``(channels, size, size)``: the shorter side
    resized to ``size`` and the centre square cut out, colour made grey (or grey repeated) to
    match ``channels``; and a note of what was done."""
    c, height, width = pixels.shape
    notes = []
    if c != channels:
        if channels == 1:
            pixels = (pixels * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(
                0, keepdim=True) if c == 3 else pixels.mean(0, keepdim=True)
            notes.append("made grey (the model reads 1 channel)")
        elif c == 1:
            pixels = pixels.expand(channels, height, width)
            notes.append(f"its grey repeated in {channels} channels (the model reads {channels})")
        else:
            pixels = pixels.mean(0, keepdim=True).expand(channels, height, width)
            notes.append(f"its mean grey repeated in {channels} channels (the model reads "
                         f"{channels})")
    scale = size / min(height, width)
    new = (max(size, round(height * scale)), max(size, round(width * scale)))
    if new != (height, width):
        pixels = F.interpolate(pixels[None], size=new, mode="bilinear", antialias=scale < 1,
                               align_corners=False)[0].clamp(0, 1)
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    if height != width:
        notes.append("its centre square cut out")
    return pixels[:, top:top + size, left:left + size].contiguous(), ", ".join(notes)


__all__ = ["Picture", "builtin_picture", "decode", "model_input"]
