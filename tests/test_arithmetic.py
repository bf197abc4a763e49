"""Output sizes and receptive fields against real torch layers and hand-worked networks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st
from torch import nn

from cnncourse.arithmetic import (
    conv_output_formula,
    conv_output_size,
    conv_transpose_output_size,
    count_parameters,
    pool_output_size,
    receptive_field,
    same_padding,
    shape_table,
    unit_region,
)

from .strategies import conv_cases, dilations, kernels, layer_stacks, paddings, pairs, strides


def torch_conv_hw(case) -> tuple[int, int] | None:
    layer = nn.Conv2d(1, 1, case.kernel, case.stride, case.padding, case.dilation, bias=False)
    try:
        return tuple(layer(torch.zeros(1, 1, *case.hw)).shape[2:])
    except RuntimeError:
        return None


@given(conv_cases(valid=False))
def test_conv_output_size_equals_conv2d(case):
    expected = torch_conv_hw(case)
    if expected is None:
        with pytest.raises(ValueError, match="kernel_size"):
            conv_output_size(case.hw, case.kernel, case.stride, case.padding, case.dilation)
    else:
        got = conv_output_size(case.hw, case.kernel, case.stride, case.padding, case.dilation)
        assert got == expected
        # with ints on one axis the answer is an int
        assert conv_output_size(case.hw[0], case.kernel[0], case.stride[0], case.padding[0],
                                case.dilation[0]) == expected[0]


def test_conv_output_size_error_shows_the_formula():
    with pytest.raises(ValueError) as err:
        conv_output_size(2, 5)
    assert str(err.value).startswith(
        "kernel_size 5 (dilated to 5) is larger than the padded input 2 + 2*0 = 2: "
        "output = floor((2 + 0 - 5) / 1) + 1 = -2")


def test_conv_output_formula_fills_in_numbers():
    assert conv_output_formula(28, 3, 1, 1) == "floor((28 + 2*1 - 3) / 1) + 1 = 28"
    assert conv_output_formula(28, 3, 2, 1, dilation=2) == "floor((28 + 2*1 - 5) / 2) + 1 = 13"


@given(st.integers(1, 30), kernels, dilations)
def test_same_padding_keeps_the_size(n, k, d):
    effective = d * (k - 1) + 1
    if effective % 2 == 0:
        with pytest.raises(ValueError, match="kernel_size .* even"):
            same_padding(k, d)
    else:
        p = same_padding(k, d)
        assume(n + 2 * p >= effective)
        assert conv_output_size(n, k, 1, p, d) == n
        layer = nn.Conv2d(1, 1, k, 1, p, d)
        assert layer(torch.zeros(1, 1, n, n)).shape[-1] == n


@given(pairs(st.integers(1, 14)), pairs(kernels), pairs(strides), pairs(paddings),
       pairs(dilations), st.booleans())
def test_pool_output_size_equals_maxpool2d(hw, k, s, p, d, ceil_mode):
    try:
        expected = tuple(nn.MaxPool2d(k, s, p, d, ceil_mode=ceil_mode)(
            torch.zeros(1, 1, *hw)).shape[2:])
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError, match="padding|kernel_size"):
            pool_output_size(hw, k, s, p, d, ceil_mode)
    else:
        assert pool_output_size(hw, k, s, p, d, ceil_mode) == expected


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(28, 2) == 14
    assert pool_output_size(7, 2) == 3
    assert pool_output_size(7, 2, ceil_mode=True) == 4


@given(pairs(st.integers(1, 10)), pairs(kernels), pairs(strides), pairs(paddings),
       pairs(st.integers(0, 3)), pairs(dilations))
@example(hw=(1, 1), k=(5, 5), s=(2, 2), p=(3, 3), op=(1, 1), d=(1, 1))  # torch: a 0x0 map
def test_conv_transpose_output_size_equals_convtranspose2d(hw, k, s, p, op, d):
    try:
        layer = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
        expected = tuple(layer(torch.zeros(1, 1, *hw)).shape[2:])
    except (RuntimeError, ValueError):
        expected = None
    if expected is not None and 0 in expected:
        expected = None  # torch returns an empty map; the engine says the padding is too large
    if expected is None:
        with pytest.raises(ValueError, match="output_padding|padding"):
            conv_transpose_output_size(hw, k, s, p, op, d)
    else:
        assert conv_transpose_output_size(hw, k, s, p, op, d) == expected


@pytest.mark.parametrize("call, parameter", [
    (lambda: conv_output_size(0, 3), "n"),
    (lambda: conv_output_size(28, 0), "kernel_size"),
    (lambda: conv_output_size(28, 3, stride=0), "stride"),
    (lambda: conv_output_size(28, 3, padding=-1), "padding"),
    (lambda: conv_output_size(28, 3, dilation=0), "dilation"),
    (lambda: conv_output_size(28, (3, 3, 3)), "kernel_size"),
    (lambda: conv_output_size(28, 3.0), "kernel_size"),
    (lambda: conv_output_size(True, 3), "n"),
    (lambda: conv_output_size("28", 3), "n"),
    (lambda: conv_output_size((28, 2), 3), "height|width"),
    (lambda: same_padding(0), "kernel_size"),
    (lambda: same_padding(3, dilation=-1), "dilation"),
    (lambda: pool_output_size(28, 2, padding=2), "padding"),
    (lambda: pool_output_size(28, 2, ceil_mode="yes"), "ceil_mode"),
    (lambda: pool_output_size(1, 3), "kernel_size"),
    (lambda: conv_transpose_output_size(5, 3, stride=2, output_padding=2), "output_padding"),
    (lambda: conv_transpose_output_size(1, 1, padding=1), "padding"),
    (lambda: receptive_field([]), "model"),
    (lambda: receptive_field("conv"), "model"),
    (lambda: receptive_field([(3, 1)]), r"model\[0\]"),
    (lambda: receptive_field([(3, 0, 1)]), r"model\[0\] stride"),
    (lambda: receptive_field(nn.ReLU()), "model"),
    (lambda: receptive_field([(3, 1, 0)] * 3, input_size=4), "layer 'layer2': kernel_size 3"),
    (lambda: receptive_field([(3, 1, 0)], input_size=0), "input_size"),
    (lambda: unit_region(receptive_field([(3, 1, 1)])[0], -1, 0), "row"),
    (lambda: unit_region(receptive_field([(3, 1, 1)])[0], 0, 1.5), "col"),
    (lambda: unit_region(receptive_field([(3, 2, 1)], input_size=8)[0], 0, 4), "col < 4"),
    (lambda: shape_table("model", (1, 28, 28)), "model"),
    (lambda: shape_table(nn.Conv2d(1, 4, 3), (28, 28)), "input_shape"),
    (lambda: shape_table(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(3, 2, 3)), (1, 28, 28)),
     "layer '1'"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()


# --- receptive fields ---------------------------------------------------------------------


def test_receptive_field_of_vgg16_worked_by_hand():
    # VGG-16 (Simonyan & Zisserman): 3x3 convs with padding 1 and 2x2 max pools of stride 2.
    # Each 3x3 conv adds 2 * jump; each pool adds 1 * jump and doubles the jump.
    conv, pool = (3, 1, 1), (2, 2, 0)
    blocks = [2, 2, 3, 3, 3]
    layers = []
    for n_convs in blocks:
        layers += [conv] * n_convs + [pool]
    records = receptive_field(layers, input_size=224)
    rfs = [r.rf for r in records]
    assert rfs == [3, 5, 6,            # block 1, jump 1 then 2
                   10, 14, 16,         # block 2: +4, +4, pool +2 (jump 2 -> 4)
                   24, 32, 40, 44,     # block 3: +8 each, pool +4
                   60, 76, 92, 100,    # block 4: +16 each, pool +8
                   132, 164, 196, 212]  # block 5: +32 each, pool +16: conv5_3 sees 196 pixels
    assert records[-1].jump == 32
    assert records[-1].out_size == 7
    # Convs with padding 1 keep the centre; each pool moves it half a jump to the right.
    assert records[-1].start == 0.5 + 1 + 2 + 4 + 8


def test_receptive_field_of_torchvision_alexnet_worked_by_hand():
    from torchvision.models import alexnet

    model = alexnet(weights=None)
    records = receptive_field(model, input_size=224)
    # features: conv 11/4/2, pool 3/2, conv 5/1/2, pool 3/2, 3 x conv 3/1/1, pool 3/2; the
    # adaptive pool to 6 x 6 keeps the 6 x 6 map; each unit of the classifier sees it all.
    assert [(r.name, r.rf, r.whole) for r in records[8:]] == [
        ("avgpool", 195, False), ("classifier.1", None, True), ("classifier.4", None, True),
        ("classifier.6", None, True)]
    records = records[:8]
    assert [r.kernel_size for r in records] == [11, 3, 5, 3, 3, 3, 3, 3]
    assert [r.name for r in records][:2] == ["features.0", "features.2"]
    # rf: 11; +2*4 = 19; +4*8 = 51; +2*8 = 67; +2*16 = 99, 131, 163; +2*16 = 195
    assert [r.rf for r in records] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert [r.jump for r in records] == [4, 8, 8, 16, 16, 16, 16, 32]
    # sizes: floor((224 + 4 - 11) / 4) + 1 = 55; pools floor((55 - 3) / 2) + 1 = 27, 13, 6
    assert [r.out_size for r in records] == [55, 27, 27, 13, 13, 13, 13, 6]
    # start: (5 - 2) * 1 = 3; + 1 * 4 = 7; + 0; + 1 * 8 = 15; + 0 three times; + 1 * 16 = 31
    assert [r.start for r in records] == [3, 7, 7, 15, 15, 15, 15, 31]


def test_receptive_field_of_lesson_cnn_stride_two_stack():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 5, 2, 2), nn.ReLU()),
        *[nn.Sequential(nn.Conv2d(4, 4, 3, 2, 1), nn.BatchNorm2d(4)) for _ in range(4)],
        nn.Flatten())
    records = receptive_field(model, input_size=28)
    assert [r.out_size for r in records] == [14, 7, 4, 2, 1]
    assert [r.rf for r in records] == [5, 9, 17, 33, 65]
    assert [r.jump for r in records] == [2, 4, 8, 16, 32]


def test_receptive_field_non_square_gives_pairs():
    records = receptive_field([((3, 1), 1, (1, 0))], input_size=(10, 8))
    assert records[0].rf == (3, 1)
    assert records[0].out_size == (10, 8)


@given(layer_stacks.filter(lambda s: len(s) <= 4))
def test_receptive_field_equals_gradient_footprint(stack):
    """The input pixels one output depends on span rf and are centred at start + i * jump."""
    records = receptive_field(stack)
    rf, jump, start = records[-1].rf, records[-1].jump, records[-1].start
    length = 3 * rf + 4 * jump + 8 * len(stack)
    out = receptive_field(stack, input_size=length)[-1].out_size
    i = out // 2
    low, high = start + i * jump - (rf - 1) / 2, start + i * jump + (rf - 1) / 2
    assume(0 <= low and high <= length - 1)
    net = nn.Sequential(*[nn.Conv1d(1, 1, k, s, p, d, bias=False) for k, s, p, d in stack])
    for layer in net:
        nn.init.ones_(layer.weight)
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    net.double()(x)[0, 0, i].backward()
    seen = torch.nonzero(x.grad[0, 0]).flatten()
    assert seen.min().item() == low and seen.max().item() == high


# --- the input region of one unit -----------------------------------------------------------


def footprint(net: nn.Module, size: tuple[int, int], row: int, col: int) -> torch.Tensor:
    """The (row, col) input pixels whose gradient for output unit (row, col) is not zero, with
    every weight 1 on an input of ones (so no contribution can cancel another)."""
    net = net.double()
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.ones_(module.weight)
    x = torch.ones(1, 1, *size, dtype=torch.float64, requires_grad=True)
    net(x)[0, 0, row, col].backward()
    return torch.nonzero(x.grad[0, 0])


def as_module(stack) -> nn.Sequential:
    """``("conv", k, s, p, d)`` and ``("pool", k, s, p)`` layers as Conv2d and AvgPool2d."""
    return nn.Sequential(*[
        nn.Conv2d(1, 1, k, s, p, *rest, bias=False) if kind == "conv" else nn.AvgPool2d(k, s, p)
        for kind, k, s, p, *rest in stack])


conv_layers = st.tuples(st.just("conv"), kernels, strides, st.integers(0, 2), dilations)
pool_layers = st.tuples(kernels, strides).flatmap(
    lambda ks: st.tuples(st.just("pool"), st.just(ks[0]), st.just(ks[1]),
                         st.integers(0, ks[0] // 2)))


@given(st.lists(st.one_of(conv_layers, pool_layers), min_size=1, max_size=4))
def test_unit_region_is_the_gradient_footprint_of_a_unit(stack):
    """For a unit whose region lies inside the image, the pixels it depends on reach all four
    sides of the region and none lies outside it."""
    net = as_module(stack)
    last = receptive_field(net)[-1]
    side = 3 * last.rf + 4 * last.jump + 8 * len(stack)
    record = receptive_field(net, input_size=side)[-1]
    unit = record.out_size // 2
    region = unit_region(record, unit, unit)
    assume(region.top >= 0 and region.bottom <= side - 1)
    seen = footprint(net, (side, side), unit, unit)
    rows, cols = seen[:, 0], seen[:, 1]
    assert (rows.min().item(), rows.max().item()) == (region.top, region.bottom), stack
    assert (cols.min().item(), cols.max().item()) == (region.left, region.right), stack
    assert region.height == region.width == record.rf
    assert region.centre == (record.start + unit * record.jump,) * 2


EDGE_STACKS = {
    "3x3 convs, a stride-2 conv, a pool": (nn.Sequential(
        nn.Conv2d(1, 1, 3, 1, 1), nn.Conv2d(1, 1, 3, 2, 1), nn.AvgPool2d(2),
        nn.Conv2d(1, 1, 5, 1, 2)), (28, 28)),
    "big kernels, padded pool": (nn.Sequential(
        nn.Conv2d(1, 1, 7, 2, 3), nn.AvgPool2d(3, 2, 1), nn.Conv2d(1, 1, 5, 1, 2)), (23, 23)),
    "rectangular kernels and input": (nn.Sequential(
        nn.Conv2d(1, 1, (3, 5), (1, 2), (1, 2)), nn.Conv2d(1, 1, (5, 3), 2, (2, 1))), (19, 26)),
}


@pytest.mark.parametrize("name", sorted(EDGE_STACKS))
def test_unit_region_at_the_edges_reaches_into_the_padding(name):
    """Units at the corners see padding: the pixels they depend on are the region's part
    inside the image, up to its corners there."""
    net, (height, width) = EDGE_STACKS[name]
    record = receptive_field(net, input_size=(height, width))[-1]
    out_h, out_w = record.out_size if isinstance(record.out_size, tuple) else (
        record.out_size, record.out_size)
    for row, col in [(0, 0), (out_h // 2, out_w // 2), (out_h - 1, out_w - 1), (0, out_w - 1)]:
        region = unit_region(record, row, col)
        seen = footprint(net, (height, width), row, col)
        rows, cols = seen[:, 0], seen[:, 1]
        expected = (max(region.top, 0), min(region.bottom, height - 1),
                    max(region.left, 0), min(region.right, width - 1))
        assert (rows.min().item(), rows.max().item(), cols.min().item(),
                cols.max().item()) == expected, (name, row, col, region)
    corner = unit_region(record, 0, 0)
    assert corner.top < 0 and corner.left < 0  # the first unit does reach into the padding


# --- shape table --------------------------------------------------------------------------


def test_shape_table_lists_leaf_layers_from_a_real_forward_pass():
    model = nn.Sequential(nn.Conv2d(1, 8, 5, 2, 2), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU()), nn.Flatten())
    model.train()
    running = model[1].running_mean.clone()
    rows = shape_table(model, (1, 28, 28))
    assert [(r.name, r.type) for r in rows] == [
        ("0", "Conv2d"), ("1", "BatchNorm2d"), ("2", "ReLU"), ("3.0", "Conv2d"), ("3.1", "ReLU"),
        ("4", "Flatten")]
    assert [r.out_shape for r in rows] == [(1, 8, 14, 14)] * 3 + [(1, 16, 7, 7)] * 2 + [(1, 784)]
    assert [r.params for r in rows] == [8 * 25 + 8, 16, 0, 16 * 8 * 9 + 16, 0, 0]
    assert sum(r.params for r in rows) == count_parameters(model)
    assert model.training and torch.equal(model[1].running_mean, running)
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks


def test_count_parameters_counts_trainable_ones_unless_asked_for_all():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))  # 16 + 10 parameters
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == 26 - 12
    assert count_parameters(model, trainable_only=False) == 26
