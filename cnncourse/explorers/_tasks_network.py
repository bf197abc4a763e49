"""Try-this tasks of NetworkExplorer: what one dot product of the lesson CNN multiplies, where
its window falls on padding, and what a ReLU leaves. Every answer is read from the scene."""

from __future__ import annotations

from ._task import Task, task
from ._tasks_conv import yes_no


def _numbers(scene, _):
    w = scene.conv
    c_in, k = w.window.shape[0], w.window.shape[-1]
    return str(w.window.numel()), (f"{scene.settings.layer} reads {c_in} maps through a "
                                   f"{k}x{k} kernel: {c_in} x {k * k} = {w.window.numel()} "
                                   "products, summed into one number")


def _on_padding(scene, _):
    w, (_, height, width) = scene.conv, scene.source.shape
    k = w.window.shape[-1]
    inside = sum(1 for i in range(k) for j in range(k)
                 if 0 <= w.top + i < height and 0 <= w.left + j < width)
    return str(k * k - inside), (f"the window covers rows {w.top}..{w.top + k - 1} and columns "
                                 f"{w.left}..{w.left + k - 1}; only {inside} of its {k * k} "
                                 "pixels lie on the digit, the rest on the zero padding")


def _negative(scene, _):
    low = float(scene.maps[scene.settings.layer].min())
    return yes_no(low < 0), (f"the smallest value in {scene.settings.layer}'s maps is "
                             f"{low:.3f}: its ReLU turns every negative sum into 0")


START = {"example": 0, "channel": 0, "position": 0, "in_channel": 0}

NETWORK = (
    task("Layer block2 reads block1's 8 maps with a 3x3 kernel. How many products does one "
         "of its output values add up?", ("9", "72", "144"), {**START, "layer": "block2"},
         _numbers),
    task("block1's 5x5 kernel, padding 2, at position 0 (the top-left unit): how many of the "
         "window's 25 pixels fall on the zero padding?", ("0", "9", "16"),
         {**START, "layer": "block1"}, _on_padding),
    task("Can any value in block3's feature maps be negative?", ("yes", "no"),
         {**START, "layer": "block3"}, _negative),
)

TASKS: dict[str, tuple[Task, ...]] = {"NetworkExplorer": NETWORK}
