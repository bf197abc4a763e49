"""Colours that readers with colour-blind eyes can tell apart, and the check that says so.

Every picture and plot of the course takes its meaningful colours from here. No pair of them
relies on red against green: about one man in twelve sees those two alike. Opposites (negative
and positive, held and not held) are blue and red-orange, which differ in lightness and on
the blue-yellow axis that every common form of colour blindness keeps; lines of a plot use
the Okabe-Ito palette; sequential maps are viridis-like. Meaning never rests on colour alone
either: results say "held" or "did not hold" with a mark, curves have legends, cells numbers.

``simulate(rgb, kind)`` shows a colour as a protanope, deuteranope or tritanope sees it
(Machado, Oliveira and Fernandes 2009, severity 1); ``distance`` is the CIE 1976 colour
difference, where about 2.3 is just noticeable and 10 or more is plain at a glance.
"""

from __future__ import annotations

import numpy as np

RGB = tuple[int, int, int]

# Opposites: the ends of the diverging map (with white between), and a check's two results.
NEGATIVE: RGB = (59, 76, 192)  # blue
ZERO: RGB = (247, 247, 247)
POSITIVE: RGB = (180, 4, 38)  # deep red: darker than the blue is light under every deficiency
HELD: RGB = (0, 114, 178)  # Okabe-Ito blue, with a tick
NOT_HELD: RGB = (213, 94, 0)  # Okabe-Ito vermillion, with a cross

# Lines of one plot (Okabe-Ito): blue, orange, sky blue, vermillion, reddish purple, black.
LINES: tuple[RGB, ...] = ((0, 114, 178), (230, 159, 0), (86, 180, 233), (213, 94, 0),
                          (204, 121, 167), (0, 0, 0))
GREY: RGB = (153, 153, 153)  # planned or secondary lines


def hex_colour(rgb: RGB) -> str:
    """``(0, 114, 178)`` -> ``"#0072b2"``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


MACHADO_2009 = {  # severity 1.0, applied to linear RGB
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.303900)),
}


def _linear(rgb) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _encoded(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0, 1)
    return 255 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate(rgb, kind: str) -> np.ndarray:
    """How ``rgb`` (0-255) looks with ``kind`` colour blindness: ``"protanopia"``,
    ``"deuteranopia"``, ``"tritanopia"`` (or ``"normal"``)."""
    if kind == "normal":
        return np.asarray(rgb, dtype=np.float64)
    if kind not in MACHADO_2009:
        raise ValueError(f"kind must be 'normal' or one of {sorted(MACHADO_2009)}, got {kind!r}")
    return _encoded(np.asarray(MACHADO_2009[kind]) @ _linear(rgb))


def lab(rgb) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour, 0-255."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ _linear(rgb)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def distance(a, b, kind: str = "normal") -> float:
    """The colour difference (CIE 1976 delta E) of ``a`` and ``b`` as ``kind`` eyes see them."""
    return float(np.linalg.norm(lab(simulate(a, kind)) - lab(simulate(b, kind))))


KINDS = ("normal", *MACHADO_2009)

__all__ = ["GREY", "HELD", "KINDS", "LINES", "NEGATIVE", "NOT_HELD", "POSITIVE", "ZERO",
           "distance", "hex_colour", "lab", "simulate"]
