"""CamExplorer: it trains its GAP CNN on first use (tiny data here), shows the engine's class
activation maps and scores, and no setting crashes it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse.attribution import class_activation_maps
from cnncourse.colours import distance
from cnncourse.explorers import ALL, Problem
from cnncourse.explorers import _render as r
from cnncourse.explorers.cam import SCALES, CamExplorer, map_levels

from .explorer_tools import control_values, other_value, snapshot, tiny_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    return tiny_data(256, 64)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    cache = tmp_path_factory.mktemp("weights")
    explorer = CamExplorer(data=tiny, cache_dir=cache)
    assert explorer.training and explorer.scene.stretched is None  # waiting, not blocked
    assert explorer.scene.settings == explorer.settings()
    assert explorer.wait(300)
    return explorer, cache


def test_it_is_listed():
    assert ALL["CamExplorer"] is CamExplorer


def test_the_maps_and_scores_are_the_engines(trained):
    explorer, _ = trained
    explorer.controls["index"].value = 7
    scene, model = explorer.scene, explorer.trained
    x = ((explorer.digits.images[7] - model.mean) / model.std)[None, None]
    maps = class_activation_maps(model.model, x)[0]
    torch.testing.assert_close(scene.maps, maps)
    torch.testing.assert_close(scene.stretched, class_activation_maps(model.model, x, True)[0])
    with torch.no_grad():
        logits = model.model(x)[0]
    torch.testing.assert_close(scene.scores, logits, rtol=1e-4, atol=1e-5)
    assert scene.predicted == int(logits.argmax()) and scene.label == int(
        explorer.digits.labels[7])
    assert f">{scene.predicted}</div>" in explorer.prediction.value


def test_a_second_explorer_loads_the_cached_model(trained, tiny):
    explorer, cache = trained
    assert len(list(cache.glob("gap_cnn_*.pt"))) == 1
    again = CamExplorer(data=tiny, cache_dir=cache)
    assert not again.training and again.trained is not None
    explorer.controls["index"].value = 3
    again.controls["index"].value = 3
    torch.testing.assert_close(again.scene.scores, explorer.scene.scores)


def test_each_control_changes_the_view(trained):
    explorer, _ = trained
    with explorer.hold():
        explorer.controls["index"].value = 5
        explorer.controls["opacity"].value = 0.5
    for name in explorer.controls:
        before = snapshot(explorer, with_message=False)
        explorer.controls[name].value = other_value(explorer, name)
        assert snapshot(explorer, with_message=False) != before, name
        assert explorer.message == ""


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_controls_fuzz(trained, data):
    explorer, _ = trained
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(explorer.controls)))
        explorer.controls[name].value = data.draw(control_values(explorer, name))
    scene = explorer.scene
    assert explorer.message == "" and scene.settings == explorer.settings()
    assert scene.stretched.shape == (10, 28, 28) and 0 <= scene.predicted < 10


@pytest.mark.parametrize("change, name", [({"index": -1}, "index"), ({"index": 10**6}, "index"),
                                          ({"scale": "log"}, "scale"),
                                          ({"opacity": 1.5}, "opacity")])
def test_impossible_settings_are_explained(trained, change, name):
    explorer, _ = trained
    scene = explorer.scene_for(replace(explorer.settings(), **change))
    assert isinstance(scene, Problem) and name in scene.message


def test_levels_span_zero_to_one_on_either_scale():
    maps = torch.randn(10, 28, 28)
    shared, own = map_levels(maps, SCALES[0]), map_levels(maps, SCALES[1])
    assert shared.min() == pytest.approx(0) and shared.max() == pytest.approx(1)
    assert np.allclose(own.min(axis=(1, 2)), 0) and np.allclose(own.max(axis=(1, 2)), 1)


@pytest.mark.parametrize("kind", ["normal", "protanopia", "deuteranopia", "tritanopia"])
def test_the_colour_map_stays_readable_for_colour_blind_eyes(kind):
    """Neighbouring steps of the map differ plainly, whatever the eyes."""
    steps = r.heat(np.linspace(0, 1, 6), 1.0)
    for a, b in zip(steps[:-1], steps[1:], strict=True):
        assert distance(a, b, kind) > 10
