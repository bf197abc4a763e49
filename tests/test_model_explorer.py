"""ModelExplorer: its table, fields and feature maps are the engine's and the model's own, a
layer change does not run the model again, and every bad input is explained while the last good
view stays."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from cnncourse.arithmetic import receptive_field, shape_table
from cnncourse.explorers import ALL, ModelExplorer, Problem, control_range
from cnncourse.explorers.model import BUILTIN, DIGIT, YOUR_MODEL, ModelScene
from cnncourse.inspection import layer_outputs
from cnncourse.models import simple_cnn
from cnncourse.receptive import layer_fields

from .explorer_tools import control_values, other_value, snapshot


class Residual(nn.Module):
    """A small branching model whose ReLU is called twice, once after the add."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.relu(self.stem(x))
        x = self.relu(x + self.conv2(self.relu(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class Untraceable(nn.Module):
    """Control flow on values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 3, 5)
        self.b = nn.Conv2d(3, 3, 3, stride=2)

    def forward(self, x):
        if x.sum() > -1e9:
            x = self.a(x)
        return self.b(x)


class NeedsMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x, mask):
        return self.conv(x) * mask


def png(array: np.ndarray) -> bytes:
    """PNG bytes: 8-bit grey, RGB or RGBA by the array's shape; 16-bit grey from uint16."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert data[24] == (16 if array.dtype == np.uint16 else 8)  # the IHDR chunk's bit depth
    return data


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def leaf_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """What every leaf layer outputs, in the order they run, by torch's own hooks (copied at
    once: in-place operations such as ResNet's "out += identity" change them later)."""
    outs = []
    handles = [m.register_forward_hook(lambda m, i, o: outs.append(o.detach().clone()))
               for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return outs


def counting(model: nn.Module) -> list:
    calls = []
    model.register_forward_pre_hook(lambda m, i: calls.append(1))
    return calls


def test_the_engine_gives_a_field_per_call_and_every_leafs_output():
    model = Residual()
    fields = layer_fields(model, 32)
    relu = [f.rf for f in fields if f.name == "relu"]
    assert relu == [3, 5, 7] and [f.name for f in fields][-1] == "fc" and fields[-1].whole
    x = torch.rand(1, 3, 32, 32)
    outputs = layer_outputs(model, x, channels=2)
    assert [o.name for o in outputs] == [r.name for r in shape_table(model, (3, 32, 32))]
    assert outputs[2].shape == (1, 4, 32, 32)
    assert torch.equal(outputs[2].values, model.conv1(model.relu(model.stem(x)))[0, :2])


@pytest.fixture(scope="module")
def explorer():
    return ModelExplorer()


def test_it_is_listed_and_opens_on_the_lesson_cnn_with_the_engines_table(explorer):
    assert ALL["ModelExplorer"] is ModelExplorer
    for widget in explorer.controls.values():
        control_range(widget)
    scene = explorer.scene
    assert isinstance(scene, ModelScene) and explorer.message == ""
    model = simple_cnn(seed=0)
    table = shape_table(model, (1, 28, 28))
    assert list(scene.rows) == list(table) and scene.macs == table.macs == 248_864
    assert [f.rf for f in scene.fields] == [f.rf for f in layer_fields(model, 28)
                                             if f.name in {r.name for r in table}]
    digit = explorer.digits.images[0]
    x = (digit[None, None] - 0.1307) / 0.3081
    assert torch.allclose(scene.maps, leaf_outputs(model, x)[0][0, :16], atol=1e-5)
    assert scene.unit == (7, 7) and scene.region.height == 5  # block1: a 5x5 kernel


@pytest.mark.parametrize(("name", "size", "layer", "rf"), [
    ("resnet18", 64, "layer4.1.bn2", 435), ("mobilenet_v2", 64, "features.7.conv.2", 75),
    ("googlenet", 64, "inception3b.branch4.1.conv", 59), ("alexnet", 96, "features.5", 67),
    ("efficientnet_b0", 64, "features.3.1.block.3.1", 67)])
def test_torchvision_scenes_hold_the_models_own_maps_and_the_graphs_fields(
        explorer, name, size, layer, rf):
    with explorer.hold():
        explorer.controls["model"].value = name
        explorer.controls["image"].value = BUILTIN
        explorer.controls["input_size"].value = size
    scene = explorer.scene
    assert isinstance(scene, ModelScene), explorer.message
    model = explorer._model(name)
    assert list(scene.rows) == list(shape_table(model, (3, size, size)))
    row = next(i for i, r in enumerate(scene.rows) if r.name == layer)
    explorer.controls["layer"].value = row
    scene = explorer.scene
    assert scene.field.rf == rf == receptive_field(model, input_size=size, at=layer).rf
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    outs = leaf_outputs(model, ((scene.picture - mean) / std)[None])
    assert torch.allclose(scene.maps, outs[row][0, :16], atol=1e-4)
    assert scene.unit == (scene.row.out_shape[2] // 2, scene.row.out_shape[3] // 2)


def test_a_custom_branching_model_has_one_field_per_call():
    model = Residual()
    explorer = ModelExplorer(model=model, input_size=32)
    scene = explorer.scene
    assert explorer.settings().model == YOUR_MODEL and isinstance(scene, ModelScene)
    names = [r.name for r in scene.rows]
    assert names == ["stem", "relu", "conv1", "relu", "conv2", "relu", "pool", "fc"]
    # the shared ReLU: 3 after the stem, 5 after conv1, and 7 after the add (the union of the
    # shortcut's 3 and the branch's 7)
    assert [scene.fields[i].rf for i in (1, 3, 5)] == [3, 5, 7]
    assert scene.fields[6].whole and scene.fields[7].whole
    explorer.controls["layer"].value = 7
    assert explorer.scene.maps.shape == (2,) and explorer.scene.region is None
    assert torch.allclose(explorer.scene.maps, leaf_outputs(model, explorer.scene.picture[None])
                          [-1][0])


def test_a_layer_change_only_redraws(explorer):
    with explorer.hold():
        explorer.controls["model"].value = "resnet18"
        explorer.controls["image"].value = DIGIT
        explorer.controls["input_size"].value = 64
        explorer.controls["layer"].value = 1
    model = explorer._model("resnet18")
    calls = counting(model)
    before = snapshot(explorer)
    for layer in (3, 17, 30, 0):
        explorer.controls["layer"].value = layer
        assert explorer.scene.settings.layer == layer
    assert calls == [] and snapshot(explorer) != before
    explorer.controls["index"].value = 5  # another image runs the model once
    assert len(calls) == 1
    explorer.controls["index"].value = 0  # and the first one is still cached
    explorer.controls["layer"].value = 12
    assert len(calls) == 1


def test_an_input_size_too_small_names_the_layer_and_keeps_the_view(explorer):
    with explorer.hold():
        explorer.controls["model"].value = "alexnet"
        explorer.controls["input_size"].value = 96
    assert isinstance(explorer.scene, ModelScene)
    shown, before = explorer.scene, snapshot(explorer, with_message=False)
    explorer.controls["input_size"].value = 28
    assert isinstance(explorer.scene, Problem)
    message = explorer.message
    assert message.startswith("input_size") and "'features.5'" in message and "224" in message
    assert explorer.shown is shown and snapshot(explorer, with_message=False) == before
    explorer.controls["input_size"].value = 224
    assert isinstance(explorer.scene, ModelScene) and "input_size" not in explorer.message


def upload(explorer: ModelExplorer, data: bytes, name: str) -> None:
    explorer.upload.value = ({"name": name, "type": "image/png", "size": len(data),
                              "content": memoryview(data),
                              "last_modified": datetime.now(timezone.utc)},)


@pytest.fixture()
def small():
    explorer = ModelExplorer(model=Residual(), input_size=32)
    explorer.controls["image"].value = BUILTIN
    return explorer


def test_uploads_of_every_kind_become_the_models_input(small):
    y, x = np.mgrid[0:48, 0:64]
    grey16 = (x * 1000 + y * 10).astype(np.uint16)  # up to 63,470: uses the 16 bits
    upload(small, png(grey16), "deep.png")
    scene = small.scene
    assert scene.settings.image == "file: deep.png" and small.pictures["file: deep.png"]
    pixels = small.pictures["file: deep.png"].pixels
    assert pixels.shape == (1, 48, 64) and torch.allclose(
        pixels[0], torch.from_numpy(grey16 / 65535).float(), atol=1e-6)
    assert scene.picture.shape == (3, 32, 32) and "grey repeated" in small.message
    assert "centre square" in small.message

    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0], rgba[10:30, 10:30, 3] = 255, 255  # a red square, transparent around
    upload(small, png(rgba), "clear.png")
    pixels = small.pictures["file: clear.png"].pixels
    assert torch.allclose(pixels[:, 0, 0], torch.ones(3))  # transparent: white
    assert torch.allclose(pixels[:, 20, 20], torch.tensor([1.0, 0.0, 0.0]))
    assert "transparent" in small.message

    photo = np.zeros((30, 50, 3), dtype=np.uint8)
    photo[..., 1] = 200
    upload(small, jpeg(photo), "green.jpg")
    assert small.scene.settings.image == "file: green.jpg"
    assert float(small.scene.picture[1].mean()) > 0.7 > float(small.scene.picture[0].mean())

    grey = (np.arange(20 * 20).reshape(20, 20) % 256).astype(np.uint8)
    upload(small, png(grey), "grey.png")
    assert small.pictures["file: grey.png"].pixels.shape == (1, 20, 20)
    assert list(small.controls["image"].options)[:2] == [DIGIT, BUILTIN]


def test_a_huge_photo_is_shrunk_with_a_note(small):
    y, x = np.mgrid[0:4000, 0:6000].astype(np.uint16)
    photo = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    small.load_image(jpeg(photo), "big.jpg")
    pixels = small.pictures["file: big.jpg"].pixels
    assert max(pixels.shape[1:]) == 1024 and pixels.shape[0] == 3
    assert "6000 x 4000" in small.message and "shrunk" in small.message
    assert small.scene.picture.shape == (3, 32, 32)


@pytest.mark.parametrize("data", [b"", b"this is not an image", png(np.zeros((4, 4),
                                                                         np.uint8))[:30]])
def test_bytes_that_are_no_image_are_explained_and_the_view_stays(small, data):
    scene, before = small.scene, snapshot(small, with_message=False)
    upload(small, data, "notes.txt")
    assert small.scene is scene and snapshot(small, with_message=False) == before
    assert small.message.startswith("upload: 'notes.txt'") and "PNG or JPEG" in small.message
    assert "file: notes.txt" not in small.controls["image"].options


def test_a_model_that_cannot_be_traced_is_measured_and_says_so():
    model = Untraceable()
    explorer = ModelExplorer(model=model, input_size=28)
    explorer.controls["layer"].value = 1
    scene = explorer.scene
    assert isinstance(scene, ModelScene)
    assert "measured by gradients" in explorer.message and "torch.fx" in explorer.message
    assert scene.field.rf == 7 and scene.field.jump == 2  # 5 + (3 - 1) * 1; stride 2
    assert scene.row.out_shape == (1, 3, 11, 11) and scene.region.height == 7
    explorer = ModelExplorer(model=model, input_size=4)  # a 5x5 kernel on 4x4 pixels
    assert isinstance(explorer.scene, Problem)
    assert "layer 'a'" in explorer.message and "larger input size" in explorer.message


@pytest.mark.parametrize(("model", "words"), [
    (NeedsMask(), ["model", "'mask'", "forward(x)"]),
    (simple_cnn().to("meta"), ["model", "'meta'", "real weights"]),
    ("resnet", ["model must be an nn.Module"]),
])
def test_a_model_that_cannot_run_on_an_image_is_explained(model, words):
    explorer = ModelExplorer(model=model)
    assert isinstance(explorer.scene, Problem)
    assert all(w in explorer.message for w in words), explorer.message
    explorer.controls["model"].value = "lesson CNN"  # the other models still work
    assert isinstance(explorer.scene, ModelScene) and explorer.message == ""


def test_a_wrong_input_size_for_your_model_is_refused_in_words():
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        ModelExplorer(model=Residual(), input_size=(32, 32))


def test_a_model_on_several_devices_or_in_another_dtype():
    mixed = simple_cnn()
    mixed.head.to("meta")
    explorer = ModelExplorer(model=mixed, input_size=28)
    assert "several devices" in explorer.message and "model.to('cpu')" in explorer.message
    double = simple_cnn(seed=1).double()
    explorer = ModelExplorer(model=double, input_size=28)
    assert isinstance(explorer.scene, ModelScene)  # the image follows the model's dtype
    x = explorer.scene.picture[None].double()
    assert torch.allclose(explorer.scene.maps, leaf_outputs(double, x)[0][0, :16].float(),
                          atol=1e-5)


@pytest.mark.parametrize("control", ["model", "image", "index", "input_size", "layer"])
def test_each_control_changes_what_the_view_shows(control):
    explorer = ModelExplorer()
    before = snapshot(explorer, with_message=False)
    explorer.controls[control].value = other_value(explorer, control)
    assert isinstance(explorer.scene, ModelScene), explorer.message
    assert snapshot(explorer, with_message=False) != before


FUZZ_MODELS = [YOUR_MODEL, "lesson CNN", "resnet18"]


@pytest.fixture(scope="module")
def fuzzed():
    explorer = ModelExplorer(model=Residual(), input_size=32)
    return explorer, {name: w.value for name, w in explorer.controls.items()}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_setting_crashes_and_the_scene_belongs_to_the_controls(fuzzed, data):
    explorer, defaults = fuzzed
    with explorer.hold():  # every example starts from the opening settings
        for name, value in defaults.items():
            explorer.controls[name].value = value
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        control = data.draw(st.sampled_from(sorted(explorer.controls)), label="control")
        if control == "model":
            value = data.draw(st.sampled_from(FUZZ_MODELS), label="model")
        elif control == "input_size" and explorer.controls["model"].value == "resnet18":
            value = data.draw(st.sampled_from([8, 16, 28, 32]), label="size")  # kept small
        else:
            value = data.draw(control_values(explorer, control), label=control)
        explorer.controls[control].value = value
        if explorer.controls["model"].value == "resnet18" and (
                explorer.controls["input_size"].value > 32):
            explorer.controls["input_size"].value = 32
        assert explorer.scene.settings == explorer.settings()
        assert isinstance(explorer.scene, ModelScene), explorer.message
        layer = explorer.scene.settings.layer
        assert explorer.scene.row == explorer.scene.rows[layer]
        assert explorer.controls["layer"].value == layer
