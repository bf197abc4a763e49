"""TrainingExplorer: train the lesson CNN live, then look at its schedule and its layers.

Training runs in a background thread, so the widgets stay responsive: the loss curve grows
while you watch, Stop ends the run after the current batch, and the controls set up the next
run. Each finished run stays on screen, so a second run (say without batch norm) can be laid
over the first.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from PIL import Image

from cnncourse.arithmetic import count_parameters
from cnncourse.callbacks import Callback
from cnncourse.hooks import ActivationStats
from cnncourse.models import simple_cnn
from cnncourse.schedules import one_cycle
from cnncourse.training import LESSON_DEFAULTS, TrainingDiverged, lesson_learner

from . import _render as r
from ._sources import lesson_data
from .base import Explorer

CURRENT, PREVIOUS, PLANNED = "#1f77b4", "#ff7f0e", "#999999"
LAYER_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
REFRESH_S = 0.3  # live plots are redrawn at most this often


@dataclass
class Run:
    """What one training run recorded."""

    label: str
    steps_per_epoch: int
    losses: list[float] = field(default_factory=list)
    valid_accuracy: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    stats: ActivationStats | None = None
    status: str = "running"


class _Live(Callback):
    """Pushes the learner's progress into the explorer's plots, a few times a second."""

    order = 5  # after the Recorder

    def __init__(self, explorer: TrainingExplorer, run: Run) -> None:
        self.explorer, self.run = explorer, run
        self._last = 0.0

    def after_batch(self) -> None:
        now = time.perf_counter()
        if now - self._last >= REFRESH_S:
            self._last = now
            self._push()

    def after_epoch(self) -> None:
        self._push()

    def _push(self) -> None:
        rec = self.learner.recorder
        self.run.losses = list(rec.losses)
        self.run.valid_accuracy = list(rec.valid_accuracy)
        self.run.lrs = list(rec.lrs)
        self.explorer._show_progress(self.learner)


def _figure(x_label: str, y_label: str, marks: list, y_scale=None, x_scale=None,
            height: str = "220px") -> bq.Figure:
    return bq.Figure(
        marks=marks,
        axes=[bq.Axis(scale=marks[0].scales["x"], label=x_label),
              bq.Axis(scale=marks[0].scales["y"], side="left", label=y_label,
                      tick_format=".2g")],
        legend_location="top-right",
        fig_margin={"top": 20, "bottom": 45, "left": 60, "right": 15},
        layout=widgets.Layout(width="480px", height=height))


def _line(scales: dict, colour: str, label: str, dashed: bool = False,
          marker: str | None = None) -> bq.Lines:
    return bq.Lines(x=[0.0], y=[0.0], scales=scales, colors=[colour], labels=[label],
                    display_legend=True, line_style="dashed" if dashed else "solid",
                    marker=marker, visible=False)


class TrainingExplorer(Explorer):
    """Train the lesson CNN with the 1-cycle schedule and watch it learn.

    ``data``: anything ``Learner`` accepts (default ``load_mnist()``). ``seed``: the initial
    weights and batch order of every run (``None``: a different run each time).
    """

    title = "Training the lesson CNN live: loss, accuracy, schedule and what the layers do"

    def __init__(self, data=None, seed: int | None = 0) -> None:
        super().__init__()
        self.data = lesson_data() if data is None else data
        self.seed = seed
        c = {
            "batchnorm": widgets.Checkbox(True, description="batch norm"),
            "max_lr": widgets.FloatLogSlider(LESSON_DEFAULTS["max_lr"], base=10, min=-3,
                                             max=0, step=0.05, description="max_lr"),
            "epochs": widgets.IntSlider(LESSON_DEFAULTS["epochs"], 1, 10,
                                        description="epochs"),
            "batch_size": widgets.Dropdown(options=[32, 64, 128, 256, 512],
                                           value=LESSON_DEFAULTS["batch_size"],
                                           description="batch size"),
            "overlay": widgets.Checkbox(True, description="overlay the previous run"),
        }
        self.train_button = widgets.Button(description="Train", icon="play",
                                           button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop",
                                          button_style="danger", disabled=True)
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.progress = widgets.IntProgress(0, 0, 1, description="step")
        self.status = widgets.HTML()
        self.plan = widgets.HTML()

        self.runs: list[Run] = []
        self.learner = None
        self._thread: threading.Thread | None = None
        self._draw_lock = threading.Lock()
        self._build_plots()
        controls_box = widgets.VBox([
            *c.values(), widgets.HBox([self.train_button, self.stop_button]), self.progress,
            self.status])
        body = widgets.VBox([
            self.plan,
            widgets.HBox([self.loss_figure, self.accuracy_figure]),
            widgets.HBox([self.schedule_figure, self.stats_figure]),
            r.captioned("colourful dimension: histogram of |activation| per batch (time runs "
                        "right, small values at the bottom) for each block", self.colour_dim)])
        self._assemble(c, controls_box, body)

    # -- plots ------------------------------------------------------------------------------

    def _build_plots(self) -> None:
        s = {"x": bq.LinearScale(), "y": bq.LinearScale()}
        self.loss_lines = [_line(s, CURRENT, "this run"), _line(s, PREVIOUS, "previous", True)]
        self.loss_figure = _figure("step", "training loss", self.loss_lines)
        s = {"x": bq.LinearScale(), "y": bq.LinearScale()}
        self.accuracy_lines = [_line(s, CURRENT, "this run", marker="circle"),
                               _line(s, PREVIOUS, "previous", True, "circle")]
        self.accuracy_figure = _figure("epoch", "validation accuracy", self.accuracy_lines)
        s = {"x": bq.LinearScale(), "y": bq.LinearScale()}
        self.planned_line = _line(s, PLANNED, "next run (planned)", dashed=True)
        self.schedule_lines = [_line(s, CURRENT, "last run (recorded)"), self.planned_line]
        self.schedule_figure = _figure("step", "learning rate", self.schedule_lines)
        s = {"x": bq.LinearScale(), "y": bq.LinearScale()}
        self.mean_lines = bq.Lines(x=[0.0, 1.0], y=[[0.0, 0.0]], scales=s, colors=LAYER_COLOURS,
                                   display_legend=True, labels=["-"], visible=False)
        self.std_lines = bq.Lines(x=[0.0, 1.0], y=[[0.0, 0.0]], scales=s, colors=LAYER_COLOURS,
                                  line_style="dashed", visible=False)
        self.stats_figure = _figure("step", "activation mean (solid), std (dashed)",
                                    [self.mean_lines, self.std_lines])
        self.colour_dim = r.image_widget()
        r.show(self.colour_dim, r.blank(480, 60, "after training"))

    def _set_line(self, line: bq.Lines, xs, ys, show: bool = True) -> None:
        with line.hold_sync():
            if show and len(ys):
                line.x, line.y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
            line.visible = bool(show and len(ys))

    def _draw_runs(self) -> None:
        """Loss and accuracy of the current run and, if wanted, the previous one."""
        with self._draw_lock:
            self._draw_run_lines()

    def _draw_run_lines(self) -> None:
        overlay = self.controls["overlay"].value if self.controls else True
        shown = [(self.runs[-1] if self.runs else None, True),
                 (self.runs[-2] if len(self.runs) > 1 else None, overlay)]
        for (run, show), loss_line, acc_line in zip(shown, self.loss_lines,
                                                    self.accuracy_lines, strict=True):
            if run is None:
                self._set_line(loss_line, [], [], False)
                self._set_line(acc_line, [], [], False)
                continue
            loss_line.labels = acc_line.labels = [run.label]
            self._set_line(loss_line, np.arange(len(run.losses)), run.losses, show)
            self._set_line(acc_line, np.arange(1, len(run.valid_accuracy) + 1),
                           run.valid_accuracy, show)

    def _draw_after_fit(self, run: Run) -> None:
        self._set_line(self.schedule_lines[0], np.arange(len(run.lrs)), run.lrs)
        self.schedule_lines[0].labels = [f"{run.label} (recorded)"]
        stats = run.stats
        if stats is None or not stats.layers or not stats.layers[0].means:
            return
        n = min(len(s.means) for s in stats)
        steps = np.arange(n, dtype=float)
        with self.mean_lines.hold_sync(), self.std_lines.hold_sync():
            self.mean_lines.x = self.std_lines.x = steps
            self.mean_lines.y = np.array([s.means[:n] for s in stats])
            self.std_lines.y = np.array([s.stds[:n] for s in stats])
            self.mean_lines.labels = stats.names
            self.mean_lines.visible = self.std_lines.visible = True
        r.show(self.colour_dim, _colour_dim_picture(stats))

    def _show_progress(self, learner) -> None:
        self.progress.value = min(learner.step + 1, self.progress.max)
        run = self.runs[-1]
        acc = f", validation accuracy {run.valid_accuracy[-1]:.3f}" if run.valid_accuracy else ""
        loss = f"loss {run.losses[-1]:.3f}" if run.losses else ""
        self.status.value = (f"epoch {learner.epoch + 1}/{learner.n_epochs}, step "
                             f"{learner.step + 1}/{self.progress.max}: {loss}{acc}")
        self._draw_runs()

    # -- the protocol -----------------------------------------------------------------------

    def settings(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(len(self.data.train_x) // batch_size, 1)

    def render(self) -> str:
        v = self.settings()
        steps = self.steps_per_epoch(v["batch_size"])
        total = steps * v["epochs"]
        lrs, _ = one_cycle(total, float(v["max_lr"]))
        self._set_line(self.planned_line, np.arange(total), lrs)
        running = self.running
        self.plan.value = (
            f"{'Next' if running or self.runs else 'The'} run: the lesson CNN "
            f"<b>{'with' if v['batchnorm'] else 'without'} batch norm</b> "
            f"({_parameters(v['batchnorm']):,} parameters), <b>{v['epochs']}</b> epoch(s) of "
            f"{steps} steps of {v['batch_size']} images, 1-cycle up to max_lr "
            f"<b>{float(v['max_lr']):.3g}</b>; data: {html.escape(str(self.data.source))}"
            + (" <i>(applies after the current run)</i>" if running else ""))
        self._draw_runs()
        if float(v["max_lr"]) > 0.3:
            return (f"max_lr {float(v['max_lr']):.3g} is high: the loss may diverge (training "
                    "then stops with an explanation). The lessons use "
                    f"{LESSON_DEFAULTS['max_lr']}.")
        return ""

    # -- training ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def train(self) -> threading.Thread | None:
        """Start a run with the current settings in a background thread (None if one runs)."""
        if self.running:
            return None
        v = self.settings()
        try:
            learner = lesson_learner(self.data, batchnorm=v["batchnorm"], seed=self.seed,
                                     batch_size=v["batch_size"], progress=False)
        except ValueError as err:
            self._show_message(str(err))
            return None
        label = f"run {len(self.runs) + 1}: batch norm {'on' if v['batchnorm'] else 'off'}"
        run = Run(label, len(learner.train_batches))
        run.stats = ActivationStats(learner.model)
        learner.add_callback(run.stats)
        learner.add_callback(_Live(self, run))
        self.learner = learner
        self.runs.append(run)
        self.progress.max = run.steps_per_epoch * v["epochs"]
        self.progress.value = 0
        self.train_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"{label}: starting"
        self._show_message("")
        self._thread = threading.Thread(target=self._fit, args=(learner, run, v["epochs"],
                                                                float(v["max_lr"])),
                                        name="cnncourse-training", daemon=True)
        self._thread.start()
        return self._thread

    def _fit(self, learner, run: Run, epochs: int, max_lr: float) -> None:
        note = ""
        try:
            learner.fit_one_cycle(epochs, max_lr)
        except TrainingDiverged as err:
            note = str(err)
        except Exception as err:  # noqa: BLE001 - the thread must report, not die silently
            note = f"training failed ({type(err).__name__}: {err})"
        run.status = learner.status
        rec = learner.recorder
        run.losses, run.valid_accuracy, run.lrs = (list(rec.losses), list(rec.valid_accuracy),
                                                   list(rec.lrs))
        try:
            self._draw_runs()
            self._draw_after_fit(run)
        except Exception as err:  # noqa: BLE001
            note = note or f"could not draw the results ({type(err).__name__}: {err})"
        acc = f"; validation accuracy {run.valid_accuracy[-1]:.4f}" if run.valid_accuracy else ""
        self.status.value = f"{run.label}: {learner.status} after {learner.step} steps{acc}"
        self.train_button.disabled, self.stop_button.disabled = False, True
        self._show_message(note)
        self.plan.value = self.plan.value.replace(" <i>(applies after the current run)</i>", "")

    def stop(self) -> None:
        """Ask the current run to end after its current batch."""
        if self.learner is not None and self.running:
            self.learner.stop()
            self.status.value += " &mdash; stopping"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end; True if none is running any more."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


@lru_cache(maxsize=2)
def _parameters(batchnorm: bool) -> int:
    return count_parameters(simple_cnn(LESSON_DEFAULTS["channels"], batchnorm=batchnorm))


def _colour_dim_picture(stats: ActivationStats, width: int = 480, band: int = 56):
    bands = []
    for layer in stats:
        hist = layer.hist_matrix().numpy()  # [bins, batches]
        if hist.size == 0:
            continue
        rgb = r.heat(np.log1p(hist[::-1]))
        picture = r.image(rgb).resize((width, band), Image.Resampling.NEAREST)
        label = Image.new("RGB", (width, 16), (255, 255, 255))
        r.write(label, (40, 8), layer.name, 11)
        bands.extend([label, picture])
    if not bands:
        return Image.new("RGB", (width, band), (245, 245, 245))
    canvas = Image.new("RGB", (width, sum(b.height for b in bands)), (255, 255, 255))
    y = 0
    for b in bands:
        canvas.paste(b, (0, y))
        y += b.height
    return canvas


__all__ = ["Run", "TrainingExplorer"]
