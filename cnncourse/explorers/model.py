"""ModelExplorer: any PyTorch model's layers, their cost, receptive fields and feature maps.

Pick a torchvision architecture (built untrained: nothing is downloaded), the lesson CNN, or
pass your own ``nn.Module``. The table lists every leaf layer as it runs (``shape_table``:
output shape, parameters, multiply-adds) with the receptive field of its output
(``receptive.layer_fields``, on the model's ``torch.fx`` graph; measured by gradients for a
model that cannot be traced). Choosing a layer draws the region its centre unit sees on the
image and that layer's first feature maps for the image.

Images: an MNIST digit, a built-in picture, or your own PNG or JPEG (``FileUpload``, or
``explorer.load_image(data, name)``), made into the model's channels and input size. The
model runs once per (model, image, input size); choosing another layer only redraws.

Bad input never takes the view away. A file that cannot be read is explained and the scene
stays as it was. A setting that cannot be shown (an input size at which a layer's map
vanishes, a model that cannot run on an image) gives a ``Problem`` scene, as in every
explorer, while the pictures of the last good scene, ``explorer.shown``, stay beside the
message.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import ipywidgets as widgets
import torch
from torch import nn

from cnncourse.arithmetic import ReceptiveField, Region, receptive_field, unit_region
from cnncourse.inspection import (
    ARCHITECTURES,
    Architecture,
    LayerOutput,
    build,
    check_model,
    input_channels,
    layer_outputs,
)
from cnncourse.receptive import layer_fields
from cnncourse.shapes import ShapeRow, shape_table
from cnncourse.tracing import TraceFailed

from . import _model_view as view
from ._images import Picture, builtin_picture, decode, model_input
from ._sources import Digits, digits
from .base import Explorer

YOUR_MODEL = "your model"
DIGIT = "MNIST digit"
BUILTIN = "built-in picture"
SIZES = (8, 16, 28, 32, 64, 96, 128, 160, 224, 256, 299)
MAPS = 16  # feature maps shown: the layer's first channels
KEPT = 8  # cached tables (the least recently used go first)
RUNS = 4  # cached runs: 11-18 MiB each at 224 (16 maps of every layer of ResNet-50, VGG-16)
UPLOADS = 8


@dataclass(frozen=True)
class ModelSettings:
    model: str
    image: str
    index: int  # the MNIST digit
    input_size: int
    layer: int  # row of the layer table


@dataclass(frozen=True, eq=False)
class ModelScene:
    """The layer table, and for the chosen layer its field and feature maps on the image."""

    settings: ModelSettings  # layer kept inside the table
    rows: tuple[ShapeRow, ...]
    params: int
    macs: int
    fields: tuple[ReceptiveField | None, ...]  # one per row (None: not known)
    picture: torch.Tensor  # (C, S, S) in [0, 1]: what the model is given, before standardising
    maps: torch.Tensor | None  # the chosen layer's first channels: (n, h, w), or (F,)
    unit: tuple[int, int] | None  # the unit whose region is drawn (the centre one)
    region: Region | None
    note: str = ""

    @property
    def row(self) -> ShapeRow:
        return self.rows[self.settings.layer]

    @property
    def field(self) -> ReceptiveField | None:
        return self.fields[self.settings.layer]


class _Recent(OrderedDict):
    """A dictionary that keeps its ``size`` most recently used entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class ModelExplorer(Explorer):
    """Shapes, cost, receptive fields and feature maps of a model's layers on an image.

    ``model``: your own ``nn.Module`` (listed first, as "your model"); its input channels are
    those of its first ``Conv2d``, and it is shown first at ``input_size``.
    """

    title = "Inside a model: every layer's shape, cost, receptive field and feature maps"

    def __init__(self, model: nn.Module | None = None, input_size: int = 224) -> None:
        super().__init__()
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"input_size must be a positive int, the side of the square "
                             f"image your model is given, e.g. 224; got {input_size!r}")
        self.digits: Digits = digits()
        self.user_model, self.user_size = model, input_size
        self.pictures: dict[str, Picture] = {}
        self._models = _Recent(3)
        self._tables, self._runs = _Recent(KEPT), _Recent(RUNS)
        self._measured: dict = {}
        self.shown: ModelScene | None = None  # the last scene drawn: a problem leaves it shown
        names = ([YOUR_MODEL] if model is not None else []) + list(ARCHITECTURES)
        sizes = sorted({*SIZES, input_size})
        c = {
            "model": widgets.Dropdown(options=names, value=names[0], description="model"),
            "image": widgets.Dropdown(options=[DIGIT, BUILTIN], value=DIGIT,
                                      description="image"),
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1,
                                       description="digit #", continuous_update=False),
            "input_size": widgets.Dropdown(options=sizes, value=self._size_of(names[0]),
                                           description="input size"),
            "layer": widgets.Dropdown(options=[("0", 0)], value=0, description="layer",
                                      layout=widgets.Layout(width="340px")),
        }
        self.link_presets("model", lambda name: {"input_size": self._size_of(name)},
                          linked=(), custom="(none)")
        self.upload = widgets.FileUpload(accept=".png,.jpg,.jpeg,image/png,image/jpeg",
                                         multiple=False, description="your image")
        self.upload.observe(self._on_upload, names="value")
        self.table, self.caption = widgets.HTML(), widgets.HTML()
        self.field_image, self.maps_image = view.image_widgets()
        body = view.layout(self.table, self.caption, self.field_image, self.maps_image)
        controls_box = widgets.VBox([*c.values(), self.upload, widgets.HTML(
            "<small>PNG or JPEG, any size, colour or grey</small>")])
        self._assemble(c, controls_box, body)

    def _size_of(self, name: str) -> int:
        if name == YOUR_MODEL:
            return self.user_size
        return ARCHITECTURES[name].input_size

    # -- images -----------------------------------------------------------------------------

    def load_image(self, data: bytes, name: str = "your image") -> bool:
        """Add PNG or JPEG ``data`` to the images and show it; False (and the reason shown,
        the view kept) if it cannot be read."""
        try:
            picture = decode(data, name)
        except ValueError as err:
            self._show_message(str(err))
            return False
        key = f"file: {name}"
        self.pictures.pop(key, None)
        self.pictures[key] = picture
        while len(self.pictures) > UPLOADS:
            self.pictures.pop(next(iter(self.pictures)))
        for cached in [k for k in self._runs if k[1] == key]:  # the same name, new content
            del self._runs[cached]
        image = self.controls["image"]
        with self._quietly():
            image.options = [DIGIT, BUILTIN, *self.pictures]
        image.value = key  # a change from the first option: one redraw
        return True

    def _on_upload(self, change: dict) -> None:
        if not change["new"]:
            return
        for item in change["new"]:
            self.load_image(bytes(item["content"]), item.get("name", "your image"))
        self.upload.value = ()  # ready for the next file; what it held is in the images

    def _picture(self, v: ModelSettings) -> tuple[tuple, Picture]:
        if v.image == DIGIT:
            index = min(v.index, len(self.digits.images) - 1)
            return (DIGIT, index), Picture(self.digits.images[index][None].float())
        if v.image == BUILTIN:
            return (BUILTIN,), builtin_picture()
        if v.image not in self.pictures:
            raise ValueError(f"image: {v.image!r} is no longer loaded; upload it again or "
                             f"choose {DIGIT!r}")
        return (v.image,), self.pictures[v.image]

    # -- the model, its table and its run, each cached -----------------------------------------

    def _model(self, name: str) -> nn.Module:
        if name == YOUR_MODEL:
            return self.user_model
        return self._models.get_or(name, lambda: build(name))

    def _table(self, name: str, model: nn.Module, size: int, channels: int) -> tuple:
        """Rows, totals, and the field of each row's output."""
        def make():
            check_model(model)
            try:
                fields = layer_fields(model, size)
                note = ""
            except TraceFailed as failure:
                fields, note = None, f"receptive fields are measured by gradients, since {failure}"
            table = shape_table(model, (channels, size, size))
            return tuple(table), table.params, table.macs, _by_call(table, fields), note
        return self._tables.get_or((name, size), make)

    def _field(self, name: str, model: nn.Module, size: int, row: ShapeRow) -> ReceptiveField:
        """A row's field measured by gradients (for a model that cannot be traced)."""
        key = (name, size, row.name)
        if key not in self._measured:
            try:
                self._measured[key] = receptive_field(model, input_size=size, at=row.name)
            except ValueError as err:
                self._measured[key] = ReceptiveField(row.name, *[None] * 8, note=str(err))
        return self._measured[key]

    # -- settings -> scene -> view ------------------------------------------------------------

    def settings(self) -> ModelSettings:
        return ModelSettings(**{name: w.value for name, w in self.controls.items()})

    def compute(self, settings: ModelSettings) -> ModelScene:
        v = settings
        model = self._model(v.model)
        spec = ARCHITECTURES.get(v.model)
        if spec is None:  # your own model: why it cannot run, before anything runs
            check_model(model)
        channels = spec.in_channels if spec else input_channels(model)
        try:
            rows, params, macs, fields, note = self._table(v.model, model, v.input_size,
                                                           channels)
        except ValueError as err:
            raise ValueError(_with_size_advice(str(err), v.model)) from None
        if not rows:
            raise ValueError("model: it has no layers to show")
        image_key, picture = self._picture(v)
        try:
            pixels, changed, outputs = self._runs.get_or(
                (v.model, image_key, v.input_size),
                lambda: _run(model, picture, channels, v.input_size, spec))
        except ValueError as err:
            raise ValueError(_with_size_advice(str(err), v.model)) from None
        layer = min(max(v.layer or 0, 0), len(rows) - 1)
        if fields is None:
            fields = tuple(self._field(v.model, model, v.input_size, row) if i == layer
                           else self._measured.get((v.model, v.input_size, row.name))
                           for i, row in enumerate(rows))
        out = outputs[layer] if layer < len(outputs) else None
        maps = out.values if out is not None else None
        unit, region = _centre_region(fields[layer], out)
        notes = [picture.note, f"image: {changed}" if changed else "", note,
                 fields[layer].note if fields[layer] is not None else ""]
        return ModelScene(replace(v, layer=layer), rows, params, macs, fields, pixels, maps,
                          unit, region, "; ".join(n for n in notes if n))

    def draw(self, scene: ModelScene) -> None:
        layer = self.controls["layer"]
        options = view.layer_options(scene.rows)
        if tuple(layer.options) != options:
            layer.options = options
        layer.value = scene.settings.layer
        self.controls["index"].disabled = scene.settings.image != DIGIT
        self.table.value = view.table(scene)
        self.caption.value = view.caption(scene)
        view.show_pictures(scene, self.field_image, self.maps_image)
        self.shown = scene

    def clear(self) -> None:
        """Keep the last good view: only the message (shown by the base class) changes."""


def _run(model: nn.Module, picture: Picture, channels: int, size: int,
         spec: Architecture | None) -> tuple[torch.Tensor, str, list[LayerOutput]]:
    """The model's input for ``picture`` (before standardising), what was done to make it,
    and every layer's output for it."""
    pixels, changed = model_input(picture.pixels, channels, size)
    x = pixels[None]
    if spec is not None:  # standardised as the architecture's training data was
        mean, std = (torch.tensor(t)[:, None, None] for t in (spec.mean, spec.std))
        x = (x - mean) / std
    return pixels, changed, layer_outputs(model, x, MAPS)


def _with_size_advice(message: str, name: str) -> str:
    """A size error, with the input size the architecture was made for."""
    if not message.startswith(("input_size", "input_shape")):
        return message
    usual = (f" (this model's usual one is {ARCHITECTURES[name].input_size})"
             if name in ARCHITECTURES else "")
    return f"{message.rstrip('.')}. Choose a larger input size{usual}"


def _by_call(rows, fields: list[ReceptiveField] | None) -> tuple | None:
    """The field of each row's output: the k-th call of a layer is its k-th record."""
    if fields is None:
        return None
    calls: dict[str, list[ReceptiveField]] = {}
    for record in fields:
        calls.setdefault(record.name, []).append(record)
    seen: dict[str, int] = {}
    matched = []
    for row in rows:
        k = seen[row.name] = seen.get(row.name, -1) + 1
        records = calls.get(row.name, [])
        matched.append(records[k] if k < len(records) else None)
    return tuple(matched)


def _centre_region(field: ReceptiveField | None, out: LayerOutput | None) -> tuple:
    """The centre unit of a layer's maps and the input region it sees, when both are known."""
    if field is None or out is None or len(out.shape) != 4 or field.rf is None or (
            field.jump is None or field.start is None):
        return None, None
    unit = (out.shape[2] // 2, out.shape[3] // 2)
    try:
        return unit, unit_region(field, *unit)
    except ValueError:  # the record's size disagrees with the run's
        return unit, None


__all__ = ["ModelExplorer", "ModelScene", "ModelSettings"]
