"""The explorers: they open with no arguments, every control changes the view, no setting
crashes them, and the numbers they show are the engine's."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import ipywidgets as widgets
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from cnncourse.arithmetic import (
    conv_output_formula,
    conv_output_size,
    conv_transpose_output_size,
    count_parameters,
    pool_output_size,
    receptive_field,
)
from cnncourse.conv import conv_matrix, window_indices
from cnncourse.explorers import ALL, Explorer, Problem, control_range
from cnncourse.explorers import channels as channels_explorer
from cnncourse.explorers import kernel as kernel_explorer
from cnncourse.explorers import pooling as pooling_explorer
from cnncourse.explorers.optimizer import START
from cnncourse.explorers.receptive_field import STACKS, parse_layers
from cnncourse.kernels import KERNELS, apply_kernel
from cnncourse.optimizers import descent_path, largest_stable_lr, ravine
from cnncourse.pooling import pool2d
from cnncourse.schedules import one_cycle

from .explorer_tools import control_values, other_value, snapshot

# Explorers that only call the engine (the training ones have their own test file).
ENGINE_ONLY = ["KernelExplorer", "ConvArithmeticExplorer", "ChannelsExplorer",
               "ReceptiveFieldExplorer", "ConvAsMatmulExplorer", "PoolingExplorer",
               "GradientExplorer", "LossExplorer", "OptimizerExplorer", "OneCycleExplorer"]

# Settings a control needs before it matters, and values to use instead of "the next one".
PREREQUISITES = {
    ("ConvArithmeticExplorer", "output_padding"): {"mode": "transposed", "stride": 2},
    ("ChannelsExplorer", "seed"): {"weights": "random"},
    ("LossExplorer", "delta"): {"loss": "Huber"},
    ("GradientExplorer", "pool_size"): {"layer": "max pool"},
    ("OptimizerExplorer", "compare"): {"momentum": 0.5},
}
ALTERNATIVES = {
    ("ConvArithmeticExplorer", "preset"): "same",
    ("OneCycleExplorer", "base_momentum"): 0.8,
    ("OneCycleExplorer", "max_momentum"): 0.9,
}


def test_all_lists_every_explorer():
    assert set(ENGINE_ONLY) <= set(ALL)
    assert all(issubclass(cls, Explorer) for cls in ALL.values())


@pytest.mark.parametrize("name", ENGINE_ONLY)
def test_constructs_with_no_arguments_and_displays_itself(name):
    explorer = ALL[name]()
    assert explorer.message == ""
    assert isinstance(explorer.view, widgets.Box)
    assert explorer.controls and all(isinstance(w, widgets.ValueWidget)
                                     for w in explorer.controls.values())
    for widget in explorer.controls.values():
        control_range(widget)  # every control has a known range
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.view.model_id


CONTROL_CASES = [(name, control) for name in ENGINE_ONLY for control in ALL[name]().controls]


@pytest.mark.parametrize(("name", "control"), CONTROL_CASES)
def test_each_control_changes_what_the_view_shows(name, control):
    explorer = ALL[name]()
    with explorer.hold():
        for other, value in PREREQUISITES.get((name, control), {}).items():
            explorer.controls[other].value = value
    assert explorer.message == ""
    before = snapshot(explorer, with_message=False)
    new = ALTERNATIVES.get((name, control), other_value(explorer, control))
    explorer.controls[control].value = new
    assert explorer.message == "", explorer.message
    assert snapshot(explorer, with_message=False) != before, f"{control} -> {new!r}"


# ------------------------------------------------------------------------------------ fuzzing

_instances: dict[str, tuple[Explorer, dict]] = {}


def _fresh(name: str) -> Explorer:
    """One explorer per class, put back to its opening settings before each example."""
    if name not in _instances:
        explorer = ALL[name]()
        _instances[name] = (explorer, {k: w.value for k, w in explorer.controls.items()})
    explorer, defaults = _instances[name]
    with explorer.hold():
        for control, value in defaults.items():
            explorer.controls[control].value = value
    return explorer


def _values(explorer: Explorer) -> dict:
    return {name: w.value for name, w in explorer.controls.items()}


def _engine_error(call) -> str:
    try:
        call()
    except ValueError as err:
        return str(err)
    return ""


def expected_message(name: str, explorer: Explorer) -> str | None:
    """What the engine says about the current setting ("" = valid), or None to skip."""
    v = _values(explorer)
    if name == "ConvArithmeticExplorer":
        if v["mode"] == "convolution":
            return _engine_error(lambda: conv_output_size(
                v["n"], v["kernel_size"], v["stride"], v["padding"], v["dilation"]))
        return _engine_error(lambda: conv_transpose_output_size(
            v["n"], v["kernel_size"], v["stride"], v["padding"], v["output_padding"],
            v["dilation"]))
    if name == "ConvAsMatmulExplorer":
        return _engine_error(lambda: conv_output_size(
            (v["n"], v["n"]), (v["kernel_size"],) * 2, v["stride"], v["padding"]))
    if name == "PoolingExplorer":
        return _engine_error(lambda: pool_output_size(
            28, v["kernel_size"], v["stride"], v["padding"]))
    if name == "ReceptiveFieldExplorer":
        if v["stack"] in STACKS:
            layers = STACKS[v["stack"]]
        elif v["stack"] in explorer.models:
            layers = explorer.models[v["stack"]]
        else:
            try:
                layers = parse_layers(v["layers"])
            except ValueError as err:
                return str(err)
        return _engine_error(lambda: receptive_field(layers, input_size=28))
    if name == "ChannelsExplorer":
        edges = v["kernel_size"] == 1 and v["weights"] != "colour detectors" and (
            v["weights"] != "random")
        return "1x1" if edges else ""
    if name == "OneCycleExplorer":
        odd = (v["three_phase"] and v["pct_start"] > 0.5) or (
            v["base_momentum"] > v["max_momentum"])
        return "odd" if odd else ""
    if name == "OptimizerExplorer":
        stable = v["lr"] < largest_stable_lr(v["momentum"], v["weight_decay"])
        return "" if stable else "too high"
    return ""  # KernelExplorer, LossExplorer: every setting is valid


@pytest.mark.parametrize("name", ENGINE_ONLY)
@settings(max_examples=150)
@given(data=st.data())
def test_no_setting_crashes_and_invalid_ones_explain_themselves(name, data):
    explorer = _fresh(name)
    names = sorted(explorer.controls)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        control = data.draw(st.sampled_from(names), label="control")
        value = data.draw(control_values(explorer, control), label=control)
        explorer.controls[control].value = value  # must not raise
        assert isinstance(explorer.message, str)
        if explorer.scene is not None:  # the scene always belongs to the current controls
            assert explorer.scene.settings == explorer.settings()
    expected = expected_message(name, explorer)
    if expected:
        assert explorer.message, f"{_values(explorer)} should be explained"
        if name in ("ConvArithmeticExplorer", "ConvAsMatmulExplorer", "PoolingExplorer",
                    "ReceptiveFieldExplorer"):
            assert expected in explorer.message
    elif name != "ConvArithmeticExplorer":
        assert explorer.message == "", f"{_values(explorer)}: {explorer.message}"
    else:  # a preset that cannot be met is explained even when the setting is valid
        assert explorer.message == "" or explorer.message.startswith("preset")


@pytest.mark.parametrize("name", ENGINE_ONLY)
def test_an_unexpected_error_becomes_a_message(name, monkeypatch):
    explorer = ALL[name]()

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(explorer, "compute", broken)
    control = next(iter(explorer.controls))
    explorer.controls[control].value = other_value(explorer, control)
    assert "boom" in explorer.message and "unexpected" in explorer.message
    assert "boom" in explorer._message_html.value
    assert isinstance(explorer.scene, Problem) and "boom" in explorer.scene.message


def test_hold_redraws_once():
    explorer = ALL["ConvArithmeticExplorer"]()
    calls = []
    original = explorer.compute
    explorer.compute = lambda settings: calls.append(1) or original(settings)
    with explorer.hold():
        explorer.controls["n"].value = 9
        explorer.controls["kernel_size"].value = 5
    assert calls == [1]


# ---------------------------------------------------- presets: a dropdown that sets controls


def counting_computes(explorer: Explorer) -> list:
    """The settings of every scene ``explorer`` computes from now on."""
    computed = []
    original = explorer.compute
    explorer.compute = lambda settings: computed.append(settings) or original(settings)
    return computed


SOBEL = {f"k{i}{j}": float(KERNELS["sobel_x"][i, j]) for i in range(3) for j in range(3)}
# explorer, its preset dropdown, a preset, the controls it sets, a control changed by hand
# afterwards, and the dropdown's custom choice
PRESET_CASES = [
    ("KernelExplorer", "kernel", "sobel_x", SOBEL, ("k11", 4.0), "custom"),
    ("ConvArithmeticExplorer", "preset", "stride-2 downsample",
     {"mode": "convolution", "kernel_size": 3, "dilation": 1, "padding": 1, "stride": 2},
     ("padding", 0), "custom"),
    ("ReceptiveFieldExplorer", "stack", "big kernels", {"layers": "7 2 3\n5 1 2"},
     ("layers", "3 1 1"), "custom (edit the text)"),
]


@pytest.mark.parametrize(("name", "dropdown", "preset", "sets", "by_hand", "custom"),
                         PRESET_CASES)
def test_a_preset_sets_its_controls_in_one_redraw_and_a_hand_change_leaves_it(
        name, dropdown, preset, sets, by_hand, custom):
    explorer = ALL[name]()
    c = explorer.controls
    if name == "ConvArithmeticExplorer":  # so that the preset changes every control it sets
        with explorer.hold():
            c["mode"].value, c["kernel_size"].value, c["dilation"].value = "transposed", 5, 2
    computed = counting_computes(explorer)
    c[dropdown].value = preset
    assert {key: c[key].value for key in sets} == sets
    assert computed == [explorer.settings()] == [explorer.scene.settings]
    assert getattr(explorer.scene.settings, dropdown) == preset

    computed.clear()
    control, value = by_hand
    c[control].value = value
    assert c[dropdown].value == custom and c[control].value == value
    assert computed == [explorer.settings()] == [explorer.scene.settings]

    computed.clear()
    c[dropdown].value = preset  # and back: the preset's values again
    assert {key: c[key].value for key in sets} == sets and len(computed) == 1


def test_a_hand_change_inside_hold_leaves_the_preset_too():
    explorer = ALL["ReceptiveFieldExplorer"]()
    computed = counting_computes(explorer)
    with explorer.hold():
        explorer.controls["stack"].value = "big kernels"
        explorer.controls["layers"].value = "3 1 1\n3 2 1"
    assert explorer.controls["stack"].value.startswith("custom") and len(computed) == 1
    assert [r.rf for r in explorer.scene.records] == [3, 5]  # the text's layers, not the preset's


def test_receptive_field_presets_show_the_engine_table_of_their_stack():
    explorer = ALL["ReceptiveFieldExplorer"]()
    for stack, layers in STACKS.items():
        explorer.controls["stack"].value = stack
        assert parse_layers(explorer.controls["layers"].value) == [tuple(v) for v in layers]
        assert list(explorer.scene.records) == receptive_field(layers, input_size=28)


def test_conv_arithmetic_preset_follows_the_kernel_and_explains_what_it_cannot_meet():
    explorer = ALL["ConvArithmeticExplorer"]()
    c = explorer.controls
    c["n"].value = 16
    c["preset"].value = "same"
    computed = counting_computes(explorer)
    c["kernel_size"].value = 5  # "same" follows the kernel: one redraw, with the new padding
    assert (c["preset"].value, c["padding"].value) == ("same", 2) and len(computed) == 1
    assert explorer.scene.settings == explorer.settings() and explorer.scene.out_size == 16
    with explorer.hold():
        c["kernel_size"].value, c["dilation"].value = 7, 3
    c["preset"].value = "full"  # needs padding 18; the slider stops at 4
    assert c["padding"].value == 4 and "more than this slider offers" in explorer.message
    assert explorer.scene.settings.preset_note in explorer.message
    c["stride"].value = 2  # leaving the preset drops its note
    assert c["preset"].value == "custom" and explorer.scene.settings.preset_note == ""


def test_no_explorer_reaches_into_the_base_class_hold_counter():
    from cnncourse import explorers

    folder = Path(explorers.__file__).parent
    readers = [path.name for path in folder.glob("*.py")
               if path.name != "base.py" and "_hold_depth" in path.read_text()]
    assert not readers


# ------------------------------------------------------------- the numbers are the engine's


def _png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def _text(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


@settings(max_examples=60)
@given(n=st.integers(1, 16), k=st.integers(1, 7), p=st.integers(0, 4), s=st.integers(1, 4),
       d=st.integers(1, 3), op=st.integers(0, 3), transposed=st.booleans())
def test_conv_arithmetic_shows_the_engine_output_size(n, k, p, s, d, op, transposed):
    explorer = _fresh("ConvArithmeticExplorer")
    with explorer.hold():
        for name, value in dict(n=n, kernel_size=k, padding=p, stride=s, dilation=d,
                                output_padding=op).items():
            explorer.controls[name].value = value
        explorer.controls["mode"].value = "transposed" if transposed else "convolution"
    try:
        if transposed:
            expected = conv_transpose_output_size(n, k, s, p, op, d)
            layer = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
        else:
            expected = conv_output_size(n, k, s, p, d)
            layer = nn.Conv2d(1, 1, k, s, p, d)
    except ValueError as err:
        assert explorer.message == str(err) and explorer.scene.out_size is None
        return
    scene = explorer.scene
    assert scene.out_size == expected and scene.settings == explorer.settings()
    assert f"output {expected} x {expected}" in _text(scene.formula)
    assert layer(torch.zeros(1, 1, n, n)).shape[-1] == expected  # and torch agrees
    assert scene.steps == (n * n if transposed else expected * expected)
    assert explorer.controls["step"].max == scene.steps - 1
    i, j = scene.cell
    assert scene.rows == tuple(window_indices(i, k, s, p, d))
    assert scene.cols == tuple(window_indices(j, k, s, p, d))


def test_conv_arithmetic_presets():
    explorer = ALL["ConvArithmeticExplorer"]()
    c = explorer.controls
    c["kernel_size"].value, c["dilation"].value = 5, 2
    c["preset"].value = "same"
    assert (c["padding"].value, c["stride"].value) == (4, 1)
    assert f"output {c['n'].value} x {c['n'].value}" in _text(explorer.formula.value)
    c["kernel_size"].value = 3  # "same" follows the kernel
    assert c["padding"].value == 2 and c["preset"].value == "same"
    c["stride"].value = 2  # a manual change leaves the preset
    assert c["preset"].value == "custom"
    c["preset"].value = "stride-2 downsample"
    c["n"].value = 16
    assert "output 8 x 8" in _text(explorer.formula.value)
    c["kernel_size"].value = 4
    c["preset"].value = "same"
    assert "even" in explorer.message  # explained, not hidden


@settings(max_examples=40)
@given(stack=st.sampled_from(sorted(STACKS)), layer=st.integers(1, 6), row=st.integers(0, 27),
       col=st.integers(0, 27))
def test_receptive_field_table_is_the_engines(stack, layer, row, col):
    explorer = _fresh("ReceptiveFieldExplorer")
    c = explorer.controls
    c["stack"].value = stack
    c["layer"].value, c["row"].value, c["col"].value = layer, row, col
    records = receptive_field(STACKS[stack], input_size=28)
    cells = re.findall(r"<tr[^>]*>(.*?)</tr>", explorer.table.value)[2:]
    assert len(cells) == len(records)
    for row_html, rec in zip(cells, records, strict=True):
        values = re.findall(r"<td>(.*?)</td>", row_html)
        size, jump, rf, start = values[6:10]
        assert (int(size), int(jump), int(rf), float(start)) == (
            rec.out_size, rec.jump, rec.rf, rec.start)
    scene = explorer.scene
    assert scene.settings == explorer.settings() and list(scene.records) == records
    rec = records[c["layer"].value - 1]
    assert c["layer"].max == len(records) and c["row"].max == rec.out_size - 1
    centre_row = rec.start + scene.settings.row * rec.jump
    centre_col = rec.start + scene.settings.col * rec.jump
    assert scene.region.centre == (centre_row, centre_col)
    assert (scene.region.top, scene.region.bottom) == (centre_row - (rec.rf - 1) / 2,
                                                       centre_row + (rec.rf - 1) / 2)
    assert scene.region.height == scene.region.width == rec.rf


def test_receptive_field_of_the_lesson_cnn_and_of_a_passed_model():
    from cnncourse.models import simple_cnn

    explorer = ALL["ReceptiveFieldExplorer"]()
    assert explorer.controls["stack"].value == "lesson CNN"
    expected = receptive_field(simple_cnn(), input_size=28)
    assert [(r.rf, r.jump, r.out_size) for r in explorer.scene.records] == [
        (r.rf, r.jump, r.out_size) for r in expected]
    model = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, dilation=2))
    explorer = ALL["ReceptiveFieldExplorer"](model=model)
    assert [r.rf for r in explorer.scene.records] == [5, 6, 14]
    explorer.controls["layers"].value = "3 1 1\n3 2 1 2"
    assert explorer.controls["stack"].value.startswith("custom")
    assert [r.rf for r in explorer.scene.records] == [3, 7]
    explorer.controls["layers"].value = "3 1"
    assert "line 1" in explorer.message and explorer.table.value == ""
    explorer = ALL["ReceptiveFieldExplorer"](model=[(3, 2, 1), (3, 2, 1, 2)])
    assert explorer.controls["stack"].value == "your model"
    assert [r.rf for r in explorer.scene.records] == [3, 11]
    explorer = ALL["ReceptiveFieldExplorer"](model=nn.Conv2d(1, 1, 3, padding="same"))
    assert [(r.rf, r.out_size) for r in explorer.scene.records] == [(3, 28)]
    unreadable = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    explorer = ALL["ReceptiveFieldExplorer"](model=unreadable)  # explained, not raised
    assert "Conv2d" in explorer.message


@settings(max_examples=40)
@given(n=st.integers(3, 6), k=st.integers(1, 4), p=st.integers(0, 2), s=st.integers(1, 3),
       seed=st.integers(0, 20), numbered=st.booleans())
def test_conv_as_matmul_matrix_and_check_are_the_engines(n, k, p, s, seed, numbered):
    explorer = _fresh("ConvAsMatmulExplorer")
    c = explorer.controls
    with explorer.hold():
        c["n"].value, c["kernel_size"].value, c["padding"].value = n, k, p
        c["stride"].value, c["seed"].value = s, seed
        c["weights"].value = c["weights"].options[0 if numbered else 1]
    weight, x = explorer.tensors()
    try:
        expected = conv_matrix(weight, (n, n), stride=s, padding=p)
    except ValueError as err:
        assert explorer.message == str(err) and isinstance(explorer.scene, Problem)
        return
    assert torch.equal(explorer.scene.result.matrix, expected.matrix)
    assert torch.equal(explorer.scene.result.weight_index, expected.weight_index)
    direct = F.conv2d(x[None], weight, stride=s, padding=p).flatten()
    assert explorer.scene.difference == pytest.approx(
        float((expected.matrix @ x.flatten() - direct).abs().max()), abs=1e-6)
    assert explorer.scene.equal and "equal" in explorer.check.value
    assert explorer.scene.tied == int((expected.weight_index >= 0).sum())
    assert torch.equal(explorer.scene.by_conv.flatten(), direct)
    rows, cols = expected.matrix.shape
    assert f"{rows} x {cols}" in _text(explorer.summary.value)


@settings(max_examples=40)
@given(k=st.integers(1, 6), s=st.integers(1, 6), p=st.integers(0, 3),
       mode=st.sampled_from(["max", "avg", "min"]), maps=st.booleans())
def test_pooling_scene_holds_the_engine_sizes_pools_and_head_parameters(k, s, p, mode, maps):
    explorer = _fresh("PoolingExplorer")
    c = explorer.controls
    with explorer.hold():
        c["kernel_size"].value, c["stride"].value, c["padding"].value = k, s, p
        c["mode"].value = mode
        c["source"].value = c["source"].options[1 if maps else 0]
    scene = explorer.scene
    assert scene.settings == explorer.settings()
    channels = 4 if maps else 1
    try:
        o = pool_output_size(28, k, s, p)
    except ValueError as err:
        assert isinstance(scene, Problem) and scene.message == str(err) == explorer.message
        return
    assert scene.out_size == o and scene.maps.shape == (channels, 28, 28)
    assert torch.equal(scene.pooled, pool2d(scene.maps, k, s, p, mode=mode))
    assert scene.formula == conv_output_formula(28, k, s, p)
    assert scene.flatten_parameters == count_parameters(nn.Linear(channels * o * o, 10))
    assert scene.gap_parameters == count_parameters(nn.Linear(channels, 10))
    assert scene.gap == pytest.approx(scene.pooled.mean(dim=(1, 2)).tolist())
    width, height = _png_size(explorer.output_image.value)
    assert height == o * pooling_explorer.CELL * s  # each output drawn over its stride
    assert int(explorer.output_image.width) == width * pooling_explorer.ZOOM


def test_kernel_explorer_output_map_has_the_engine_size():
    explorer = ALL["KernelExplorer"]()
    c = explorer.controls
    c["padding"].value, c["stride"].value, c["dilation"].value = 1, 2, 3
    o = conv_output_size(28, 3, 2, 1, 3)
    scene = explorer.scene
    assert scene.out_size == o and scene.out.shape == (o, o)
    assert torch.equal(scene.out, apply_kernel(scene.x, scene.kernel, stride=2, padding=1,
                                               dilation=3))
    assert f"{o} x {o}" in _text(scene.formula)
    assert _png_size(explorer.output_image.value) == (o * kernel_explorer.CELL,) * 2
    c["kernel"].value = "sobel_x"
    assert explorer.scene.settings.weights == (-1, 0, 1, -2, 0, 2, -1, 0, 1)
    assert torch.equal(explorer.scene.kernel, KERNELS["sobel_x"])
    c["k11"].value = 4.0
    assert explorer.scene.settings.kernel == "custom" and explorer.scene.kernel[1, 1] == 4.0
    assert explorer.kernel()[1, 1] == 4.0


def test_loss_explorer_shows_the_loss_and_slope_of_torch():
    explorer = ALL["LossExplorer"]()
    c = explorer.controls
    torch_losses = {
        "MSE": lambda e: F.mse_loss(e, torch.zeros_like(e)),
        "MAE": lambda e: F.l1_loss(e, torch.zeros_like(e)),
        "Huber": lambda e: F.huber_loss(e, torch.zeros_like(e), delta=0.5),
        "hinge": lambda m: F.multi_margin_loss(torch.stack([m, torch.zeros_like(m)], 1),
                                               torch.zeros(1, dtype=torch.long)),
        "cross-entropy": lambda m: F.cross_entropy(torch.stack([m, torch.zeros_like(m)], 1),
                                                   torch.zeros(1, dtype=torch.long)),
    }
    c["delta"].value = 0.5
    for name, fn in torch_losses.items():
        for point in (-2.0, 0.3, 1.5):
            c["loss"].value, c["point"].value = name, point
            e = torch.tensor([point], dtype=torch.float64, requires_grad=True)
            loss = fn(e)
            loss.backward()
            scene = explorer.scene
            assert scene.settings.loss == name and scene.settings.point == point
            assert scene.value == pytest.approx(loss.item())
            assert scene.slope == pytest.approx(e.grad.item())
            assert scene.curves[0][0] == name  # the chosen loss first, then the others
            family = {"MSE", "MAE", "Huber"} if name in {"MSE", "MAE", "Huber"} else {
                "hinge", "cross-entropy"}
            assert {n for n, _ in scene.curves} == family
            assert explorer.dot.y[0] == pytest.approx(scene.value)


def test_one_cycle_curves_are_the_engines():
    explorer = ALL["OneCycleExplorer"]()
    c = explorer.controls
    c["three_phase"].value, c["anneal_strategy"].value = True, "linear"
    c["total_steps"].value, c["pct_start"].value = 300, 0.25
    lrs, moms = one_cycle(300, c["max_lr"].value, 0.25, c["div_factor"].value,
                          c["final_div_factor"].value, c["base_momentum"].value,
                          c["max_momentum"].value, "linear", True)
    scene = explorer.scene
    assert scene.lrs == tuple(lrs) and scene.moms == tuple(moms)
    assert scene.boundaries == (0.25 * 300 - 1, 2 * 0.25 * 300 - 2) and scene.note == ""
    assert scene.phases == (("warm-up", 0.0, 74.0), ("anneal back", 74.0, 148.0),
                            ("final anneal", 148.0, 299.0))
    figure = explorer.lr_box.children[0]
    assert list(figure.marks[0].y) == pytest.approx(lrs)
    assert list(figure.marks[1].x[:, 0]) == pytest.approx(scene.boundaries)


def test_one_cycle_scene_explains_odd_settings_and_empty_phases():
    explorer = ALL["OneCycleExplorer"]()
    c = explorer.controls
    with explorer.hold():
        c["three_phase"].value, c["pct_start"].value = True, 0.7
        c["base_momentum"].value, c["max_momentum"].value = 0.95, 0.85
    scene = explorer.scene
    assert "pct_start <= 0.5" in scene.note and "usually base < max" in scene.note
    assert scene.phases[-1] == ("final anneal",)  # the final phase never comes
    assert explorer.message == scene.note


def test_channels_explorer_spells_out_the_weight_shape():
    explorer = ALL["ChannelsExplorer"]()
    c = explorer.controls
    c["out_channels"].value, c["kernel_size"].value, c["padding"].value = 4, 5, 0
    scene = explorer.scene
    assert scene.weight.shape == (4, 3, 5, 5) and scene.out.shape == (4, 28, 28)
    assert torch.allclose(scene.out, F.conv2d(scene.x[None], scene.weight)[0], atol=1e-5)
    text = _text(explorer.shape_text.value)
    assert "[out, in, kh, kw] = [4, 3, 5, 5]" in text and "[4, 28, 28]" in text
    width, _ = _png_size(explorer.output_image.value)
    assert width == 4 * 28 * channels_explorer.CELL + 3 * 6  # one map per output channel
    assert explorer.weight().shape == (4, 3, 5, 5)


@given(layer=st.sampled_from(["convolution", "max pool", "average pool"]),
       kernel=st.sampled_from(["top_edge", "sharpen", "emboss"]), index=st.integers(0, 20),
       size=st.integers(2, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       row=st.integers(0, 9), col=st.integers(0, 9))
def test_gradient_explorer_scene_is_autograds(layer, kernel, index, size, stride, padding,
                                              row, col):
    explorer = _fresh("GradientExplorer")
    with explorer.hold():
        for name, value in (("layer", layer), ("kernel", kernel), ("index", index),
                            ("pool_size", size), ("stride", stride), ("padding", padding),
                            ("row", row), ("col", col)):
            explorer.controls[name].value = value
    scene = explorer.scene
    assert scene.settings == explorer.settings()
    v = scene.settings
    image = scene.image.clone()[None, None].requires_grad_(True)
    weight = KERNELS[kernel][None, None].clone().requires_grad_(True)
    if layer == "convolution":
        out = F.conv2d(image, weight, stride=stride, padding=padding)
    else:
        pool = F.max_pool2d if layer == "max pool" else F.avg_pool2d
        out = pool(image, size, stride)
    assert tuple(scene.output.shape) == tuple(out.shape[2:])
    out[0, 0, v.row, v.col].backward()
    assert torch.allclose(scene.grad_x, image.grad[0, 0], atol=1e-6)
    assert scene.receivers == int((image.grad != 0).sum())
    if layer == "convolution":
        assert torch.allclose(scene.grad_weight, weight.grad[0, 0], atol=1e-6)
    elif layer == "max pool":
        assert scene.receivers == 1 and float(scene.grad_x.sum()) == 1.0
    else:
        assert float(scene.grad_x.sum()) == pytest.approx(1.0)


@given(lr=st.sampled_from([0.05, 0.1, 0.2, 0.4]), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       decay=st.sampled_from([0.0, 0.1, 0.5]), steps=st.integers(5, 120))
def test_optimizer_explorer_path_is_torch_sgds(lr, momentum, decay, steps):
    explorer = _fresh("OptimizerExplorer")
    with explorer.hold():
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", decay),
                            ("steps", steps)):
            explorer.controls[name].value = value
    scene = explorer.scene
    assert scene.settings == explorer.settings() and not scene.diverged
    w = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum, weight_decay=decay)
    for _ in range(steps):
        opt.zero_grad()
        ravine(w).backward()
        opt.step()
    assert torch.allclose(torch.from_numpy(scene.path[-1]), w.detach())
    assert len(scene.path) == steps + 1


def test_momentum_reaches_the_ravine_floor_sooner_and_too_high_a_rate_is_explained():
    explorer = _fresh("OptimizerExplorer")
    with explorer.hold():
        explorer.controls["lr"].value, explorer.controls["steps"].value = 0.4, 200
    plain = explorer.scene.arrived_at
    explorer.controls["momentum"].value = 0.5
    assert explorer.scene.arrived_at < plain / 2  # measured: 39 against 137 steps
    explorer.controls["weight_decay"].value = 0.2  # the minimum moves towards the origin
    assert explorer.scene.minimum == pytest.approx((1.5, 1.0 * 4 / 4.2))
    with explorer.hold():  # plain SGD is stable below 2 / 4 = 0.5 only
        explorer.controls["momentum"].value = explorer.controls["weight_decay"].value = 0.0
        explorer.controls["lr"].value = 0.55
    assert explorer.scene.diverged and "lr 0.55 is too high" in explorer.message
    explorer.controls["momentum"].value = 0.5  # momentum raises the limit to 0.75
    assert not explorer.scene.diverged and explorer.message == ""


@given(lr=st.sampled_from([0.05, 0.2, 0.4, 0.45, 0.6, 0.8, 1.0]),
       momentum=st.sampled_from([0.0, 0.3, 0.6, 0.9]), decay=st.sampled_from([0.0, 0.5, 1.0]))
def test_largest_stable_lr_separates_converging_from_exploding_paths(lr, momentum, decay):
    limit = largest_stable_lr(momentum, decay)
    assume(abs(lr - limit) > 0.05 * limit)  # the edge itself is neither
    end = descent_path(START, lr, momentum, decay, steps=400)[-1]
    if lr < limit:
        assert float(ravine(end)) < float(ravine(torch.tensor(START, dtype=torch.float64)))
    else:
        assert not torch.isfinite(end).all() or float(end.abs().max()) > 1e3
