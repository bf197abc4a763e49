"""cnncourse.architectures: lesson 18's networks, their shapes, parameter counts against the
hand formulas, the residual block's identity path and the argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.architectures import (
    EQUAL_BUDGET,
    ResidualBlock,
    bottleneck_cnn,
    bottleneck_weights,
    conv_weights,
    flatten_cnn,
    lenet,
    separable_cnn,
    separable_weights,
    small_resnet,
    vgg_style,
)
from cnncourse.arithmetic import count_parameters, shape_table
from cnncourse.models import gap_cnn


def _weights(module: nn.Module) -> int:
    """The convolution weights of ``module`` (biases and batch norm left out)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", sorted(EQUAL_BUDGET))
def test_every_network_maps_digits_to_ten_scores_within_the_budget(name):
    model = EQUAL_BUDGET[name](seed=0).eval()
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    table = shape_table(model, (1, 28, 28))
    assert table.params == count_parameters(model)
    assert 3_000 <= table.params <= 31_000, (name, table.params)
    assert table.macs > 0


def test_the_same_seed_gives_the_same_weights_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a, b, c = small_resnet(seed=1), small_resnet(seed=1), small_resnet(seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.down1.conv.weight, b.down1.conv.weight)
    assert not torch.equal(a.down1.conv.weight, c.down1.conv.weight)


def test_lenet_shrinks_28_to_5_before_its_classifier():
    model = lenet()
    rows = {row.name: row.out_shape for row in shape_table(model, (1, 28, 28))}
    assert rows["pool1"] == (1, 6, 14, 14) and rows["pool2"] == (1, 16, 5, 5)
    assert rows["flatten"] == (1, 400) and rows["classifier"] == (1, 10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("convs", [(1, 2, 2), (2, 2, 2)])
def test_vgg_style_pools_after_each_stage_of_3x3_convolutions(convs):
    model = vgg_style((8, 16, 32), convs=convs)
    rows = {row.name: row.out_shape for row in shape_table(model, (1, 28, 28))}
    assert rows[f"stage1_conv{convs[0]}.relu"] == (1, 8, 28, 28)
    assert rows["stage1_pool"] == (1, 8, 14, 14)
    assert rows["stage2_pool"] == (1, 16, 7, 7) and rows["stage3_pool"] == (1, 32, 3, 3)
    found = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(found) == sum(convs) and all(c.kernel_size == (3, 3) for c in found)


@pytest.mark.parametrize("c_in,mid,c_out", [(64, 16, 64), (16, 16, 64), (64, 32, 128)])
def test_a_bottleneck_block_has_the_weights_of_the_hand_formula(c_in, mid, c_out):
    assert bottleneck_weights(c_in, mid, c_out) == mid * c_in + mid * mid * 9 + c_out * mid
    model = bottleneck_cnn((c_in, c_out), squeeze=c_out // mid)
    assert _weights(model.block1) == bottleneck_weights(c_in, mid, c_out)


def test_a_bottleneck_costs_a_fraction_of_the_3x3_convolution_it_replaces():
    assert conv_weights(64, 64) == 36_864
    assert bottleneck_weights(64, 16, 64) == 1_024 + 2_304 + 1_024
    assert separable_weights(64, 64) == 576 + 4_096


@pytest.mark.parametrize("c_in,c_out", [(8, 8), (8, 16), (32, 32), (16, 64)])
def test_a_separable_convolution_has_the_weights_of_the_hand_formula(c_in, c_out):
    assert separable_weights(c_in, c_out) == c_in * 9 + c_out * c_in
    model = separable_cnn((c_in, c_out), convs=(1, 1))
    block = model.stage2_conv1
    assert block.depthwise.groups == c_in and block.depthwise.weight.shape == (c_in, 1, 3, 3)
    assert _weights(block) == separable_weights(c_in, c_out)


def test_separable_cnn_is_vgg_style_with_its_convolutions_split():
    vgg, sep = vgg_style((8, 16, 32)), separable_cnn((8, 16, 32))
    vgg_rows = [r.out_shape for r in shape_table(vgg, (1, 28, 28)) if r.name.endswith("relu")]
    sep_rows = [r.out_shape for r in shape_table(sep, (1, 28, 28)) if r.name.endswith("relu")]
    assert vgg_rows == sep_rows
    assert _weights(sep.stage1_conv1) == _weights(vgg.stage1_conv1) == conv_weights(1, 8)
    pairs = [(8, 16), (16, 16), (16, 32), (32, 32)]  # the first stage has one convolution
    assert _weights(sep) == conv_weights(1, 8) + sum(separable_weights(a, b) for a, b in pairs)
    assert _weights(vgg) == conv_weights(1, 8) + sum(conv_weights(a, b) for a, b in pairs)


def test_flatten_and_gap_heads_share_the_body_but_not_the_head():
    flat, gap = flatten_cnn((8, 16, 32)), gap_cnn((8, 16, 32))
    assert _weights(flat) == _weights(gap) - 32 * 10  # gap_cnn classifies with a 1x1 conv
    assert flat.classifier.weight.shape == (10, 32 * 7 * 7)
    assert flatten_cnn((8, 16, 32), input_size=32).classifier.in_features == 32 * 8 * 8


def test_a_residual_block_whose_last_convolution_is_zero_is_the_identity():
    block = ResidualBlock(8, zero_init=True)
    assert torch.count_nonzero(block.conv2.weight) == 0
    x = torch.relu(torch.randn(4, 8, 7, 7))  # a block's input comes out of a ReLU
    for mode in (block.train, block.eval):
        mode()
        assert torch.equal(block(x), x)
    trained = ResidualBlock(8, zero_init=False).eval()
    assert not torch.allclose(trained(x), x)


def test_small_resnet_starts_every_block_as_the_identity_with_zero_init():
    model = small_resnet(zero_init=True, seed=0).eval()
    x = torch.relu(torch.randn(2, 8, 14, 14))
    assert torch.equal(model.res1(x), x)
    rows = {row.name: row.out_shape for row in shape_table(model, (1, 28, 28))}
    assert rows["res1.relu2"] == (1, 8, 14, 14) and rows["res3.relu2"] == (1, 32, 4, 4)


@pytest.mark.parametrize("build,kwargs,name", [
    (lenet, {"channels": (6,)}, "channels"),
    (lenet, {"hidden": 0}, "hidden"),
    (vgg_style, {"channels": ()}, "channels"),
    (vgg_style, {"n_classes": 1}, "n_classes"),
    (vgg_style, {"convs": (1, 2)}, "convs"),
    (vgg_style, {"convs": (1, 0, 2)}, "convs"),
    (separable_cnn, {"channels": "8"}, "channels"),
    (separable_cnn, {"in_channels": 0}, "in_channels"),
    (flatten_cnn, {"input_size": 0}, "input_size"),
    (flatten_cnn, {"first_kernel_size": 2.5}, "first_kernel_size"),
    (bottleneck_cnn, {"channels": (16,)}, "channels"),
    (bottleneck_cnn, {"squeeze": 0}, "squeeze"),
    (bottleneck_cnn, {"channels": (16, 4), "squeeze": 8}, "squeeze"),
    (small_resnet, {"zero_init": 1}, "zero_init"),
    (small_resnet, {"seed": -1}, "seed"),
    (ResidualBlock, {"channels": 0}, "channels"),
    (conv_weights, {"c_in": 0, "c_out": 4}, "c_in"),
    (separable_weights, {"c_in": 4, "c_out": 4, "kernel_size": True}, "kernel_size"),
    (bottleneck_weights, {"c_in": 4, "mid": 0, "c_out": 4}, "mid"),
])
def test_bad_arguments_give_a_value_error_naming_the_parameter(build, kwargs, name):
    with pytest.raises(ValueError, match=name):
        build(**kwargs)
