"""TrainingExplorer and DrawDigitExplorer: they train in the background, on tiny data here."""

from __future__ import annotations

import asyncio
import threading
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse.arithmetic import receptive_field
from cnncourse.data import ImageData, load_mnist
from cnncourse.drawing import prepare_drawing
from cnncourse.explorers import ALL
from cnncourse.explorers.draw_digit import SIDE, DrawDigitExplorer
from cnncourse.explorers.training import TrainingExplorer
from cnncourse.models import simple_cnn
from cnncourse.schedules import one_cycle
from cnncourse.training import LESSON_DEFAULTS, TrainingDiverged

from .explorer_tools import control_values, other_value, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    """384 training and 128 validation digits: 6 steps an epoch at batch size 64."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without MNIST, the fallback digits warn
        data = load_mnist()
    return ImageData(data.train_x[:384], data.train_y[:384], data.valid_x[:128],
                     data.valid_y[:128], source="tiny test set")


def _trained_explorer(tiny, runs: int = 1) -> TrainingExplorer:
    explorer = TrainingExplorer(data=tiny)
    c = explorer.controls
    c["epochs"].value, c["batch_size"].value = 1, 64
    for i in range(runs):
        c["batchnorm"].value = i % 2 == 0
        assert explorer.train() is not None
        assert explorer.wait(120)
    return explorer


# ---------------------------------------------------------------------------- TrainingExplorer


def test_training_explorer_opens_with_no_arguments():
    explorer = ALL["TrainingExplorer"]()
    assert explorer.message == "" and not explorer.running and explorer.runs == ()
    scene = explorer.scene
    assert scene.current is None and scene.settings == explorer.settings()
    planned, _ = one_cycle(scene.total_steps, scene.settings.max_lr)
    assert scene.planned_lrs == pytest.approx(planned)
    # before a first run the axes span the planned run, not a lone 0
    assert explorer.loss_figure.axes[0].scale.max == scene.total_steps
    assert explorer.accuracy_figure.axes[1].scale.max == 1.0
    shown = [line for line in (*explorer.loss_lines, *explorer.schedule_lines) if line.visible]
    assert shown == [explorer.planned_line] and explorer.planned_line.display_legend
    assert not any(line.display_legend for line in explorer.loss_lines)  # no legend, no line
    assert explorer.controls["max_lr"].value == LESSON_DEFAULTS["max_lr"]  # exactly the lessons'


def test_a_run_records_loss_accuracy_schedule_and_layer_stats(tiny):
    explorer = _trained_explorer(tiny)
    run = explorer.runs[-1]
    assert run.status == "finished" and explorer.message == ""
    assert explorer.scene.current == run and not explorer.scene.running
    assert len(run.losses) == 6 and len(run.valid_accuracy) == 1
    assert explorer.loss_figure.axes[0].scale.max is None  # data now sets the axes
    loss_line = explorer.loss_lines[0]
    assert loss_line.visible and list(loss_line.y) == pytest.approx(run.losses)
    assert explorer.progress.value == explorer.progress.max == 6
    # the recorded schedule is the one the engine plans (torch's OneCycleLR = one_cycle)
    planned, _ = one_cycle(6, explorer.controls["max_lr"].value)
    assert run.lrs == pytest.approx(planned, rel=1e-6)
    assert list(explorer.planned_line.y) == pytest.approx(planned)
    assert explorer.mean_lines.visible and explorer.mean_lines.y.shape == (5, 6)
    assert explorer.colour_dim.value != b"" and "finished" in explorer.status.value
    assert not explorer.train_button.disabled and explorer.stop_button.disabled


def test_a_second_run_is_overlaid_and_every_control_changes_the_view(tiny):
    explorer = _trained_explorer(tiny, runs=2)
    assert [r.label for r in explorer.runs] == ["run 1: batch norm on", "run 2: batch norm off"]
    previous = explorer.loss_lines[1]
    assert previous.visible and list(previous.y) == pytest.approx(explorer.runs[0].losses)
    for name in explorer.controls:
        before = snapshot(explorer, with_message=False)
        explorer.controls[name].value = other_value(explorer, name)
        assert snapshot(explorer, with_message=False) != before, name
    assert not explorer.controls["overlay"].value and not previous.visible


def test_stop_ends_a_run_early_and_controls_respond_while_it_trains(tiny):
    explorer = TrainingExplorer(data=tiny)
    c = explorer.controls
    c["epochs"].value, c["batch_size"].value = 10, 32
    explorer.train()
    assert explorer.running and explorer.train() is None  # one run at a time
    c["epochs"].value = 3  # the view answers at once, for the next run
    assert explorer.scene.settings.epochs == 3 and explorer.scene.running
    assert "<b>3</b> epoch" in explorer.plan.value and "after the current run" in (
        explorer.plan.value)
    explorer.stop_button.click()
    assert explorer.scene.stopping
    assert explorer.wait(120)
    run = explorer.runs[-1]
    assert run.status == "stopped" and len(run.losses) < 10 * 12
    assert explorer.scene.current == run and not explorer.scene.stopping
    assert "stopped" in explorer.status.value


def test_widgets_change_on_the_main_thread_only_while_training(tiny):
    """In a kernel the event loop delivers the training thread's snapshots: the view follows
    the run with no wait(), and no widget is ever set from the training thread."""
    changed_on: set[int] = set()

    async def train_and_watch() -> TrainingExplorer:
        explorer = TrainingExplorer(data=tiny)
        explorer.controls["epochs"].value, explorer.controls["batch_size"].value = 3, 32
        for widget in (explorer.status, explorer.progress, explorer.loss_lines[0],
                       explorer.accuracy_lines[0], explorer.colour_dim, explorer.train_button):
            widget.observe(lambda _: changed_on.add(threading.get_ident()))
        explorer.train()
        for _ in range(6000):
            if not explorer.scene.running:
                break
            await asyncio.sleep(0.01)
        return explorer

    explorer = asyncio.run(train_and_watch())
    run = explorer.scene.current
    assert run.status == "finished" and len(run.valid_accuracy) == 3
    assert list(explorer.loss_lines[0].y) == pytest.approx(run.losses)
    assert changed_on == {threading.main_thread().ident}


def test_a_diverging_run_is_explained(tiny, monkeypatch):
    explorer = TrainingExplorer(data=tiny)

    def diverge(self, epochs, max_lr, **kwargs):
        raise TrainingDiverged("the loss became nan at step 3: lower max_lr", 3, max_lr,
                               float("nan"))

    monkeypatch.setattr("cnncourse.training.Learner.fit_one_cycle", diverge)
    explorer.train()
    assert explorer.wait(60)
    assert "lower max_lr" in explorer.message and not explorer.train_button.disabled


@settings(max_examples=100)
@given(data=st.data())
def test_training_controls_fuzz(data):
    explorer = _training_instance()
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(explorer.controls)))
        explorer.controls[name].value = data.draw(control_values(explorer, name))
    high = explorer.controls["max_lr"].value > 0.3
    assert bool(explorer.message) == high and not explorer.running


_training: list[TrainingExplorer] = []


def _training_instance() -> TrainingExplorer:
    if not _training:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_mnist()
        _training.append(TrainingExplorer(data=ImageData(
            data.train_x[:256], data.train_y[:256], data.valid_x[:64], data.valid_y[:64])))
    return _training[0]


# --------------------------------------------------------------------------- DrawDigitExplorer


def test_draw_digit_opens_with_no_arguments_and_does_not_train_yet():
    explorer = ALL["DrawDigitExplorer"]()
    assert explorer.message == "" and not explorer.training
    assert explorer.scene.prepared is None and explorer.scene.probabilities is None
    assert explorer.scene.settings == explorer.settings()


@pytest.fixture(scope="module")
def drawn(tiny, tmp_path_factory):
    """A DrawDigitExplorer whose CNN trained on first use (tiny data, a private cache)."""
    cache = tmp_path_factory.mktemp("weights")
    explorer = DrawDigitExplorer(data=tiny, cache_dir=cache)
    explorer.controls["example"].value = 3
    assert explorer.training and explorer.scene.training is not None
    assert explorer.wait(300)
    return explorer, cache


def test_first_use_trains_caches_and_predicts(drawn, tiny):
    explorer, cache = drawn
    assert len(list(cache.glob("*.pt"))) == 1
    p = explorer.scene.probabilities
    assert p is not None and float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert list(explorer.bars.y) == pytest.approx(p.tolist())
    assert f">{int(p.argmax())}</div>" in explorer.prediction.value
    again = DrawDigitExplorer(data=tiny, cache_dir=cache)
    again.controls["example"].value = 3
    assert not again.training and again.trained is not None  # loaded, not retrained
    assert torch.allclose(again.scene.probabilities, p)


def test_drawing_prepares_an_mnist_style_digit(drawn):
    explorer, _ = drawn
    explorer.clear_drawing()
    assert explorer.scene.prepared is None and explorer.scene.probabilities is None
    explorer.stroke([(140, 40), (140, 150), (140, 250)])
    scene = explorer.scene
    assert scene.settings == explorer.settings() and scene.settings.example == -1
    image = scene.prepared.image.float()
    rows, cols = torch.nonzero(image > 25, as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 == 20  # scaled to fit 20x20
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    assert float((ys * image).sum() / image.sum()) == pytest.approx(13.5, abs=1.0)
    assert float((xs * image).sum() / image.sum()) == pytest.approx(13.5, abs=1.0)
    assert scene.probabilities is not None
    # the prepared frame maps back onto the canvas where the ink is
    top_left = scene.prepared.to_drawing(float(cols.min()), float(rows.min()))
    assert top_left[1] == pytest.approx(40 - 11, abs=8)


def test_drawing_over_an_example_keeps_the_example(drawn):
    explorer, _ = drawn
    explorer.controls["example"].value = 2
    ink = np.asarray(explorer.drawing).sum()
    explorer.stroke([(20, 20), (40, 40)])
    assert explorer.controls["example"].value == -1
    assert np.asarray(explorer.drawing).sum() > ink  # the example plus the new stroke
    scene = explorer.scene
    assert scene.settings == explorer.settings() and scene.probabilities is not None
    assert scene.settings.drawing == explorer.drawing.tobytes()


def test_a_blank_drawing_has_no_prediction(drawn):
    explorer, _ = drawn
    explorer.clear_drawing()
    assert prepare_drawing(torch.zeros(SIDE, SIDE, dtype=torch.uint8)) is None
    assert explorer.scene.prepared is None and explorer.scene.probabilities is None
    assert not np.asarray(explorer.drawing).any()


def test_draw_digit_receptive_field_is_the_engines(drawn):
    explorer, _ = drawn
    c = explorer.controls
    c["example"].value, c["layer"].value, c["row"].value, c["col"].value = 4, "block2", 5, 2
    rec = {r.name: r for r in receptive_field(simple_cnn(), input_size=28)}["block2.conv"]
    top = rec.start + 5 * rec.jump - (rec.rf - 1) / 2
    left = rec.start + 2 * rec.jump - (rec.rf - 1) / 2
    region = explorer.scene.region
    assert (region.height, region.width) == (rec.rf, rec.rf)
    assert (region.top, region.bottom) == (top, top + rec.rf - 1)
    assert (region.left, region.right) == (left, left + rec.rf - 1)
    assert explorer.scene.shape == (16, 7, 7) and explorer.scene.maps.shape == (16, 7, 7)
    assert c["channel"].max == 15 and c["row"].max == 6
    c["layer"].value = "block4"  # 2x2 maps: the unit moves inside them, scene and sliders agree
    assert explorer.scene.settings == explorer.settings()
    assert (c["row"].value, c["col"].value) == (1, 1)


def test_each_draw_digit_control_changes_the_view(drawn):
    explorer, _ = drawn
    explorer.controls["example"].value = 5
    for name in ("example", "layer", "channel", "row", "col"):
        if name == "channel":
            explorer.controls["layer"].value = "block1"
        before = snapshot(explorer, with_message=False)
        explorer.controls[name].value = other_value(explorer, name)
        assert snapshot(explorer, with_message=False) != before, name
        assert explorer.message == ""


@settings(max_examples=60)
@given(data=st.data())
def test_draw_digit_controls_fuzz(drawn, data):
    explorer, _ = drawn
    with explorer.hold():  # every example starts from the same setting
        for name, value in (("example", 3), ("layer", "block1"), ("channel", 0), ("row", 0),
                            ("col", 0)):
            explorer.controls[name].value = value
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(explorer.controls)))
        explorer.controls[name].value = data.draw(control_values(explorer, name))
    assert explorer.message == "" and explorer.scene.settings == explorer.settings()
    if explorer.controls["example"].value >= 0:
        assert explorer.scene.probabilities is not None


def test_first_use_training_changes_widgets_on_the_main_thread_only(tiny, tmp_path):
    """The first-use training follows the lessons' recipe, and its progress and result reach
    the view through the event loop, never from the training thread."""
    changed_on: set[int] = set()
    totals: set[int] = set()

    async def train_on_first_use() -> DrawDigitExplorer:
        explorer = DrawDigitExplorer(data=tiny, cache_dir=tmp_path)
        for widget in (explorer.progress, explorer.status, explorer.prediction, explorer.bars,
                       explorer.maps_image):
            widget.observe(lambda _: changed_on.add(threading.get_ident()))
        explorer.progress.observe(lambda change: totals.add(change["new"]), names="max")
        explorer.controls["example"].value = 1
        for _ in range(30000):
            if explorer.trained is not None:
                break
            await asyncio.sleep(0.01)
        return explorer

    explorer = asyncio.run(train_on_first_use())
    assert explorer.scene.probabilities is not None and not explorer.training
    assert changed_on == {threading.main_thread().ident}
    assert LESSON_DEFAULTS["epochs"] * 6 in totals  # 6 steps an epoch on the tiny data
