"""TrainingExplorer: train the lesson CNN live, then look at its schedule and its layers.

Training runs in a background thread, so the widgets stay responsive: the loss curve grows
while you watch, Stop ends the run after the current batch, and the controls set up the next
run. Each finished run stays on screen, so a second run (say without batch norm) can be laid
over the first.

The thread never touches a widget: a few times a second it publishes a snapshot of the run
(a frozen ``Run``), which the main thread turns into a new scene and draws (see ``_worker``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from PIL import Image

from cnncourse.arithmetic import count_parameters
from cnncourse.colours import GREY, LINES, hex_colour
from cnncourse.hooks import ActivationStats
from cnncourse.models import simple_cnn
from cnncourse.schedules import one_cycle
from cnncourse.training import LESSON_DEFAULTS, TrainingDiverged, lesson_learner

from . import _render as r
from ._runs import LayerTrace, Run, Snapshots, traces
from ._sources import lesson_data
from ._worker import Worker
from .base import Explorer

CURRENT, PREVIOUS, PLANNED = hex_colour(LINES[0]), hex_colour(LINES[1]), hex_colour(GREY)
LAYER_COLOURS = [hex_colour(c) for c in LINES]  # Okabe-Ito: no red-green pair
HIGH_LR = 0.3
# Round rates, the lessons' among them, 1-2-3-6 in every decade (a log scale in steps).
MAX_LRS = (0.001, 0.002, 0.003, 0.006, 0.01, 0.02, 0.03, 0.06, 0.1, 0.2, 0.3, 0.6, 1.0)


@dataclass(frozen=True)
class TrainingSettings:
    batchnorm: bool
    max_lr: float
    epochs: int
    batch_size: int
    overlay: bool


@dataclass(frozen=True)
class TrainingScene:
    """The next run's plan and the runs shown (``previous`` only with ``overlay``)."""

    settings: TrainingSettings
    steps_per_epoch: int
    planned_lrs: tuple[float, ...]
    parameters: int
    data_source: str
    current: Run | None
    previous: Run | None
    running: bool
    stopping: bool
    note: str

    @property
    def total_steps(self) -> int:
        return len(self.planned_lrs)


def _figure(x_label: str, y_label: str, marks: list, height: str = "220px") -> bq.Figure:
    return bq.Figure(
        marks=marks,
        axes=[bq.Axis(scale=marks[0].scales["x"], label=x_label),
              bq.Axis(scale=marks[0].scales["y"], side="left", label=y_label,
                      label_offset="50px", tick_format=".2g")],
        legend_location="top-right",
        fig_margin={"top": 20, "bottom": 45, "left": 72, "right": 15},
        display_toolbar=False, layout=widgets.Layout(width="480px", height=height))


def _line(scales: dict, colour: str, label: str, dashed: bool = False,
          marker: str | None = None) -> bq.Lines:
    return bq.Lines(x=[0.0], y=[0.0], scales=scales, colors=[colour], labels=[label],
                    display_legend=False, line_style="dashed" if dashed else "solid",
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
            "max_lr": widgets.SelectionSlider(options=[(f"{lr:g}", lr) for lr in MAX_LRS],
                                              value=LESSON_DEFAULTS["max_lr"],
                                              description="max_lr"),
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

        self.runs: tuple[Run, ...] = ()
        self.learner = None
        self._stopping = False
        self._worker = Worker(self._receive, "cnncourse-training")
        self._pictured: tuple = ()  # the stats whose colourful-dimension picture is shown
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
                                   display_legend=False, labels=["-"], visible=False)
        self.std_lines = bq.Lines(x=[0.0, 1.0], y=[[0.0, 0.0]], scales=s, colors=LAYER_COLOURS,
                                  line_style="dashed", visible=False)
        self.stats_figure = _figure("step", "mean (solid), std (dashed)",
                                    [self.mean_lines, self.std_lines])
        self.colour_dim = r.image_widget()
        r.show(self.colour_dim, r.blank(480, 60, "after training"))

    # -- the protocol -----------------------------------------------------------------------

    def settings(self) -> TrainingSettings:
        c = self.controls
        return TrainingSettings(c["batchnorm"].value, float(c["max_lr"].value),
                                c["epochs"].value, c["batch_size"].value, c["overlay"].value)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(len(self.data.train_x) // batch_size, 1)

    def compute(self, settings: TrainingSettings) -> TrainingScene:
        steps = self.steps_per_epoch(settings.batch_size)
        lrs, _ = one_cycle(steps * settings.epochs, settings.max_lr)
        current = self.runs[-1] if self.runs else None
        previous = self.runs[-2] if len(self.runs) > 1 and settings.overlay else None
        running = current is not None and current.status == "running"
        notes = [current.note] if current is not None and current.note else []
        if settings.max_lr > HIGH_LR:
            notes.append(f"max_lr {settings.max_lr:.3g} is high: the loss may diverge "
                         "(training then stops with an explanation). The lessons use "
                         f"{LESSON_DEFAULTS['max_lr']}.")
        return TrainingScene(settings, steps, tuple(lrs), _parameters(settings.batchnorm),
                             str(self.data.source), current, previous, running,
                             running and self._stopping, " ".join(notes))

    def draw(self, scene: TrainingScene) -> None:
        v = scene.settings
        self.plan.value = (
            f"{'Next' if scene.current else 'The'} run: the lesson CNN "
            f"<b>{'with' if v.batchnorm else 'without'} batch norm</b> "
            f"({scene.parameters:,} parameters), <b>{v.epochs}</b> epoch(s) of "
            f"{scene.steps_per_epoch} steps of {v.batch_size} images, 1-cycle up to max_lr "
            f"<b>{v.max_lr:.3g}</b>; data: {html.escape(scene.data_source)}"
            + (" <i>(applies after the current run)</i>" if scene.running else ""))
        self._set_line(self.planned_line, np.arange(scene.total_steps), scene.planned_lrs)
        runs = ((scene.current, self.loss_lines[0], self.accuracy_lines[0]),
                (scene.previous, self.loss_lines[1], self.accuracy_lines[1]))
        for run, loss_line, acc_line in runs:
            if run is not None:
                loss_line.labels = acc_line.labels = [run.label]
            self._set_line(loss_line, np.arange(run.steps) if run else [],
                           run.losses if run else ())
            self._set_line(acc_line, np.arange(1, len(run.valid_accuracy) + 1) if run else [],
                           run.valid_accuracy if run else ())
        self._draw_empty_axes(scene)
        self._draw_current(scene)

    def _draw_current(self, scene: TrainingScene) -> None:
        run = scene.current
        self.train_button.disabled, self.stop_button.disabled = scene.running, not scene.running
        if run is None:
            self.status.value = ""
            return
        self.progress.max = run.total_steps
        self.progress.value = min(run.steps, run.total_steps)
        self._set_line(self.schedule_lines[0], np.arange(len(run.lrs)), run.lrs)
        self.schedule_lines[0].labels = [f"{run.label} (recorded)"]
        loss = f"loss {run.losses[-1]:.3f}" if run.losses else "starting"
        acc = f", validation accuracy {run.valid_accuracy[-1]:.4f}" if run.valid_accuracy else ""
        if scene.running:
            self.status.value = (f"{html.escape(run.label)}, epoch {run.epoch + 1}/"
                                 f"{run.n_epochs}, step {run.steps}/{run.total_steps}: "
                                 f"{loss}{acc}" + (" &mdash; stopping" if scene.stopping
                                                   else ""))
        else:
            self.status.value = (f"{html.escape(run.label)}: {run.status} after {run.steps} "
                                 f"steps{acc}")
        self._draw_stats(run.stats)

    def _draw_stats(self, stats: tuple[LayerTrace, ...]) -> None:
        if stats is self._pictured:  # each finished run brings its own tuple
            return
        self._pictured = stats
        if not stats or not stats[0].means:
            return
        n = min(len(s.means) for s in stats)
        steps = np.arange(n, dtype=float)
        with self.mean_lines.hold_sync(), self.std_lines.hold_sync():
            self.mean_lines.x = self.std_lines.x = steps
            self.mean_lines.y = np.array([s.means[:n] for s in stats])
            self.std_lines.y = np.array([s.stds[:n] for s in stats])
            self.mean_lines.labels = [s.name for s in stats]
            self.mean_lines.visible = self.std_lines.visible = True
            self.mean_lines.display_legend = True
        r.show(self.colour_dim, _colour_dim_picture(stats))

    def _draw_empty_axes(self, scene: TrainingScene) -> None:
        """Before the first run, axes over the planned run instead of a lone 0."""
        empty = scene.current is None
        for lines, x_max, y_max in ((self.loss_lines, scene.total_steps, 2.5),
                                    (self.accuracy_lines, scene.settings.epochs, 1.0),
                                    (self.schedule_lines[:1], scene.total_steps, None),
                                    ([self.mean_lines], scene.total_steps, 1.0)):
            x_scale, y_scale = lines[0].scales["x"], lines[0].scales["y"]
            x_scale.min, x_scale.max = (0.0, float(x_max)) if empty else (None, None)
            if y_max is not None:
                y_scale.min, y_scale.max = (0.0, y_max) if empty else (None, None)

    @staticmethod
    def _set_line(line: bq.Lines, xs, ys) -> None:
        with line.hold_sync():
            if len(ys):
                line.x, line.y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
            line.visible = line.display_legend = bool(len(ys))  # no legend for no line

    # -- training ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a run is under way (its thread alive or its end not yet shown)."""
        return self._worker.running or bool(self.runs and self.runs[-1].status == "running")

    def train(self):
        """Start a run with the current settings in a background thread; returns the thread
        (None if a run is already under way or the settings cannot train)."""
        if self.running:
            return None
        v = self.settings()
        try:
            learner = lesson_learner(self.data, batchnorm=v.batchnorm, seed=self.seed,
                                     batch_size=v.batch_size, progress=False)
        except ValueError as err:
            self._show_message(str(err))
            return None
        label = f"run {len(self.runs) + 1}: batch norm {'on' if v.batchnorm else 'off'}"
        steps = len(learner.train_batches)
        run = Run(label, steps, steps * v.epochs, v.epochs)
        stats = learner.add_callback(ActivationStats(learner.model))
        snapshots = learner.add_callback(Snapshots(learner, self._worker.publish, run))
        self.learner, self._stopping = learner, False
        self.runs = (*self.runs, run)
        self.update()

        def job() -> None:
            note = ""
            try:
                learner.fit_one_cycle(v.epochs, v.max_lr)
            except TrainingDiverged as err:
                note = str(err)
            except Exception as err:  # noqa: BLE001 - the thread must report, not die silently
                note = f"training failed ({type(err).__name__}: {err})"
            status = learner.status if learner.status != "running" else "failed"
            self._worker.publish(snapshots.snapshot(status=status, note=note,
                                                    stats=traces(stats)))

        return self._worker.start(job)

    def _receive(self, run: Run) -> None:
        """On the main thread: the latest snapshot of the current run."""
        self.runs = (*self.runs[:-1], run)
        self.update()

    def stop(self) -> None:
        """Ask the current run to end after its current batch."""
        if self.learner is not None and self.running:
            self.learner.stop()
            self._stopping = True
            self.update()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end and show its result; True if none is running."""
        self._worker.wait(timeout)
        return not self.running


@lru_cache(maxsize=2)
def _parameters(batchnorm: bool) -> int:
    return count_parameters(simple_cnn(LESSON_DEFAULTS["channels"], batchnorm=batchnorm))


def _colour_dim_picture(stats: tuple[LayerTrace, ...], width: int = 480, band: int = 56):
    bands = []
    for layer in stats:
        hist = layer.hist  # [bins, batches]
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


__all__ = ["LayerTrace", "Run", "TrainingExplorer", "TrainingScene", "TrainingSettings"]
