"""Receptive fields along a model's graph, checked against the gradient: the input pixels one
unit depends on, measured on a copy of the model made linear with positive weights.

The torchvision models are untrained (``weights=None``): nothing is downloaded, and the field
depends only on the architecture.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.ops import SqueezeExcitation

from cnncourse.arithmetic import receptive_field, unit_region
from cnncourse.footprint import gradient_footprint, linear_probe
from cnncourse.models import simple_cnn

ARCHITECTURES = {
    "lesson CNN": (lambda: simple_cnn(), 1),
    "VGG-16": (lambda: models.vgg16(weights=None), 3),
    "AlexNet": (lambda: models.alexnet(weights=None), 3),
    "ResNet-18": (lambda: models.resnet18(weights=None), 3),
    "ResNet-50": (lambda: models.resnet50(weights=None), 3),
    "MobileNetV2": (lambda: models.mobilenet_v2(weights=None), 3),
    "GoogLeNet": (lambda: models.googlenet(weights=None, init_weights=False), 3),
    "EfficientNet-B0": (lambda: models.efficientnet_b0(weights=None), 3),
}


@functools.cache
def architecture(name: str) -> tuple[nn.Module, nn.Module, int]:
    """The model, its linear probe and its input channels, built once per test session."""
    build, channels = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = build()
    return model, linear_probe(model), channels


def without_squeeze_excitation(probe: nn.Module) -> nn.Module:
    """The probe with every squeeze-excitation block letting its input through unscaled."""
    for module in probe.modules():
        if isinstance(module, SqueezeExcitation):
            module.register_forward_hook(lambda module, inputs, output: inputs[0])
    return probe


INNER = [  # (architecture, submodule, the field the graph gives, as the gradient measures it)
    ("lesson CNN", "block2", 9), ("lesson CNN", "block4", 33),
    ("VGG-16", "features", 212), ("VGG-16", "features.16", 44),
    ("AlexNet", "features", 195), ("AlexNet", "features.5", 67),
    ("ResNet-18", "layer2", 99), ("ResNet-18", "layer4", 435),
    ("ResNet-50", "layer2.0", 43), ("ResNet-50", "layer3", 267),
    ("MobileNetV2", "features.7", 75), ("MobileNetV2", "features", 491),
    ("GoogLeNet", "inception3b", 59), ("GoogLeNet", "inception4e", 235),
    ("EfficientNet-B0", "features.3", 67), ("EfficientNet-B0", "features.5", 339),
]


@pytest.mark.parametrize(("name", "at", "rf"), INNER)
def test_field_at_an_inner_layer_is_the_gradient_footprint(name, at, rf):
    """The centre unit's region is exactly the pixels it depends on; the corner unit's region,
    cut at the image border, too (which checks the jump and the start)."""
    model, probe, channels = architecture(name)
    side = receptive_field(model, at=at).rf * 5 // 4 + 32
    record = receptive_field(model, input_size=side, at=at)
    assert record.rf == rf
    if name == "EfficientNet-B0":  # squeeze-excitation lets every pixel reach every unit
        assert record.whole and gradient_footprint(probe, (channels, side, side),
                                                   at=at).everything
        probe = without_squeeze_excitation(linear_probe(model))
    centre = (record.out_size // 2,) * 2
    for unit in (centre, (0, 0)):
        seen = gradient_footprint(probe, (channels, side, side), unit, at=at)
        region = unit_region(record, *unit)
        if unit == centre:
            assert 0 < region.top and region.bottom < side - 1, "input too small to measure"
        expected = (max(region.top, 0), min(region.bottom, side - 1), max(region.left, 0),
                    min(region.right, side - 1))
        assert (seen.top, seen.bottom, seen.left, seen.right) == expected, (name, at, unit)


@pytest.mark.parametrize("name", [n for n in ARCHITECTURES if n != "lesson CNN"])
def test_after_the_classifier_every_unit_sees_the_whole_input(name):
    model, probe, channels = architecture(name)
    records = receptive_field(model, input_size=96)
    assert records[-1].whole and records[-1].rf is None
    assert gradient_footprint(probe, (channels, 96, 96)).everything


def test_published_values_and_the_chain_walk_they_correct():
    # google-research/receptive_field's table: VGG-16 212 and AlexNet 195 at their last
    # conv layers. Walking named_modules() in order gave 1,891 for ResNet-18's layer4.
    assert receptive_field(architecture("VGG-16")[0], at="features.28").rf == 196
    assert receptive_field(architecture("VGG-16")[0], at="features").rf == 212
    assert receptive_field(architecture("AlexNet")[0], at="features").rf == 195
    record = receptive_field(architecture("ResNet-18")[0], input_size=224, at="layer4")
    assert (record.rf, record.jump, record.out_size, record.whole) == (435, 32, 7, False)


def test_records_follow_the_graph_in_topological_order():
    records = receptive_field(architecture("ResNet-18")[0], input_size=224)
    names = [r.name for r in records]
    assert names[:4] == ["conv1", "maxpool", "layer1.0.conv1", "layer1.0.conv2"]
    # the shortcut of layer2.0 runs after its main branch and starts from layer1's output
    i = names.index("layer2.0.downsample.0")
    assert names[i - 2:i] == ["layer2.0.conv1", "layer2.0.conv2"]
    assert (records[i].rf, records[i].jump) == (43, 8)
    assert names[-2:] == ["avgpool", "fc"] and records[-2].out_size == 1


# --- how each kind of step is followed ------------------------------------------------------


class Branches(nn.Module):
    """Two branches of different kernels, concatenated or added."""

    def __init__(self, merge: str) -> None:
        super().__init__()
        self.merge = merge
        self.small = nn.Conv2d(1, 2, 3, padding=1)
        self.big = nn.Conv2d(1, 2, 5, padding=2)
        self.shifted = nn.Conv2d(1, 2, 3, padding=0)

    def forward(self, x):
        if self.merge == "cat":
            return torch.cat([self.small(x), self.big(x)], dim=1)
        if self.merge == "add":
            return self.small(x) + F.relu(self.big(x))
        return self.big(x)[..., 1:-1, 1:-1] + self.shifted(x)  # slices are not followed


def test_branches_meet_in_the_union_of_their_fields():
    for merge in ("cat", "add"):
        records = receptive_field(Branches(merge), input_size=12)
        # the output sees what the bigger branch sees: the last record describes it already
        assert [(r.name, r.rf) for r in records] == [("small", 3), ("big", 5)]
        assert records[-1].start == 0 and records[-1].out_size == 12


def test_a_global_summary_multiplied_back_makes_every_pixel_reach_the_unit():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = self.conv(x)
            return y * torch.sigmoid(self.fc(self.pool(y)))

    records = receptive_field(Gated(), input_size=16)
    assert [(r.name, r.whole) for r in records] == [("conv", False), ("pool", True),
                                                    ("fc", True), ("output", True)]
    assert records[-1].rf == 3 and "global summary" in records[-1].note
    assert records[1].rf is None


def test_linear_layers_mix_positions_only_over_flattened_maps():
    per_position = nn.Sequential(nn.Conv2d(1, 4, 3), Permute((0, 2, 3, 1)), nn.Linear(4, 4),
                                 Permute((0, 3, 1, 2)), nn.Conv2d(4, 1, 3))
    assert [r.rf for r in receptive_field(per_position)] == [3, 5]
    flattened = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 2))
    records = receptive_field(flattened, input_size=8)
    assert records[-1].name == "2" and records[-1].whole and records[-1].out_size is None


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


def test_functional_pools_same_padding_and_adaptive_pools():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 4, padding="same")

        def forward(self, x):
            return F.adaptive_avg_pool2d(F.max_pool2d(self.conv(x), 3, 2, 1), 4)

    records = receptive_field(Functional(), input_size=16)
    # torch pads a "same" layer with an even kernel 1 before, 2 after: the centre moves +0.5
    assert [(r.rf, r.jump, r.start, r.out_size) for r in records] == [
        (4, 1, 0.5, 16), (6, 2, 0.5, 8), (8, 4, 1.5, 4)]
    uneven = receptive_field(Functional(), input_size=14)[-1]
    assert uneven.rf is None and "uneven" in uneven.note
    assert "input_size" in receptive_field(Functional())[-1].note


def test_what_is_not_followed_or_misaligned_is_said_not_guessed():
    upsampled = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2),
                              nn.Conv2d(1, 1, 3))
    last = receptive_field(upsampled)[-1]
    assert last.rf is None and "Upsample" in last.note

    class Misaligned(nn.Module):
        def __init__(self):
            super().__init__()
            self.wide = nn.Conv2d(1, 1, 5)  # 8 -> 4, units 1 pixel apart
            self.strided = nn.Conv2d(1, 1, 1, stride=2)  # 8 -> 4, units 2 pixels apart

        def forward(self, x):
            return self.wide(x) + self.strided(x)

    last = receptive_field(Misaligned(), input_size=8)[-1]
    assert last.rf is None and "misaligned" in last.note
    with pytest.raises(ValueError, match="record"):
        unit_region(last, 0, 0)


def test_a_model_fx_cannot_trace_is_measured_by_gradients():
    class ValueDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, stride=2)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else -x

    model = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2), ValueDependent())
    with pytest.raises(ValueError, match=r"input_size: .*module '1' stopped it"):
        receptive_field(model)
    [record] = receptive_field(model, input_size=32)
    assert (record.rf, record.jump, record.start) == (7, 2, 1)  # as the recurrence gives
    assert "measured by gradients" in record.note and "'1'" in record.note
    assert receptive_field(model, input_size=32, at="0").rf == 5


def test_at_names_a_submodule_and_bad_input_names_the_parameter():
    model = architecture("ResNet-18")[0]
    with pytest.raises(ValueError, match="at: .*'layer9'"):
        receptive_field(model, at="layer9")
    with pytest.raises(ValueError, match="input_size: the map vanishes at layer 'features.30'"):
        receptive_field(architecture("VGG-16")[0], input_size=16)
    with pytest.raises(ValueError, match="at"):
        receptive_field([(3, 1, 1)], at="layer1")
    leaf = receptive_field(model, input_size=224, at="layer1.0.conv1")
    assert (leaf.name, leaf.kernel_size, leaf.rf) == ("layer1.0.conv1", 3, 19)
    block = receptive_field(model, input_size=224, at="layer1.0")
    assert (block.name, block.kernel_size, block.rf) == ("layer1.0", None, 27)
