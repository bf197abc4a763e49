"""NetworkExplorer: every layer of the lesson CNN on one digit, and one dot product written out.

The overview shows the feature maps of every layer for one validation digit, and the class
scores. Pick a layer, a map and a position (or press play): the kernel slides over the
previous layer, and the window's numbers, the kernel's, their products and the sum plus bias
are written out; that sum is the model's own output at that unit (batch norm and ReLU then
give the block's activation, also written out).

The model is the lessons' CNN, the one DrawDigitExplorer reads drawings with
(``_lesson_cnn``): its cached weights when they exist, else the untrained CNN until the
"train" button has trained it (once per user, in a background thread that touches no widget).
The forward pass runs once per input; its activations are kept, so moving the window, or
changing layer or map, runs no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import ipywidgets as widgets
import torch
from torch import nn

from cnncourse.conv import ConvWindow, conv_window
from cnncourse.hooks import conv_layers, layer_outputs
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS

from . import _render as r
from ._first_use import FirstUseTraining
from ._lesson_cnn import TrainedModel, load_cached
from ._network_draw import draw_scene
from ._sources import Digits, as_digits, digits
from .base import Explorer

INPUT = "input"
DETAIL = {"read": "input map", "window": "window", "kernel": "&times; kernel",
          "products": "= products", "output": "output map"}


@dataclass(frozen=True)
class NetworkSettings:
    example: int
    layer: str
    channel: int
    position: int  # the output unit, row-major: row = position // width
    in_channel: int  # the input map whose window is written out


@dataclass(frozen=True)
class Forward:
    """One forward pass: the normalised input, and per layer what its conv read, what the
    conv gave, what batch norm gave (or None) and the block's output."""

    x: torch.Tensor
    reads: dict
    convs: dict
    norms: dict
    outputs: dict
    probabilities: torch.Tensor


@dataclass(frozen=True)
class NetworkScene:
    settings: NetworkSettings
    key: tuple  # the input and model: the overview and the scores depend on nothing else
    layers: tuple[tuple[str, tuple[int, int, int]], ...]  # every layer's output shape
    image: torch.Tensor = field(compare=False, repr=False)  # the digit, 28x28 in [0, 1]
    label: int
    maps: dict = field(compare=False, repr=False)  # layer -> its outputs (C, H, W)
    source: torch.Tensor = field(compare=False, repr=False)  # what the selected conv read
    conv_map: torch.Tensor = field(compare=False, repr=False)  # its output, the channel
    conv: ConvWindow = field(compare=False)
    row: int
    col: int
    stride: int
    padding: int
    conv_output: float  # the model's own conv output at the unit
    norm: tuple | None  # (mean, var, eps, gamma, beta, the model's output) or None
    activation: float  # the model's own block output at the unit
    computed: float  # batch norm and ReLU applied to the dot product by hand
    relu: bool  # whether the block ends in a ReLU
    probabilities: torch.Tensor = field(compare=False, repr=False)
    trained: bool
    accuracy: float | None
    note: str = ""


class NetworkExplorer(FirstUseTraining, Explorer):
    """The lesson CNN on one digit: every layer's maps, the class scores, and the kernel
    sliding over the previous layer with its dot product written out.

    ``model``: a ``TrainedModel`` (or a ``simple_cnn``) to show instead of the lesson CNN.
    ``data``: training data for the lesson CNN (default ``load_mnist()``); ``cache_dir``:
    where its weights are kept (default: DrawDigitExplorer's); ``images``: the digits to pick
    from (default: the validation digits).
    """

    title = "Inside the CNN: every layer, and the dot product behind one unit"

    def __init__(self, model: TrainedModel | nn.Module | None = None, data=None,
                 cache_dir: str | Path | None = None, images=None) -> None:
        super().__init__()
        self._first_use(data, cache_dir, "cnncourse-network-training")
        self.digits: Digits = digits() if images is None else as_digits(images)
        self.trained = self._start_model(model)
        self._forwards: dict[tuple, Forward] = {}
        self._rows: dict[tuple, dict] = {}  # per input: overview row pictures, scores
        self._set_layers()

        c = {
            "example": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                         description="digit #", continuous_update=False),
            "layer": widgets.Dropdown(options=self.layer_names, description="layer"),
            "channel": widgets.IntSlider(0, 0, 0, description="map"),
            "position": widgets.IntSlider(0, 0, 0, description="position"),
            "in_channel": widgets.IntSlider(0, 0, 0, description="input map"),
        }
        self.play = widgets.Play(0, 0, 0, interval=400, description="slide the kernel")
        widgets.link((self.play, "value"), (c["position"], "value"))
        self.train_button = widgets.Button(description="train the lesson CNN", icon="play")
        self.train_button.on_click(lambda _: self.train())
        self.status.layout.width = "260px"
        self.row_images = {name: r.image_widget() for name in [INPUT, *self.layer_names]}
        self.row_labels = {name: widgets.HTML() for name in self.row_images}
        self.scores_image = r.image_widget()
        self.prediction = widgets.HTML()
        self.detail_images = {name: r.image_widget() for name in DETAIL}
        self.detail_captions = {name: widgets.HTML(text) for name, text in DETAIL.items()}
        self._row_keys: dict[str, tuple] = {}  # what each overview row shows now
        self._kernel_key: tuple | None = None  # which kernel the detail shows now
        self.sums = widgets.HTML()
        overview = widgets.VBox([widgets.HBox([self.row_labels[n], self.row_images[n]])
                                 for n in self.row_images])
        for label in self.row_labels.values():
            label.layout.width = "170px"
        controls_box = widgets.VBox([*c.values(), self.play, self.train_button, self.progress,
                                     self.status])
        body = widgets.VBox([
            widgets.HBox([r.captioned("every layer's feature maps (each on its own scale; "
                                      "orange: the selected map, blue: the map it reads)",
                                      overview),
                           r.captioned("class scores (softmax)", widgets.VBox(
                               [self.scores_image, self.prediction]))]),
            widgets.HTML("<b>the kernel on the previous layer: one output value</b>"),
            widgets.HBox([widgets.VBox([self.detail_captions[n], self.detail_images[n]],
                                       layout=widgets.Layout(margin="0 12px 0 0"))
                          for n in DETAIL]),
            self.sums])
        self._assemble(c, controls_box, body)

    # -- the model --------------------------------------------------------------------------

    def _start_model(self, model) -> TrainedModel:
        if isinstance(model, TrainedModel):
            return model
        if isinstance(model, nn.Module):
            return TrainedModel(model.eval(), 0.0, 1.0, float("nan"), "your model")
        if model is not None:
            raise TypeError(f"model must be a TrainedModel or an nn.Module, got "
                            f"{type(model).__name__}")
        cached = load_cached(self.cache_dir, self.data, self.recipe)
        if cached is not None:
            return cached
        images = torch.as_tensor(self.data.train_x[:4096]).float() / 255
        untrained = simple_cnn(LESSON_DEFAULTS["channels"], seed=0).eval()
        return TrainedModel(untrained, float(images.mean()), float(images.std()),
                            float("nan"), "untrained")

    def _set_layers(self) -> None:
        model = self.trained.model
        self.blocks = dict(conv_layers(model))
        self.layer_names = list(self.blocks)
        self.convs = {}
        for name, block in self.blocks.items():
            conv = block if isinstance(block, nn.Conv2d) else next(
                m for m in block.modules() if isinstance(m, nn.Conv2d))
            norm = next((m for m in block.modules() if isinstance(m, nn.BatchNorm2d)), None)
            self.convs[name] = (conv, norm)

    @property
    def is_trained(self) -> bool:
        return self.trained.source != "untrained"

    def train(self) -> bool:
        """Train the lesson CNN in the background (once per user); False if it is trained
        already or training."""
        if self.is_trained or self._worker.running:
            return False
        self._progress, self._failure = (0, 1), ""
        self._worker.start(self._train)
        self.update()
        return True

    def _wants_model(self, scene) -> bool:
        """Never train on opening: the untrained CNN is shown until ``train()``."""
        return False

    def _receive(self, item) -> None:
        """On the main thread: as FirstUseTraining, with the trained model's layers read
        before the redraw."""
        if isinstance(item, TrainedModel):
            self.trained = item
            # The caches are keyed by id(self.trained); the untrained model's id may be reused.
            self._forwards.clear()
            self._rows.clear()
            self._set_layers()
        super()._receive(item)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the training to end; True if the CNN is trained."""
        super().wait(timeout)
        return self.is_trained

    # -- the protocol -----------------------------------------------------------------------

    def settings(self) -> NetworkSettings:
        c = self.controls
        return NetworkSettings(c["example"].value, c["layer"].value, c["channel"].value,
                               c["position"].value, c["in_channel"].value)

    def forward(self, example: int) -> Forward:
        """The forward pass on digit ``example``, run once per digit and model."""
        key = (example, id(self.trained))
        if key not in self._forwards:
            t = self.trained
            x = ((self.digits.images[example] - t.mean) / t.std)[None, None]
            hooked = []
            for name, block in self.blocks.items():
                conv, norm = self.convs[name]
                hooked += [(name, block), (f"{name}.conv", conv)]
                hooked += [(f"{name}.bn", norm)] if norm is not None else []
            logits, found = layer_outputs(t.model, x, hooked)
            names, reads, previous = self.layer_names, {}, x[0]
            for name in names:
                reads[name], previous = previous, found[name][0]
            if len(self._forwards) >= 16:
                self._forwards.clear()
            self._forwards[key] = Forward(
                x[0], reads, {n: found[f"{n}.conv"][0] for n in names},
                {n: found[f"{n}.bn"][0] if f"{n}.bn" in found else None for n in names},
                {n: found[n][0] for n in names}, logits.reshape(-1).softmax(0))
        return self._forwards[key]

    def compute(self, settings: NetworkSettings) -> NetworkScene:
        n = len(self.digits.images)
        if not 0 <= settings.example < n:
            raise ValueError(f"example must be a digit number 0..{n - 1}, got "
                             f"{settings.example}")
        if settings.layer not in self.blocks:
            raise ValueError(f"layer must be one of {', '.join(self.layer_names)}, got "
                             f"{settings.layer!r}")
        for name in ("channel", "position", "in_channel"):
            if getattr(settings, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(settings, name)}")
        f = self.forward(settings.example)
        conv, norm = self.convs[settings.layer]
        out = f.convs[settings.layer]
        channels, height, width = out.shape
        source = f.reads[settings.layer]
        v = replace(settings, channel=min(settings.channel, channels - 1),
                    position=min(settings.position, height * width - 1),
                    in_channel=min(settings.in_channel, source.shape[0] - 1))
        row, col = divmod(v.position, width)
        w = conv_window(source, conv.weight.detach(), None if conv.bias is None
                        else conv.bias.detach(), (row, col), v.channel, conv.stride,
                        conv.padding, conv.dilation)
        activation = float(f.outputs[settings.layer][v.channel, row, col])
        computed, norm_parts = w.value, None
        if norm is not None:
            mean, var = float(norm.running_mean[v.channel]), float(norm.running_var[v.channel])
            gamma = float(norm.weight.detach()[v.channel])
            beta = float(norm.bias.detach()[v.channel])
            computed = (w.value - mean) / (var + norm.eps) ** 0.5 * gamma + beta
            norm_parts = (mean, var, norm.eps, gamma, beta,
                          float(f.norms[settings.layer][v.channel, row, col]))
        relu = any(isinstance(m, nn.ReLU) for m in self.blocks[settings.layer].modules())
        if relu:
            computed = max(computed, 0.0)
        t = self.trained
        return NetworkScene(
            v, (settings.example, id(t)),
            tuple((name, tuple(f.outputs[name].shape)) for name in self.layer_names),
            self.digits.images[settings.example], int(self.digits.labels[settings.example]),
            f.outputs, source, out[v.channel], w, row, col, int(conv.stride[0]),
            int(conv.padding[0]), float(out[v.channel, row, col]), norm_parts, activation,
            computed, relu, f.probabilities, self.is_trained,
            t.accuracy if self.is_trained else None, self._failure)

    def draw(self, scene: NetworkScene) -> None:
        draw_scene(self, scene)

    def clear(self) -> None:
        for widget in self.detail_images.values():
            r.show(widget, r.blank(120, 120, "no picture"))
        self._kernel_key = None
        self.sums.value = ""


__all__ = ["Forward", "NetworkExplorer", "NetworkScene", "NetworkSettings"]
