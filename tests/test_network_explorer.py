"""NetworkExplorer: its scenes are the model's own activations, the dot product it writes out
is the model's output at that unit, bad settings give a Problem, and moving the window runs no
model."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnncourse.data import ImageData, load_mnist
from cnncourse.explorers import ALL, Problem
from cnncourse.explorers._lesson_cnn import TrainedModel, load_cached
from cnncourse.explorers.network import NetworkExplorer, NetworkSettings
from cnncourse.hooks import layer_outputs
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS

from .explorer_tools import control_values, snapshot

MEAN, STD = 0.13, 0.31


def _model() -> TrainedModel:
    """The lesson CNN with made-up batch-norm statistics, so that batch norm is not the
    identity and the test sees its arithmetic."""
    model = simple_cnn(LESSON_DEFAULTS["channels"], seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return TrainedModel(model.eval(), MEAN, STD, 0.5, "test")


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(6, 28, 28, generator=g) > 0.7).float()


@pytest.fixture(scope="module")
def explorer(images):
    return NetworkExplorer(model=_model(), images=images)


def _reference(explorer, example):
    """The model's own layer outputs, from a forward pass of our own."""
    model = explorer.trained.model
    x = ((explorer.digits.images[example] - MEAN) / STD)[None, None]
    layers = [(f"{name}.conv", block.conv) for name, block in model.named_children()
              if hasattr(block, "conv")] + [(name, block) for name, block in
                                            model.named_children() if hasattr(block, "conv")]
    logits, outputs = layer_outputs(model, x, layers)
    return x[0], logits[0], {k: v[0] for k, v in outputs.items()}


def _set(explorer, **values):
    """Set the layer first (its redraw sets the sliders' ranges), then the rest."""
    if "layer" in values:
        explorer.controls["layer"].value = values.pop("layer")
    with explorer.hold():
        for key, value in values.items():
            explorer.controls[key].value = value
    return explorer.scene


def test_opens_with_no_arguments_showing_pictures(tmp_path):
    explorer = NetworkExplorer(cache_dir=tmp_path)
    assert explorer.message == "" and not explorer.is_trained
    assert "untrained" in explorer.status.value
    assert explorer.scene.settings == explorer.settings()
    images = [*explorer.detail_images.values(), explorer.scores_image,
              *explorer.row_images.values()]
    assert all(len(w.value) > 100 for w in images)  # every picture drawn at start
    assert "NetworkExplorer" in ALL


@pytest.mark.parametrize("layer", ["block1", "block2", "block3", "block4", "head"])
def test_every_scene_is_the_models_own_activations(explorer, layer):
    x, logits, ref = _reference(explorer, 2)
    scene = _set(explorer, example=2, layer=layer, channel=0, position=0, in_channel=0)
    for name in explorer.layer_names:
        assert torch.equal(scene.maps[name], ref[name])
    assert torch.allclose(scene.probabilities, logits.softmax(0))
    channels, height, width = ref[layer].shape
    assert (explorer.controls["channel"].max, explorer.controls["position"].max) == (
        channels - 1, height * width - 1)
    names = explorer.layer_names
    read = x if layer == names[0] else ref[names[names.index(layer) - 1]]
    assert torch.equal(scene.source, read)
    conv = getattr(explorer.trained.model, layer).conv
    assert torch.allclose(F.conv2d(read[None], conv.weight, conv.bias, conv.stride,
                                   conv.padding)[0], ref[f"{layer}.conv"], atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_dot_product_written_out_is_the_models_activation(explorer, data):
    layer = data.draw(st.sampled_from(explorer.layer_names), label="layer")
    example = data.draw(st.integers(0, 5), label="example")
    _, _, ref = _reference(explorer, example)
    channels, height, width = ref[layer].shape
    channel = data.draw(st.integers(0, channels - 1), label="channel")
    position = data.draw(st.integers(0, height * width - 1), label="position")
    scene = _set(explorer, example=example, layer=layer, channel=channel, position=position)
    assert not isinstance(scene, Problem), scene
    row, col = divmod(position, width)
    w = scene.conv
    total = float((w.window * w.kernel).sum()) + w.bias
    model = float(ref[f"{layer}.conv"][channel, row, col])
    assert total == pytest.approx(w.value, abs=1e-5)
    assert w.value == pytest.approx(model, rel=1e-4, abs=1e-5)
    assert scene.conv_output == pytest.approx(model, abs=1e-7)
    assert scene.computed == pytest.approx(float(ref[layer][channel, row, col]), rel=1e-4,
                                           abs=1e-5)
    assert scene.activation == float(ref[layer][channel, row, col])
    assert f"{w.value:.4f}" in explorer.sums.value


@pytest.mark.parametrize(("change", "needle"), [
    ({"example": 99}, "example must be a digit number 0..5"),
    ({"layer": "block9"}, "layer must be one of block1"),
    ({"channel": -1}, "channel must be 0 or more"),
    ({"position": -2}, "position must be 0 or more"),
])
def test_bad_settings_give_a_problem_naming_the_parameter(explorer, change, needle):
    good = NetworkSettings(0, "block1", 0, 0, 0)
    scene = explorer.scene_for(NetworkSettings(**{**good.__dict__, **change}))
    assert isinstance(scene, Problem) and needle in scene.message


def test_moving_the_window_runs_no_model_and_redraws_only_the_detail(explorer):
    explorer._forwards.clear()  # earlier tests have seen every digit
    _set(explorer, example=1, layer="block2", channel=3, position=5)
    calls = []
    handle = explorer.trained.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        rows = {name: w.value for name, w in explorer.row_images.items()}
        detail = explorer.detail_images["window"].value
        kernel = explorer.detail_images["kernel"].value
        explorer.controls["position"].value = 6
        assert explorer.detail_images["window"].value != detail
        assert explorer.detail_images["kernel"].value is kernel  # the same kernel: kept
        assert all(w.value is rows[name] for name, w in explorer.row_images.items())
        explorer.controls["channel"].value = 4
        explorer.controls["layer"].value = "block3"
        explorer.controls["in_channel"].value = 2
        assert calls == []
        explorer.controls["example"].value = 4
        assert calls == [1]
        explorer.controls["example"].value = 1  # seen before: kept
        assert calls == [1]
    finally:
        handle.remove()


def test_play_slides_the_window(explorer):
    _set(explorer, layer="block1", position=0)
    explorer.play.value = 7
    assert explorer.controls["position"].value == 7 and explorer.scene.settings.position == 7
    assert explorer.scene.row == 0 and explorer.scene.col == 7
    assert explorer.play.max == explorer.controls["position"].max == 14 * 14 - 1


def test_a_smaller_layer_clamps_the_sliders(explorer):
    _set(explorer, layer="block4", channel=60, position=3)
    scene = _set(explorer, layer="head")
    assert scene.settings == explorer.settings()
    assert (scene.settings.channel, scene.settings.position) == (9, 0)
    assert explorer.message == ""


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_fuzz_the_scene_belongs_to_the_controls_and_nothing_crashes(explorer, data):
    _set(explorer, layer="block1", example=0, channel=0, position=0, in_channel=0)
    names = sorted(explorer.controls)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        control = data.draw(st.sampled_from(names), label="control")
        value = data.draw(control_values(explorer, control), label=control)
        before = snapshot(explorer)
        old = explorer.scene
        explorer.controls[control].value = value
        assert explorer.message == ""
        assert explorer.scene.settings == explorer.settings()
        if explorer.scene != old:
            assert snapshot(explorer) != before
        w = explorer.scene.conv
        assert w.value == pytest.approx(explorer.scene.conv_output, rel=1e-4, abs=1e-5)


@pytest.fixture(scope="module")
def tiny():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_mnist()
    return ImageData(data.train_x[:256], data.train_y[:256], data.valid_x[:64],
                     data.valid_y[:64], source="tiny test set")


@pytest.mark.slow
def test_train_uses_the_lesson_cnn_and_its_cache(tiny, tmp_path):
    explorer = NetworkExplorer(data=tiny, cache_dir=tmp_path, images=tiny.valid_x[:4])
    assert not explorer.is_trained and explorer.train()
    assert explorer.wait(300) and explorer.message == ""
    assert explorer.train_button.disabled and explorer.status.value == ""
    assert explorer.scene.trained and load_cached(tmp_path, tiny) is not None
    _, logits, _ = _reference_trained(explorer)
    assert torch.allclose(explorer.scene.probabilities, logits.softmax(0), atol=1e-6)
    again = NetworkExplorer(data=tiny, cache_dir=tmp_path, images=tiny.valid_x[:4])
    assert again.is_trained  # loaded from the cache DrawDigitExplorer shares, not retrained


def _reference_trained(explorer):
    t = explorer.trained
    x = ((explorer.digits.images[0] - t.mean) / t.std)[None, None]
    logits, outputs = layer_outputs(t.model, x)
    return x, logits[0], outputs
