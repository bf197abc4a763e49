"""OneCycleExplorer: the 1-cycle learning-rate and momentum schedule, phase by phase.

The curves come from ``schedules.one_cycle``, which gives the same numbers as torch's
``OneCycleLR``. Learning rate warms up to ``max_lr`` while momentum falls, then anneals to
almost nothing while momentum climbs back.
"""

from __future__ import annotations

from dataclasses import dataclass

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from cnncourse.colours import GREY, LINES, hex_colour
from cnncourse.schedules import one_cycle, phase_ends

from .base import Explorer

LR_COLOUR, MOM_COLOUR, PHASE_COLOUR = (hex_colour(c) for c in (LINES[0], LINES[3], GREY))


@dataclass(frozen=True)
class OneCycleSettings:
    """``one_cycle``'s arguments, and how to draw the learning rate."""

    max_lr: float
    total_steps: int
    pct_start: float
    div_factor: float
    final_div_factor: float
    base_momentum: float
    max_momentum: float
    anneal_strategy: str
    three_phase: bool
    log_scale: bool


@dataclass(frozen=True)
class OneCycleScene:
    """Both curves, the phase boundaries inside the plot, and each phase's steps."""

    settings: OneCycleSettings
    lrs: tuple[float, ...]
    moms: tuple[float, ...]
    boundaries: tuple[float, ...]  # dashed lines: phase ends within 0 .. total_steps - 1
    phases: tuple[tuple[str, float, float] | tuple[str], ...]  # (name, first, last) or (name,)
    note: str = ""


def _plot(label: str, colour: str, log: bool = False):
    x_scale = bq.LinearScale()
    y_scale = bq.LogScale() if log else bq.LinearScale()
    line = bq.Lines(x=[0.0, 1.0], y=[1.0, 1.0], scales={"x": x_scale, "y": y_scale},
                    colors=[colour], stroke_width=2.5)
    phases = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 1.0]], scales={"x": x_scale, "y": y_scale},
                      colors=[PHASE_COLOUR], line_style="dashed")
    figure = bq.Figure(
        marks=[line, phases],
        axes=[bq.Axis(scale=x_scale, label="step"),
              bq.Axis(scale=y_scale, side="left", label=label, label_offset="56px",
                      tick_format=".1e" if log else ".3g")],
        fig_margin={"top": 15, "bottom": 45, "left": 80, "right": 15},
        display_toolbar=False, layout=widgets.Layout(width="520px", height="230px"))
    return figure, line, phases, y_scale


class OneCycleExplorer(Explorer):
    """Every argument of ``one_cycle`` as a control, both curves drawn, the phases marked."""

    title = "The 1-cycle schedule: warm up, explore at a high learning rate, settle"

    def __init__(self) -> None:
        super().__init__()
        c = {
            "max_lr": widgets.FloatLogSlider(0.01, base=10, min=-4, max=0, step=0.1,
                                             description="max_lr"),
            "total_steps": widgets.IntSlider(200, 10, 2000, step=10, description="total steps"),
            "pct_start": widgets.FloatSlider(0.3, min=0.0, max=1.0, step=0.05,
                                             description="pct_start"),
            "div_factor": widgets.FloatLogSlider(25, base=10, min=0, max=3, step=0.1,
                                                 description="div_factor"),
            "final_div_factor": widgets.FloatLogSlider(1e4, base=10, min=0, max=5, step=0.5,
                                                       description="final_div"),
            "base_momentum": widgets.FloatSlider(0.85, min=0.5, max=0.99, step=0.01,
                                                 description="base mom."),
            "max_momentum": widgets.FloatSlider(0.95, min=0.5, max=0.99, step=0.01,
                                                description="max mom."),
            "anneal_strategy": widgets.ToggleButtons(options=["cos", "linear"], value="cos"),
            "three_phase": widgets.Checkbox(False, description="three phases"),
            "log_scale": widgets.Checkbox(False, description="log scale for the learning rate"),
        }
        self.lr_plots = {log: _plot("learning rate", LR_COLOUR, log) for log in (False, True)}
        self.mom_figure, self.mom_line, self.mom_phases, self.mom_scale = _plot(
            "momentum", MOM_COLOUR)
        self.lr_box = widgets.Box()
        self.summary = widgets.HTML()
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([self.lr_box, self.mom_figure, self.summary])
        self._assemble(c, controls_box, body)

    def settings(self) -> OneCycleSettings:
        v = {name: w.value for name, w in self.controls.items()}
        for name in ("max_lr", "pct_start", "div_factor", "final_div_factor", "base_momentum",
                     "max_momentum"):
            v[name] = float(v[name])
        return OneCycleSettings(**v)

    def compute(self, settings: OneCycleSettings) -> OneCycleScene:
        s = settings
        total, pct, three = s.total_steps, s.pct_start, s.three_phase
        lrs, moms = one_cycle(total, s.max_lr, pct, s.div_factor, s.final_div_factor,
                              s.base_momentum, s.max_momentum, s.anneal_strategy, three)
        ends = phase_ends(total, pct, three)
        inside = sorted({e for e in ends if 0 <= e <= total - 1}) or [0.0]
        names = ["warm-up", "anneal back", "final anneal"] if three else ["warm-up", "anneal"]
        bounds = [0.0, *(min(max(e, 0.0), total - 1.0) for e in ends), total - 1.0]
        phases = []
        for i, name in enumerate(names):
            first, last = bounds[i], bounds[i + 1]
            last_phase = i == len(names) - 1
            if last > first or (last_phase and last == first == 0):
                phases.append((name, first, last))
            else:
                phases.append((name,))
        notes = []
        if three and pct > 0.5:
            notes.append(f"three_phase with pct_start {pct:g} > 0.5: the way down would need "
                         f"{2 * pct:.0%} of the steps, so the final phase never comes and the "
                         "learning rate does not anneal to its minimum; use pct_start <= 0.5")
        if s.base_momentum > s.max_momentum:
            notes.append(f"base_momentum {s.base_momentum:g} is above max_momentum "
                         f"{s.max_momentum:g}: momentum now rises while the learning rate "
                         "rises; usually base < max")
        return OneCycleScene(s, tuple(lrs), tuple(moms), tuple(inside), tuple(phases),
                             "; ".join(notes))

    def draw(self, scene: OneCycleScene) -> None:
        steps = np.arange(scene.settings.total_steps, dtype=float)
        figure, line, phases, _ = self.lr_plots[scene.settings.log_scale]
        self.lr_box.children = [figure]
        for line_, phases_, values in ((line, phases, scene.lrs),
                                       (self.mom_line, self.mom_phases, scene.moms)):
            ys = np.array(values)
            with line_.hold_sync():
                line_.x, line_.y = steps, ys
            low, high = float(ys.min()), float(ys.max())
            with phases_.hold_sync():
                phases_.x = [[e, e] for e in scene.boundaries]
                phases_.y = [[low, high] for _ in scene.boundaries]
        self.summary.value = _summary(scene)


def _summary(scene: OneCycleScene) -> str:
    lrs, moms = scene.lrs, scene.moms
    peak = int(np.argmax(lrs))
    text = (f"learning rate: starts at {lrs[0]:.3g}, peaks at "
            f"{max(lrs):.3g} at step {peak}, ends at {lrs[-1]:.3g}; momentum starts at "
            f"{moms[0]:.3g}, is lowest at {min(moms):.3g} and ends at {moms[-1]:.3g}.")
    parts = [f"{p[0]}: steps {p[1]:.0f}-{p[2]:.0f}" if len(p) == 3 else f"{p[0]}: none"
             for p in scene.phases]
    return text + "<br>phases (dashed lines): " + "; ".join(parts)


__all__ = ["OneCycleExplorer", "OneCycleScene", "OneCycleSettings"]
