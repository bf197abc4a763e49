"""DrawDigitExplorer: draw a digit, and watch the lesson CNN read it layer by layer.

No weights ship with the course. The first time a prediction is needed, the lesson CNN trains
for a couple of epochs in the background (seconds to a minute) and its weights are cached per
user, so later sessions start at once.

The drawing is prepared the way MNIST digits were: cropped to its ink, scaled to fit 20x20
and centred by its centre of mass in a 28x28 frame.
"""

from __future__ import annotations

import hashlib
import html
import threading
from dataclasses import dataclass
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch
from ipycanvas import MultiCanvas
from PIL import Image, ImageDraw
from torch import nn

from cnncourse.arithmetic import receptive_field, unit_region
from cnncourse.callbacks import Callback
from cnncourse.data import normalize
from cnncourse.hooks import Hooks, conv_layers
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS, lesson_learner

from . import _render as r
from ._sources import Digits, as_digits, digits, lesson_data
from .base import Explorer, single_thread
from .receptive_field import region_picture

SIDE = 280  # canvas pixels; 10 per model pixel
SCALE = SIDE // 28
PEN = 22  # stroke width in canvas pixels
EPOCHS = 2
BLANK = -1


# ------------------------------------------------------------------ preparing a drawing


@dataclass(frozen=True)
class Prepared:
    """A drawing as the CNN sees it: ``image`` (28x28 uint8) and the map back to the canvas,
    ``canvas = origin + (grid - offset) / scale`` per axis (grid in model pixels)."""

    image: torch.Tensor
    scale: float
    origin: tuple[float, float]
    offset: tuple[float, float]

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        return (self.origin[0] + (x - self.offset[0]) / self.scale,
                self.origin[1] + (y - self.offset[1]) / self.scale)


def prepare(drawing: np.ndarray) -> Prepared | None:
    """MNIST-style 28x28 digit from a ``(SIDE, SIDE)`` uint8 drawing; None if it is blank."""
    ink = drawing > 25
    if ink.sum() < 4:
        return None
    rows, cols = np.nonzero(ink)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    scale = 20 / max(bottom - top, right - left)
    width = max(1, round((right - left) * scale))
    height = max(1, round((bottom - top) * scale))
    crop = Image.fromarray(drawing[top:bottom, left:right]).resize((width, height),
                                                                   Image.Resampling.BOX)
    frame = np.zeros((28, 28), dtype=np.float32)
    x0, y0 = (28 - width) // 2, (28 - height) // 2
    frame[y0:y0 + height, x0:x0 + width] = np.asarray(crop, dtype=np.float32)
    mass = frame.sum()
    if mass > 0:  # shift so the centre of mass sits at the centre, as in MNIST
        ys, xs = np.mgrid[0:28, 0:28]
        dy = int(round(13.5 - (ys * frame).sum() / mass))
        dx = int(round(13.5 - (xs * frame).sum() / mass))
        dy = int(np.clip(dy, -y0, 28 - y0 - height))
        dx = int(np.clip(dx, -x0, 28 - x0 - width))
        frame = np.roll(frame, (dy, dx), axis=(0, 1))
        x0, y0 = x0 + dx, y0 + dy
    image = torch.from_numpy(frame.clip(0, 255).round().astype(np.uint8))
    return Prepared(image, scale, (float(left), float(top)), (float(x0), float(y0)))


def exact(digit: torch.Tensor) -> Prepared:
    """A 28x28 digit (float in [0, 1]) used as it is: one model pixel is SCALE canvas pixels."""
    image = (digit.clamp(0, 1) * 255).round().to(torch.uint8)
    return Prepared(image, 1 / SCALE, (0.0, 0.0), (0.0, 0.0))


# ------------------------------------------------------------------ the trained model


@dataclass
class TrainedModel:
    model: nn.Module
    mean: float
    std: float
    accuracy: float
    source: str


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnncourse")) / "draw_digit"


def _cache_file(cache_dir: Path, data) -> Path:
    recipe = repr((simple_cnn(LESSON_DEFAULTS["channels"]), LESSON_DEFAULTS, EPOCHS,
                   str(getattr(data, "source", "")), tuple(data.train_x.shape)))
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return cache_dir / f"lesson_cnn_{key}.pt"


def load_cached(cache_dir: Path, data) -> TrainedModel | None:
    path = _cache_file(cache_dir, data)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = simple_cnn(LESSON_DEFAULTS["channels"])
        model.load_state_dict(saved["state_dict"])
    except Exception:  # noqa: BLE001 - a damaged cache file is simply retrained
        return None
    model.eval()
    return TrainedModel(model, float(saved["mean"]), float(saved["std"]),
                        float(saved["accuracy"]), str(saved["source"]))


def train_and_cache(cache_dir: Path, data, callbacks=()) -> TrainedModel:
    """Train the lesson CNN for ``EPOCHS`` epochs, save its weights, return it (on the CPU)."""
    learner = lesson_learner(data, seed=0, progress=False, callbacks=list(callbacks))
    learner.fit_one_cycle(EPOCHS, LESSON_DEFAULTS["max_lr"])
    model = learner.model.cpu().eval()
    accuracy = learner.recorder.valid_accuracy[-1] if learner.recorder.valid_accuracy else 0.0
    trained = TrainedModel(model, learner.train_batches.mean, learner.train_batches.std,
                           float(accuracy), str(getattr(data, "source", "")))
    if learner.status == "finished":
        path = _cache_file(cache_dir, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "mean": trained.mean, "std": trained.std,
                    "accuracy": trained.accuracy, "source": trained.source}, path)
    return trained


class _Progress(Callback):
    def __init__(self, bar: widgets.IntProgress) -> None:
        self.bar = bar

    def before_fit(self) -> None:
        self.bar.max = self.learner.n_epochs * len(self.learner.train_batches)

    def after_batch(self) -> None:
        self.bar.value = self.learner.step + 1


# ------------------------------------------------------------------ the explorer


class DrawDigitExplorer(Explorer):
    """Draw a digit with the mouse: prediction, class probabilities, feature maps, and the
    receptive field of one unit on your drawing.

    ``data``: training data for the first-use training (default ``load_mnist()``).
    ``cache_dir``: where trained weights are kept (default: the user cache folder).
    ``images``: digits to start from (default: the validation digits).
    """

    title = "Draw a digit: what does the CNN see, layer by layer?"

    def __init__(self, data=None, cache_dir: str | Path | None = None, images=None) -> None:
        super().__init__()
        self._data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.digits: Digits = digits() if images is None else as_digits(images)
        self.trained: TrainedModel | None = None
        self._training: threading.Thread | None = None
        self._lock = threading.RLock()
        # The architecture is known before training: it fixes the layers and their shapes.
        self._shape_model = simple_cnn(LESSON_DEFAULTS["channels"])
        self.layer_names = [name for name, _ in conv_layers(self._shape_model)]
        self.records = {rec.name.split(".")[0]: rec
                        for rec in receptive_field(self._shape_model, input_size=28)}
        self._shapes = self._layer_shapes(self._shape_model)

        c = {
            "example": widgets.IntSlider(BLANK, BLANK, len(self.digits.images) - 1,
                                         description="start from #",
                                         continuous_update=False),
            "layer": widgets.Dropdown(options=self.layer_names, description="layer"),
            "channel": widgets.IntSlider(0, 0, 0, description="feature"),
            "row": widgets.IntSlider(0, 0, 0, description="unit row"),
            "col": widgets.IntSlider(0, 0, 0, description="unit col"),
        }
        self.drawing = Image.new("L", (SIDE, SIDE), 0)
        self.prepared: Prepared | None = None
        self.probabilities: torch.Tensor | None = None
        self.activations: dict[str, torch.Tensor] = {}
        self._pen: tuple[float, float] | None = None

        self.canvas = MultiCanvas(2, width=SIDE, height=SIDE,
                                  layout=widgets.Layout(border="1px solid #999"))
        ink = self.canvas[0]
        ink.fill_style = "black"
        ink.fill_rect(0, 0, SIDE, SIDE)
        ink.stroke_style, ink.line_width, ink.line_cap = "white", PEN, "round"
        self.canvas.on_mouse_down(self._pen_down)
        self.canvas.on_mouse_move(self._pen_move)
        self.canvas.on_mouse_up(self._pen_up)
        self.canvas.on_mouse_out(self._pen_up)
        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.clear_button.on_click(lambda _: self.clear_drawing())
        self.progress = widgets.IntProgress(0, 0, 1, description="training",
                                            layout=widgets.Layout(visibility="hidden"))
        self.status = widgets.HTML()
        self.prediction = widgets.HTML()
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0, max=1)
        self.bars = bq.Bars(x=list(range(10)), y=np.zeros(10), scales={"x": x_scale,
                                                                        "y": y_scale},
                            colors=["#1f77b4"] * 10)
        self.probability_figure = bq.Figure(
            marks=[self.bars], axes=[bq.Axis(scale=x_scale, label="digit"),
                                     bq.Axis(scale=y_scale, side="left", label="probability",
                                             tick_format=".1f")],
            fig_margin={"top": 10, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="300px", height="200px"))
        self.seen_image = r.image_widget()
        self.maps_image = r.image_widget()
        self.unit_text = widgets.HTML()
        controls_box = widgets.VBox([
            widgets.HTML("draw with the mouse:"), self.canvas, self.clear_button, *c.values(),
            self.progress, self.status])
        body = widgets.VBox([
            widgets.HBox([self.prediction, self.probability_figure]),
            widgets.HBox([r.captioned("what the CNN sees (28x28), with the selected unit's "
                                      "receptive field", self.seen_image),
                          r.captioned("the feature maps of the selected layer (selected one "
                                      "outlined)", self.maps_image)]),
            self.unit_text])
        self._assemble(c, controls_box, body)

    # -- data and model ---------------------------------------------------------------------

    @property
    def data(self):
        if self._data is None:
            self._data = lesson_data()
        return self._data

    @staticmethod
    def _layer_shapes(model: nn.Module) -> dict[str, tuple[int, int, int]]:
        shapes: dict[str, tuple[int, int, int]] = {}
        layers = conv_layers(model)
        with Hooks([m for _, m in layers], lambda hook, mod, inp, out: shapes.__setitem__(
                id(mod), tuple(out.shape[1:]))):
            model.eval()
            with torch.no_grad():
                model(torch.zeros(1, 1, 28, 28))
        return {name: shapes[id(m)] for name, m in layers}

    def model_ready(self) -> bool:
        """Load the cached model, or start training it in the background; True when ready."""
        with self._lock:
            if self.trained is not None:
                return True
            cached = load_cached(self.cache_dir, self.data)
            if cached is not None:
                self.trained = cached
                return True
            if self._training is None or not self._training.is_alive():
                self._training = threading.Thread(target=self._train, daemon=True,
                                                  name="cnncourse-draw-digit-training")
                self.progress.layout.visibility = "visible"
                self.status.value = (
                    "training the lesson CNN on first use (once per user; the weights are "
                    f"cached in {html.escape(str(self.cache_dir))}) &hellip;")
                self._training.start()
            return False

    def _train(self) -> None:
        try:
            trained = train_and_cache(self.cache_dir, self.data, [_Progress(self.progress)])
        except Exception as err:  # noqa: BLE001 - report in the view
            self.status.value = ""
            self._show_message(f"training the CNN failed ({type(err).__name__}: {err})")
            return
        with self._lock:
            self.trained = trained
        self.progress.layout.visibility = "hidden"
        self.update()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the first-use training to end; True if the model is ready."""
        if self._training is not None:
            self._training.join(timeout)
        return self.trained is not None

    # -- drawing ----------------------------------------------------------------------------

    def _pen_down(self, x: float, y: float) -> None:
        if self.controls["example"].value != BLANK:
            with self._quietly():  # drawing over an example: keep it, it is now yours
                self.controls["example"].value = BLANK
            self._example = BLANK
        self._pen = (x, y)
        self._stroke(x, y)

    def _pen_move(self, x: float, y: float) -> None:
        if self._pen is not None:
            self._stroke(x, y)

    def _pen_up(self, x: float, y: float) -> None:
        if self._pen is not None:
            self._pen = None
            self.update()

    def _stroke(self, x: float, y: float) -> None:
        x0, y0 = self._pen
        self.canvas[0].stroke_line(x0, y0, x, y)
        draw = ImageDraw.Draw(self.drawing)
        draw.line((x0, y0, x, y), fill=255, width=PEN)
        half = PEN / 2
        draw.ellipse((x - half, y - half, x + half, y + half), fill=255)
        self._pen = (x, y)

    def draw(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through ``points`` (canvas pixels), as the mouse would."""
        if not points:
            return
        self._pen_down(*points[0])
        for x, y in points[1:]:
            self._pen_move(x, y)
        self._pen_up(*points[-1])

    def clear_drawing(self) -> None:
        self.drawing = Image.new("L", (SIDE, SIDE), 0)
        self.canvas[0].fill_rect(0, 0, SIDE, SIDE)
        if self.controls["example"].value != BLANK:
            self.controls["example"].value = BLANK
        else:
            self.update()

    def _load_example(self, index: int) -> None:
        digit = self.digits.images[index]
        big = (digit.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        big = np.kron(big, np.ones((SCALE, SCALE), dtype=np.uint8))
        self.drawing = Image.fromarray(big)
        self.canvas[0].put_image_data(np.repeat(big[..., None], 3, axis=2), 0, 0)

    # -- the protocol -----------------------------------------------------------------------

    def render(self) -> str:
        with self._lock:
            return self._render()

    def _render(self) -> str:
        c = self.controls
        example = c["example"].value
        if example != self._shown_example():
            if example == BLANK:
                self.drawing = Image.new("L", (SIDE, SIDE), 0)
                self.canvas[0].fill_rect(0, 0, SIDE, SIDE)
            else:
                self._load_example(example)
            self._example = example
        layer = c["layer"].value
        channels, height, width = self._shapes[layer]
        with self._quietly():
            c["channel"].max, c["row"].max, c["col"].max = channels - 1, height - 1, width - 1
        channel, row, col = c["channel"].value, c["row"].value, c["col"].value

        if example != BLANK:
            self.prepared = exact(self.digits.images[example])
        else:
            self.prepared = prepare(np.asarray(self.drawing))
        rec = self.records[layer]
        region = unit_region(rec, row, col)
        self.unit_text.value = (
            f"unit ({row}, {col}) of feature {channel} in <code>{layer}</code> "
            f"({channels} maps of {height}x{width}) sees a {region.height} x {region.width} "
            f"region of the 28x28 input: rows {region.top:g}..{region.bottom:g}, columns "
            f"{region.left:g}..{region.right:g}")
        self._draw_region_on_canvas(region)

        if self.prepared is None:
            self._no_prediction("draw a digit (or pick one to start from)")
            r.show(self.seen_image, region_picture(torch.zeros(28, 28), rec, row, col), 2)
            return ""
        seen = self.prepared.image.float() / 255
        r.show(self.seen_image, region_picture(seen, rec, row, col), 2)
        if not self.model_ready():
            self._no_prediction("waiting for the CNN to finish training &hellip;")
            return ""
        self._predict()
        acts = self.activations[layer]
        r.show(self.maps_image, _maps_picture(acts, channel, row, col), 2)
        p = self.probabilities
        best = int(p.argmax())
        self.prediction.value = (
            f"<div style='font-size:48px;line-height:1'>{best}</div>"
            f"<div>probability {float(p[best]):.1%}</div><small>model: lesson CNN, "
            f"validation accuracy {self.trained.accuracy:.1%}</small>")
        with self.bars.hold_sync():
            self.bars.y = p.numpy()
            self.bars.colors = ["#ff7f0e" if i == best else "#1f77b4" for i in range(10)]
        self.status.value = ""
        return ""

    def _shown_example(self) -> int:
        return getattr(self, "_example", BLANK)

    def _no_prediction(self, why: str) -> None:
        self.prediction.value = f"<i>{why}</i>"
        self.probabilities = None
        self.activations = {}
        self._predicted_for = None
        with self.bars.hold_sync():
            self.bars.y = np.zeros(10)
            self.bars.colors = ["#1f77b4"] * 10
        r.show(self.maps_image, r.blank(320, 160, "no feature maps yet"))

    def _predict(self) -> None:
        trained = self.trained
        key = (self.prepared.image.numpy().tobytes(), id(trained))
        if key == getattr(self, "_predicted_for", None):
            return  # same drawing, same model: the last forward pass still holds
        self._predicted_for = key
        x = normalize(self.prepared.image[None], trained.mean, trained.std)
        found: dict[int, torch.Tensor] = {}
        layers = conv_layers(trained.model)
        with single_thread(), torch.no_grad(), Hooks(
                [m for _, m in layers],
                lambda hook, mod, inp, out: found.__setitem__(id(mod), out[0].detach())):
            logits = trained.model(x)
        self.probabilities = logits.softmax(dim=1)[0]
        self.activations = {name: found[id(m)] for name, m in layers}

    def _draw_region_on_canvas(self, region) -> None:
        overlay = self.canvas[1]
        with overlay.hold_sync():
            overlay.clear()
            if self.prepared is None:
                return
            (x0, y0), (x1, y1) = (self.prepared.to_canvas(region.left - 0.5, region.top - 0.5),
                                  self.prepared.to_canvas(region.right + 0.5,
                                                          region.bottom + 0.5))
            overlay.stroke_style, overlay.line_width = "orange", 3
            overlay.stroke_rect(x0, y0, x1 - x0, y1 - y0)


def _maps_picture(acts: torch.Tensor, channel: int, row: int, col: int) -> np.ndarray:
    """Every map of one layer in a grid, each on its own scale (so weak maps still show
    their pattern); the selected map outlined in orange, its unit in blue."""
    count, height, width = acts.shape
    cell = max(2, 42 // max(height, width))
    per_row, gap = 8, 3
    values = r.as_array(acts)
    tops = np.abs(values).reshape(count, -1).max(axis=1)
    scaled = values / np.where(tops > 0, tops, 1.0)[:, None, None]
    colours = r.diverging(scaled, 1.0) if values.min() < 0 else r.grey(scaled, 0.0, 1.0)
    tiles = np.repeat(np.repeat(colours, cell, axis=1), cell, axis=2)
    picture = r.tile_grid(tiles, per_row, gap)
    x = (channel % per_row) * (width * cell + gap)
    y = (channel // per_row) * (height * cell + gap)
    r.frame(picture, (x - 1, y - 1, x + width * cell, y + height * cell))
    r.frame(picture, (x + col * cell, y + row * cell, x + (col + 1) * cell - 1,
                      y + (row + 1) * cell - 1), colour=(0, 160, 255))
    return picture


__all__ = ["DrawDigitExplorer", "Prepared", "exact", "prepare"]
