"""DrawDigitExplorer: draw a digit, and watch the lesson CNN read it layer by layer.

No weights ship with the course. The first time a prediction is needed, the lesson CNN trains
with the lessons' recipe (``lesson_learner``, ``LESSON_DEFAULTS``) in a background thread
(seconds to a minute) and its weights are cached per user, so later sessions start at once.
The thread never touches a widget: it publishes its progress, and the main thread draws it.

The drawing is prepared the way MNIST digits were (``cnncourse.drawing.prepare_drawing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch
from ipycanvas import MultiCanvas
from PIL import Image, ImageDraw

from cnncourse.arithmetic import receptive_field, unit_region
from cnncourse.colours import LINES, hex_colour
from cnncourse.data import normalize
from cnncourse.drawing import PreparedDrawing, prepare_drawing
from cnncourse.hooks import conv_layers, layer_outputs
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS

from . import _render as r
from ._first_use import FirstUseTraining
from ._keyboard import tab_passes_canvases
from ._lesson_cnn import TrainedModel
from ._sources import Digits, as_digits, digits
from .base import Explorer
from .receptive_field import region_picture

SIDE = 280  # canvas pixels; 10 per model pixel
SCALE = SIDE // 28
PEN = 22  # stroke width in canvas pixels
BLANK = -1
BAR, BEST = hex_colour(LINES[0]), hex_colour(LINES[1])  # the likeliest digit in orange


def exact(digit: torch.Tensor) -> PreparedDrawing:
    """A 28x28 digit (float in [0, 1]) used as it is: one model pixel is SCALE canvas pixels."""
    image = (digit.clamp(0, 1) * 255).round().to(torch.uint8)
    return PreparedDrawing(image, 1 / SCALE, (0.0, 0.0), (0.0, 0.0))


# ------------------------------------------------------------------ settings and scene


@dataclass(frozen=True)
class DigitSettings:
    example: int
    layer: str
    channel: int
    row: int
    col: int
    drawing: bytes = field(repr=False)  # the canvas, SIDE x SIDE uint8


@dataclass(frozen=True)
class DigitScene:
    """What the CNN sees of the drawing, the selected unit's region, and (once the CNN has
    trained) its prediction and the selected layer's feature maps."""

    settings: DigitSettings
    shape: tuple[int, int, int]  # the layer's maps: channels, height, width
    record: object = field(repr=False)  # the layer's receptive-field record
    region: object
    prepared: PreparedDrawing | None = field(compare=False)
    probabilities: torch.Tensor | None = field(compare=False)
    maps: torch.Tensor | None = field(compare=False, repr=False)
    accuracy: float | None
    training: tuple[int, int] | None  # (steps done, steps in all) while the CNN trains
    waiting: str  # why there is no prediction, if there is none
    note: str = ""  # shown as the explorer's message: why the CNN could not train


# ------------------------------------------------------------------ the explorer


class DrawDigitExplorer(FirstUseTraining, Explorer):
    """Draw a digit with the mouse: prediction, class probabilities, feature maps, and the
    receptive field of one unit on your drawing.

    ``data``: training data for the first-use training (default ``load_mnist()``).
    ``cache_dir``: where trained weights are kept (default: the user cache folder).
    ``images``: digits to start from (default: the validation digits).
    """

    title = "Draw a digit: what does the CNN see, layer by layer?"

    def __init__(self, data=None, cache_dir: str | Path | None = None, images=None) -> None:
        super().__init__()
        self._first_use(data, cache_dir, "cnncourse-draw-digit-training")
        self.digits: Digits = digits() if images is None else as_digits(images)
        self._forward: tuple = (None, None, None)  # (key, probabilities, layer outputs)
        # The architecture is known before training: it fixes the layers and their shapes.
        shape_model = simple_cnn(LESSON_DEFAULTS["channels"])
        self.layer_names = [name for name, _ in conv_layers(shape_model)]
        self.records = {rec.name.split(".")[0]: rec
                        for rec in receptive_field(shape_model, input_size=28)}
        _, outputs = layer_outputs(shape_model, torch.zeros(1, 1, 28, 28))
        self.shapes = {name: tuple(out.shape[1:]) for name, out in outputs.items()}

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
        self._pen: tuple[float, float] | None = None
        self._keep_drawing = False
        self._on_canvas = self.drawing.tobytes()  # the drawing the canvas shows
        c["example"].observe(self._on_example, names="value")  # before the redraw observer

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
        self.prediction = widgets.HTML()
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0, max=1)
        self.bars = bq.Bars(x=list(range(10)), y=np.zeros(10), scales={"x": x_scale,
                                                                        "y": y_scale},
                            colors=[BAR] * 10)
        self.probability_figure = bq.Figure(
            marks=[self.bars], axes=[bq.Axis(scale=x_scale, label="digit"),
                                     bq.Axis(scale=y_scale, side="left", label="probability",
                                             tick_format=".1f", label_offset="36px")],
            fig_margin={"top": 10, "bottom": 40, "left": 55, "right": 10},
            display_toolbar=False, layout=widgets.Layout(width="300px", height="200px"))
        self.seen_image = r.image_widget()
        self.maps_image = r.image_widget()
        self.unit_text = widgets.HTML()
        controls_box = widgets.VBox([
            widgets.HTML("draw with the mouse:"), self.canvas, tab_passes_canvases(),
            self.clear_button, *c.values(),
            self.progress, self.status])
        body = widgets.VBox([
            widgets.HBox([self.prediction, self.probability_figure]),
            widgets.HBox([r.captioned("what the CNN sees (28x28), with the selected unit's "
                                      "receptive field", self.seen_image),
                          r.captioned("the feature maps of the selected layer (selected one "
                                      "outlined)", self.maps_image)]),
            self.unit_text])
        self._assemble(c, controls_box, body)

    # -- the protocol -----------------------------------------------------------------------

    def settings(self) -> DigitSettings:
        c = self.controls
        return DigitSettings(c["example"].value, c["layer"].value, c["channel"].value,
                             c["row"].value, c["col"].value, self.drawing.tobytes())

    def compute(self, settings: DigitSettings) -> DigitScene:
        channels, height, width = self.shapes[settings.layer]
        v = replace(settings, channel=min(settings.channel, channels - 1),
                    row=min(settings.row, height - 1), col=min(settings.col, width - 1))
        rec = self.records[v.layer]
        region = unit_region(rec, v.row, v.col)
        if v.example != BLANK:
            prepared = exact(self.digits.images[v.example])
        else:
            pixels = torch.frombuffer(bytearray(v.drawing), dtype=torch.uint8)
            prepared = prepare_drawing(pixels.reshape(SIDE, SIDE))
        trained = self.trained
        if prepared is None or trained is None:
            waiting = ("draw a digit (or pick one to start from)" if prepared is None
                       else "no CNN to read it" if self._failure
                       else "waiting for the CNN to finish training &hellip;")
            return DigitScene(v, (channels, height, width), rec, region, prepared, None, None,
                              None, self._progress, waiting,
                              self._failure if prepared is not None else "")
        probabilities, outputs = self._predict(prepared, trained)
        return DigitScene(v, (channels, height, width), rec, region, prepared, probabilities,
                          outputs[v.layer], trained.accuracy, None, "")

    def _predict(self, prepared: PreparedDrawing, trained: TrainedModel):
        """The CNN's probabilities and layer outputs, kept while drawing and model stay."""
        key = (prepared.image.numpy().tobytes(), id(trained))
        if self._forward[0] != key:
            x = normalize(prepared.image[None], trained.mean, trained.std)
            logits, outputs = layer_outputs(trained.model, x)
            self._forward = (key, logits.softmax(dim=1)[0],
                             {name: out[0] for name, out in outputs.items()})
        return self._forward[1], self._forward[2]

    def draw(self, scene: DigitScene) -> None:
        c, v = self.controls, scene.settings
        channels, height, width = scene.shape
        # the sliders offer this layer's maps and units (draw runs without redraws)
        c["channel"].max, c["row"].max, c["col"].max = channels - 1, height - 1, width - 1
        if v.drawing != self._on_canvas:
            self._show_on_canvas(v.drawing)
        region = scene.region
        self.unit_text.value = (
            f"unit ({v.row}, {v.col}) of feature {v.channel} in <code>{v.layer}</code> "
            f"({channels} maps of {height}x{width}) sees a {region.height} x {region.width} "
            f"region of the 28x28 input: rows {region.top:g}..{region.bottom:g}, columns "
            f"{region.left:g}..{region.right:g}")
        self._draw_region_on_canvas(scene)
        seen = (scene.prepared.image.float() / 255 if scene.prepared is not None
                else torch.zeros(28, 28))
        r.show(self.seen_image, region_picture(seen, scene.record, v.row, v.col), 2)
        self._draw_training(scene.training)
        p = scene.probabilities
        if p is None:
            self.prediction.value = f"<i>{scene.waiting}</i>"
            with self.bars.hold_sync():
                self.bars.y = np.zeros(10)
                self.bars.colors = [BAR] * 10
            r.show(self.maps_image, r.blank(320, 160, "no feature maps yet"))
            return
        best = int(p.argmax())
        self.prediction.value = (
            f"<div style='font-size:48px;line-height:1'>{best}</div>"
            f"<div>probability {float(p[best]):.1%}</div><small>model: lesson CNN, "
            f"validation accuracy {scene.accuracy:.1%}</small>")
        with self.bars.hold_sync():
            self.bars.y = p.numpy()
            self.bars.colors = [BEST if i == best else BAR for i in range(10)]
        r.show(self.maps_image, r.feature_maps(scene.maps, v.channel, v.row, v.col), 2)

    def _wants_model(self, scene) -> bool:
        return getattr(scene, "prepared", None) is not None

    # -- drawing ----------------------------------------------------------------------------

    def _on_example(self, change: dict) -> None:
        """Starting from an example puts it on the canvas; "blank" clears the canvas, unless
        the pen just started drawing over the example (it is then kept, and yours)."""
        if self._keep_drawing:
            return
        index = change["new"]
        if index == BLANK:
            self.drawing = Image.new("L", (SIDE, SIDE), 0)
        else:
            digit = (self.digits.images[index].clamp(0, 1) * 255).round().to(torch.uint8)
            self.drawing = Image.fromarray(np.kron(digit.numpy(),
                                                   np.ones((SCALE, SCALE), dtype=np.uint8)))

    def _pen_down(self, x: float, y: float) -> None:
        if self.controls["example"].value != BLANK:
            self._keep_drawing = True
            try:
                with self.hold():
                    self.controls["example"].value = BLANK
            finally:
                self._keep_drawing = False
        self._pen = (x, y)
        self._stroke(x, y)

    def _pen_move(self, x: float, y: float) -> None:
        if self._pen is not None:
            self._stroke(x, y)

    def _pen_up(self, x: float, y: float) -> None:
        if self._pen is not None:
            self._pen = None
            self._on_canvas = self.drawing.tobytes()  # the strokes are on the canvas already
            self.update()

    def _stroke(self, x: float, y: float) -> None:
        x0, y0 = self._pen
        self.canvas[0].stroke_line(x0, y0, x, y)
        draw = ImageDraw.Draw(self.drawing)
        draw.line((x0, y0, x, y), fill=255, width=PEN)
        half = PEN / 2
        draw.ellipse((x - half, y - half, x + half, y + half), fill=255)
        self._pen = (x, y)

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through ``points`` (canvas pixels), as the mouse would."""
        if not points:
            return
        self._pen_down(*points[0])
        for x, y in points[1:]:
            self._pen_move(x, y)
        self._pen_up(*points[-1])

    def clear_drawing(self) -> None:
        if self.controls["example"].value != BLANK:
            self.controls["example"].value = BLANK  # its observer clears the drawing
        else:
            self.drawing = Image.new("L", (SIDE, SIDE), 0)
            self.update()

    def _show_on_canvas(self, drawing: bytes) -> None:
        pixels = np.frombuffer(drawing, dtype=np.uint8).reshape(SIDE, SIDE)
        if pixels.any():
            self.canvas[0].put_image_data(np.repeat(pixels[..., None], 3, axis=2), 0, 0)
        else:
            self.canvas[0].fill_rect(0, 0, SIDE, SIDE)
        self._on_canvas = drawing

    def _draw_region_on_canvas(self, scene: DigitScene) -> None:
        overlay, prepared, region = self.canvas[1], scene.prepared, scene.region
        with overlay.hold_sync():
            overlay.clear()
            if prepared is None:
                return
            (x0, y0), (x1, y1) = (prepared.to_drawing(region.left - 0.5, region.top - 0.5),
                                  prepared.to_drawing(region.right + 0.5, region.bottom + 0.5))
            overlay.stroke_style, overlay.line_width = "orange", 3
            overlay.stroke_rect(x0, y0, x1 - x0, y1 - y0)


__all__ = ["DigitScene", "DigitSettings", "DrawDigitExplorer", "exact"]
