"""OneCycleExplorer: the 1-cycle learning-rate and momentum schedule, phase by phase.

The curves come from ``schedules.one_cycle``, which gives the same numbers as torch's
``OneCycleLR``. Learning rate warms up to ``max_lr`` while momentum falls, then anneals to
almost nothing while momentum climbs back.
"""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from cnncourse.schedules import one_cycle

from .base import Explorer

LR_COLOUR, MOM_COLOUR, PHASE_COLOUR = "#1f77b4", "#d62728", "#999999"


def phase_ends(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """The steps where one phase hands over to the next (as ``one_cycle`` counts them)."""
    ends = [pct_start * total_steps - 1]
    if three_phase:
        ends.append(2 * pct_start * total_steps - 2)
    return ends


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
              bq.Axis(scale=y_scale, side="left", label=label,
                      tick_format=".1e" if log else ".3g")],
        fig_margin={"top": 15, "bottom": 45, "left": 70, "right": 15},
        layout=widgets.Layout(width="520px", height="230px"))
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
        self.lrs: list[float] = []
        self.moms: list[float] = []
        controls_box = widgets.VBox(list(c.values()))
        body = widgets.VBox([self.lr_box, self.mom_figure, self.summary])
        self._assemble(c, controls_box, body)

    def render(self) -> str:
        v = {name: w.value for name, w in self.controls.items()}
        total, pct, three = v["total_steps"], float(v["pct_start"]), v["three_phase"]
        self.lrs, self.moms = one_cycle(
            total, float(v["max_lr"]), pct, float(v["div_factor"]),
            float(v["final_div_factor"]), float(v["base_momentum"]),
            float(v["max_momentum"]), v["anneal_strategy"], three)
        steps = np.arange(total, dtype=float)
        lrs, moms = np.array(self.lrs), np.array(self.moms)
        ends = sorted({e for e in phase_ends(total, pct, three) if 0 <= e <= total - 1}) or [0.0]

        figure, line, phases, y_scale = self.lr_plots[v["log_scale"]]
        self.lr_box.children = [figure]
        for line_, phases_, ys in ((line, phases, lrs), (self.mom_line, self.mom_phases, moms)):
            with line_.hold_sync():
                line_.x, line_.y = steps, ys
            low, high = float(ys.min()), float(ys.max())
            with phases_.hold_sync():
                phases_.x = [[e, e] for e in ends]
                phases_.y = [[low, high] for _ in ends]

        self.summary.value = _summary(v, self.lrs, self.moms, total)
        notes = []
        if three and pct > 0.5:
            notes.append(f"three_phase with pct_start {pct:g} > 0.5: the way down would need "
                         f"{2 * pct:.0%} of the steps, so the final phase never comes and the "
                         "learning rate does not anneal to its minimum; use pct_start <= 0.5")
        if v["base_momentum"] > v["max_momentum"]:
            notes.append(f"base_momentum {v['base_momentum']:g} is above max_momentum "
                         f"{v['max_momentum']:g}: momentum now rises while the learning rate "
                         "rises; usually base < max")
        return "; ".join(notes)


def _summary(v: dict, lrs: list[float], moms: list[float], total: int) -> str:
    peak = int(np.argmax(lrs))
    text = (f"learning rate: starts at {lrs[0]:.3g}, peaks at "
            f"{max(lrs):.3g} at step {peak}, ends at {lrs[-1]:.3g}; momentum starts at "
            f"{moms[0]:.3g}, is lowest at {min(moms):.3g} and ends at {moms[-1]:.3g}.")
    names = ["warm-up", "anneal back", "final anneal"] if v["three_phase"] else [
        "warm-up", "anneal"]
    ends = phase_ends(total, float(v["pct_start"]), v["three_phase"])
    bounds = [0.0, *(min(max(e, 0.0), total - 1.0) for e in ends), total - 1.0]
    parts = []
    for i, name in enumerate(names):
        first, last = bounds[i], bounds[i + 1]
        last_phase = i == len(names) - 1
        if last > first or (last_phase and last == first == 0):
            parts.append(f"{name}: steps {first:.0f}-{last:.0f}")
        else:
            parts.append(f"{name}: none")
    return text + "<br>phases (dashed lines): " + "; ".join(parts)


__all__ = ["OneCycleExplorer", "phase_ends"]
