"""LossExplorer: each loss as a curve over the error (or margin), with its gradient at a point.

The gradient is what training follows: MSE pushes hard on big errors and gently on small ones,
MAE pushes with the same force everywhere, Huber is MSE near zero and MAE far out. Hinge stops
caring once the margin passes 1; cross-entropy never quite stops.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch

from cnncourse import losses
from cnncourse.colours import LINES, hex_colour

from .base import Explorer

REGRESSION = ("MSE", "MAE", "Huber")
CLASSIFICATION = ("hinge", "cross-entropy")
# The curves shown together (one kind) differ for colour-blind eyes too, and from the orange
# tangent; the legend names each.
COLOURS = {"MSE": hex_colour(LINES[0]), "MAE": hex_colour(LINES[5]), "Huber": hex_colour(LINES[4]),
           "hinge": hex_colour(LINES[5]), "cross-entropy": hex_colour(LINES[0])}
TANGENT = hex_colour(LINES[1])
SPAN = 3.0
CURVE_POINTS = 121


def _loss(name: str, x: torch.Tensor, delta: float) -> torch.Tensor:
    """The engine's loss for one error (or margin) ``x``, a 1-element tensor.

    Regression: one prediction ``x`` against target 0. Classification: two classes, logits
    ``(x, 0)`` with class 0 right, so ``x`` is the margin of the right class.
    """
    if name in REGRESSION:
        target = torch.zeros_like(x)
        if name == "MSE":
            return losses.mse(x, target)
        if name == "MAE":
            return losses.mae(x, target)
        return losses.huber(x, target, delta=delta)
    if name in CLASSIFICATION:
        logits = torch.stack([x, torch.zeros_like(x)], dim=1)
        target = torch.zeros(1, dtype=torch.long)
        fn = losses.hinge if name == "hinge" else losses.cross_entropy
        return fn(logits, target)
    raise ValueError(f"loss must be one of {', '.join(REGRESSION + CLASSIFICATION)}, got {name!r}")


def loss_and_gradient(name: str, x: float, delta: float = 1.0) -> tuple[float, float]:
    """The loss at error (or margin) ``x`` and its derivative there, by autograd."""
    point = torch.tensor([float(x)], dtype=torch.float64, requires_grad=True)
    loss = _loss(name, point, delta)
    loss.backward()
    return loss.item(), point.grad.item()


@lru_cache(maxsize=64)
def curve(name: str, delta: float) -> tuple[float, ...]:
    """The engine's loss at ``CURVE_POINTS`` errors from -3 to 3, each point on its own.

    ``torch.func.vmap`` runs the engine's function once over all points as if one at a time;
    should it ever refuse, a plain loop gives the same numbers.
    """
    points = torch.linspace(-SPAN, SPAN, CURVE_POINTS, dtype=torch.float64)
    with torch.no_grad():
        try:
            values = torch.func.vmap(lambda p: _loss(name, p, delta))(points[:, None])
        except (RuntimeError, ValueError):
            values = torch.stack([_loss(name, points[i:i + 1], delta)
                                  for i in range(len(points))])
    return tuple(values.tolist())


@dataclass(frozen=True)
class LossSettings:
    loss: str
    delta: float
    point: float
    compare: bool


@dataclass(frozen=True)
class LossScene:
    """The chosen loss at the point, its slope there, and the curves to draw."""

    settings: LossSettings
    value: float
    slope: float
    curves: tuple[tuple[str, tuple[float, ...]], ...]  # (loss, values), the chosen one first
    top: float  # the highest value of the curves shown
    x_label: str
    gradient_of: str  # what the slope is the derivative of
    explanation: str  # HTML


class LossExplorer(Explorer):
    """Regression and classification losses, their curves and the gradient at a movable point."""

    title = "Losses: the curve a model slides down, and the slope at one point"

    def __init__(self) -> None:
        super().__init__()
        c = {
            "loss": widgets.Dropdown(options=REGRESSION + CLASSIFICATION, value="MSE",
                                     description="loss"),
            "delta": widgets.FloatSlider(1.0, min=0.1, max=3.0, step=0.1,
                                         description="Huber delta"),
            "point": widgets.FloatSlider(1.5, min=-SPAN, max=SPAN, step=0.05,
                                         description="point"),
            "compare": widgets.Checkbox(True, description="show the other losses of this kind"),
        }
        self.x_scale = bq.LinearScale(min=-SPAN, max=SPAN)
        self.y_scale = bq.LinearScale()
        scales = {"x": self.x_scale, "y": self.y_scale}
        xs = np.linspace(-SPAN, SPAN, CURVE_POINTS)
        self.curves = {name: bq.Lines(x=xs, y=np.zeros_like(xs), scales=scales,
                                      colors=[COLOURS[name]], labels=[name], display_legend=True)
                       for name in COLOURS}
        self.tangent = bq.Lines(x=[0, 1], y=[0, 0], scales=scales, colors=[TANGENT],
                                stroke_width=3)
        self.dot = bq.Scatter(x=[0], y=[0], scales=scales, colors=[TANGENT],
                              default_size=80)
        self.x_axis = bq.Axis(scale=self.x_scale, label="error")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="loss")
        # No hover toolbar (pan, zoom, save): only a mouse reaches it; the controls set the view.
        self.figure = bq.Figure(
            marks=[*self.curves.values(), self.tangent, self.dot],
            axes=[self.x_axis, self.y_axis], legend_location="top",
            fig_margin={"top": 30, "bottom": 45, "left": 55, "right": 20},
            display_toolbar=False, layout=widgets.Layout(width="560px", height="360px"))
        self.readout = widgets.HTML()
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([self.figure, self.readout])
        self._assemble(c, controls_box, body)

    def settings(self) -> LossSettings:
        v = {name: w.value for name, w in self.controls.items()}
        return LossSettings(v["loss"], float(v["delta"]), float(v["point"]), v["compare"])

    def compute(self, settings: LossSettings) -> LossScene:
        name, delta, x = settings.loss, settings.delta, settings.point
        family = REGRESSION if name in REGRESSION else CLASSIFICATION
        value, slope = loss_and_gradient(name, x, delta)
        shown = [name] + [n for n in family if n != name and settings.compare]
        curves = tuple((n, curve(n, delta if n == "Huber" else 1.0)) for n in shown)
        top = max(1e-9, *(max(ys) for _, ys in curves))
        if family == REGRESSION:
            x_label, wrt = "error = prediction - target", "d loss / d prediction"
        else:
            x_label = "margin = score of the right class - score of the other"
            wrt = "d loss / d (right class's score)"
        return LossScene(settings, value, slope, curves, top, x_label, wrt,
                         _explain(name, x, delta))

    def draw(self, scene: LossScene) -> None:
        name, x = scene.settings.loss, scene.settings.point
        shown = dict(scene.curves)
        for n, line in self.curves.items():
            if n in shown:
                line.y = np.array(shown[n])
                line.opacities = [1.0 if n == name else 0.35]
                line.stroke_width = 3 if n == name else 1.5
                line.visible = True
            else:
                line.visible = False
        with self.figure.hold_sync():
            self.y_scale.min, self.y_scale.max = -0.05 * scene.top, 1.05 * scene.top
            reach = 0.8
            self.tangent.x = [x - reach, x + reach]
            self.tangent.y = [scene.value - scene.slope * reach, scene.value + scene.slope * reach]
            self.dot.x, self.dot.y = [x], [scene.value]
        self.x_axis.label = scene.x_label
        self.readout.value = (
            f"<b>{html.escape(name)}</b> at {x:+.2f}: loss <b>{scene.value:.4f}</b>, gradient "
            f"{scene.gradient_of} = <b>{scene.slope:+.4f}</b> (the orange tangent)<br><small>"
            + scene.explanation + "</small>")


def _explain(name: str, x: float, delta: float) -> str:
    if name == "MSE":
        return "MSE = e&sup2;: the gradient 2e grows with the error, so outliers dominate."
    if name == "MAE":
        note = " At exactly 0 there is a kink; autograd reports 0 there." if x == 0 else ""
        return "MAE = |e|: the gradient is &plusmn;1 whatever the size of the error." + note
    if name == "Huber":
        part = "quadratic" if abs(x) <= delta else "linear"
        return (f"Huber: e&sup2;/2 inside |e| &le; {delta:g}, then linear with slope "
                f"&plusmn;{delta:g}; this point is in the {part} part.")
    if name == "hinge":
        return ("Multi-class hinge (2 classes): max(0, 1 - margin) / 2, zero once the right "
                "class leads by 1, so confident right answers stop pulling.")
    return ("Cross-entropy (2 classes): log(1 + e^-margin); the gradient shrinks but never "
            "reaches zero, so it keeps pushing the margin up.")


__all__ = ["LossExplorer", "LossScene", "LossSettings", "curve", "loss_and_gradient"]
