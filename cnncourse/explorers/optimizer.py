"""OptimizerExplorer: SGD, momentum and weight decay on a ravine, the path drawn step by step.

The loss (``cnncourse.optimizers.ravine``) is a long narrow valley. With plain SGD a learning
rate that suits the steep walls makes the path zig-zag across and crawl along; momentum keeps
the speed along the floor; above ``2 / steepness`` the path flies off. Weight decay moves the
minimum towards the origin. Every path is torch's own ``torch.optim.SGD``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from PIL import ImageDraw

from cnncourse.optimizers import (
    MINIMUM,
    decayed_minimum,
    descent_path,
    largest_stable_lr,
    ravine,
)

from . import _render as r
from .base import Explorer

X_RANGE, Y_RANGE = (-2.0, 5.0), (-1.5, 3.5)
PIXELS_PER_UNIT = 64
START = (-1.5, 3.0)
LRS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55)
NEAR = 0.05  # "arrived": within this distance of the minimum
PATH, PLAIN = (255, 80, 40), (230, 230, 230)


@dataclass(frozen=True)
class OptimizerSettings:
    lr: float
    momentum: float
    weight_decay: float
    steps: int
    compare: bool


@dataclass(frozen=True, eq=False)
class OptimizerScene:
    """The path SGD takes with these settings (and, to compare, without momentum or decay)."""

    settings: OptimizerSettings
    path: np.ndarray  # (steps + 1, 2)
    plain: np.ndarray | None  # the same lr, no momentum, no weight decay
    minimum: tuple[float, float]  # of the loss with weight decay
    final_loss: float  # of the ravine alone
    arrived_at: int | None  # the first step within NEAR of the minimum
    diverged: bool
    note: str


class OptimizerExplorer(Explorer):
    """Gradient descent with momentum and weight decay on a two-parameter loss."""

    title = "Optimizers: plain SGD zig-zags down a ravine; momentum glides; weight decay pulls in"

    def __init__(self) -> None:
        super().__init__()
        c = {
            "lr": widgets.SelectionSlider(options=[(f"{lr:g}", lr) for lr in LRS], value=0.4,
                                          description="lr"),
            "momentum": widgets.FloatSlider(0.0, min=0.0, max=0.95, step=0.05,
                                            description="momentum"),
            "weight_decay": widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.05,
                                                description="weight decay"),
            "steps": widgets.IntSlider(40, 5, 200, description="steps"),
            "compare": widgets.Checkbox(True, description="also plain SGD, for comparison"),
        }
        grid_x = torch.linspace(*X_RANGE, int((X_RANGE[1] - X_RANGE[0]) * PIXELS_PER_UNIT))
        grid_y = torch.linspace(Y_RANGE[1], Y_RANGE[0],
                                int((Y_RANGE[1] - Y_RANGE[0]) * PIXELS_PER_UNIT))
        ys, xs = torch.meshgrid(grid_y, grid_x, indexing="ij")
        self._surface = r.heat(torch.log1p(ravine(torch.stack([xs, ys], dim=-1))))
        self.picture = r.image_widget()
        self.caption = widgets.HTML()
        body = widgets.VBox([r.captioned(
            "the loss, dark low and yellow high (log scale); the path in orange, plain SGD in "
            "white; + the minimum (orange + with weight decay)", self.picture), self.caption])
        self._assemble(c, widgets.VBox(list(c.values())), body)

    def settings(self) -> OptimizerSettings:
        c = self.controls
        return OptimizerSettings(c["lr"].value, c["momentum"].value, c["weight_decay"].value,
                                 c["steps"].value, c["compare"].value)

    def compute(self, settings: OptimizerSettings) -> OptimizerScene:
        v = settings
        path = descent_path(START, v.lr, v.momentum, v.weight_decay, v.steps).numpy()
        plain = (descent_path(START, v.lr, steps=v.steps).numpy()
                 if v.compare and (v.momentum, v.weight_decay) != (0, 0) else None)
        minimum = decayed_minimum(v.weight_decay)
        distances = np.hypot(*(path - np.array(minimum)).T)
        near = np.nonzero(distances < NEAR)[0]
        limit = largest_stable_lr(v.momentum, v.weight_decay)
        diverged = v.lr >= limit
        final = float(ravine(torch.from_numpy(path[-1])))
        note = ""
        if diverged:
            note = (f"lr {v.lr:g} is too high for this valley: each step overshoots the steep "
                    f"walls further and the loss grows without end. With momentum "
                    f"{v.momentum:.3g} and weight decay {v.weight_decay:.3g}, SGD is stable below "
                    f"lr {limit:.3g} = 2 (1 + momentum) / (steepness + weight decay).")
        return OptimizerScene(v, path, plain, minimum, final if math.isfinite(final) else
                              math.inf, int(near[0]) if len(near) else None, diverged, note)

    def draw(self, scene: OptimizerScene) -> None:
        picture = r.image(self._surface.copy())
        pen = ImageDraw.Draw(picture)
        for path, colour in ((scene.plain, PLAIN), (scene.path, PATH)):
            if path is not None:
                points = [_pixel(p) for p in path if np.isfinite(p).all()
                          and max(abs(p[0]), abs(p[1])) < 100]
                pen.line(points, fill=colour, width=2)
                for x, y in points:
                    pen.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        for point, colour in ((MINIMUM, (255, 255, 255)), (scene.minimum, PATH)):
            x, y = _pixel(point)
            pen.line((x - 7, y, x + 7, y), fill=colour, width=2)
            pen.line((x, y - 7, x, y + 7), fill=colour, width=2)
        r.show(self.picture, picture)
        v = scene.settings
        if scene.diverged:
            self.caption.value = (f"after {v.steps} steps the loss is {scene.final_loss:.3g} "
                                  "and growing: the path is leaving the valley.")
            return
        arrived = (f"it comes within {NEAR} of the minimum at step <b>{scene.arrived_at}</b>"
                   if scene.arrived_at is not None else
                   f"it has not come within {NEAR} of the minimum yet")
        self.caption.value = (
            f"SGD with lr {v.lr:g}, momentum {v.momentum:.3g}, weight decay {v.weight_decay:.3g}: "
            f"after {v.steps} steps the loss is {scene.final_loss:.4f}; {arrived}. With weight "
            f"decay the minimum moves from ({MINIMUM[0]:g}, {MINIMUM[1]:g}) to "
            f"({scene.minimum[0]:.2f}, {scene.minimum[1]:.2f}).")

    def clear(self) -> None:
        r.show(self.picture, r.image(self._surface))
        self.caption.value = ""


def _pixel(point) -> tuple[float, float]:
    """Where ``point`` (parameter space) lands in the picture."""
    return ((float(point[0]) - X_RANGE[0]) * PIXELS_PER_UNIT,
            (Y_RANGE[1] - float(point[1])) * PIXELS_PER_UNIT)


__all__ = ["OptimizerExplorer", "OptimizerScene", "OptimizerSettings"]
