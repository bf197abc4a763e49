"""cnncourse.models: the lesson CNN and the global-average-pooling CNN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.arithmetic import count_parameters, shape_table
from cnncourse.models import conv_block, gap_cnn, simple_cnn


def _block_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    shapes = {}
    handles = [m.register_forward_hook(
        lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
        for name, m in model.named_children()]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return shapes


def test_default_model_halves_28_down_to_1():
    model = simple_cnn()
    shapes = _block_outputs(model, torch.zeros(3, 1, 28, 28))
    assert list(shapes) == ["block1", "block2", "block3", "block4", "head", "flatten"]
    assert shapes == {
        "block1": (3, 8, 14, 14), "block2": (3, 16, 7, 7), "block3": (3, 32, 4, 4),
        "block4": (3, 64, 2, 2), "head": (3, 10, 1, 1), "flatten": (3, 10),
    }


def test_blocks_are_conv_bn_relu_and_the_head_has_no_relu():
    model = simple_cnn()
    for name in ("block1", "block2", "block3", "block4"):
        block = getattr(model, name)
        assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
        assert block.conv.stride == (2, 2) and block.conv.bias is None
    assert [type(m) for m in model.head] == [nn.Conv2d, nn.BatchNorm2d]
    assert model.block1.conv.kernel_size == (5, 5) and model.block2.conv.kernel_size == (3, 3)


def test_without_batchnorm_the_convolutions_get_biases():
    model = simple_cnn(batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(c.bias is not None for c in convs)
    assert [type(m) for m in model.head] == [nn.Conv2d]


def test_channels_kernels_and_classes_are_configurable():
    model = simple_cnn(channels=(4, 6, 8, 12), first_kernel_size=3, kernel_size=5, n_classes=7)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 6, 8, 12, 7]
    assert [c.kernel_size[0] for c in convs] == [3, 5, 5, 5, 5]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 7)


@pytest.mark.parametrize("channels", [(8, 16), (8, 16, 32), (8, 16, 32, 64, 64, 64)])
def test_other_depths_still_give_one_score_per_class(channels):
    model = simple_cnn(channels=channels)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    if len(channels) < 4:
        assert isinstance(model.pool, nn.AdaptiveAvgPool2d)
    else:
        assert not hasattr(model, "pool")


def test_parameter_count_is_in_the_printout_and_the_shape_table():
    model = simple_cnn()
    n = count_parameters(model)
    assert f"{n:,} trainable parameters" in repr(model)
    # conv weights (no biases with batch norm) + two numbers per batch-norm channel
    convs = 8 * 1 * 25 + 16 * 8 * 9 + 32 * 16 * 9 + 64 * 32 * 9 + 10 * 64 * 9
    assert n == convs + 2 * (8 + 16 + 32 + 64 + 10)
    rows = shape_table(model, (1, 28, 28))
    assert sum(r.params for r in rows) == n


def test_seed_gives_repeatable_weights_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a, b = simple_cnn(seed=1), simple_cnn(seed=1)
    assert torch.equal(torch.rand(3), expected_next)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = simple_cnn(seed=2)
    assert not torch.equal(a.block1.conv.weight, c.block1.conv.weight)


@pytest.mark.parametrize("kwargs, name", [
    ({"channels": ()}, "channels"),
    ({"channels": 8}, "channels"),
    ({"channels": (8, 0)}, "channels"),
    ({"channels": (8, 2.5)}, "channels"),
    ({"first_kernel_size": 0}, "first_kernel_size"),
    ({"kernel_size": "3"}, "kernel_size"),
    ({"n_classes": 1}, "n_classes"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        simple_cnn(**kwargs)


def test_conv_block_options():
    block = conv_block(3, 4, kernel_size=5, batchnorm=False, relu=False)
    assert list(dict(block.named_children())) == ["conv"]
    assert block.conv.padding == (2, 2) and block.conv.stride == (2, 2)
    assert block(torch.zeros(1, 3, 9, 9)).shape == (1, 4, 5, 5)


def test_gap_cnn_ends_in_class_maps_averaged_to_scores():
    model = gap_cnn(seed=0).eval()
    shapes = _block_outputs(model, torch.zeros(2, 1, 28, 28))
    assert shapes["block3"] == (2, 64, 7, 7)  # the last block keeps the 7x7 map
    assert shapes["classifier"] == (2, 10, 7, 7)
    assert shapes["flatten"] == (2, 10)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        features = model[:3](x)
        maps = model.classifier(features)
        assert torch.allclose(model(x), maps.mean(dim=(2, 3)), atol=1e-6)
        # Any input size: a 40x40 image still gives one score per class.
        assert model(torch.randn(1, 1, 40, 40)).shape == (1, 10)


def test_gap_cnn_options_and_bad_arguments():
    model = gap_cnn((4, 8), batchnorm=False, n_classes=3, in_channels=3, seed=1)
    assert model.block1.conv.bias is not None and not hasattr(model.block1, "bn")
    assert model.block1.conv.stride == (2, 2) and model.block2.conv.stride == (1, 1)
    assert model(torch.zeros(1, 3, 28, 28)).shape == (1, 3)
    assert torch.equal(gap_cnn(seed=5).block1.conv.weight, gap_cnn(seed=5).block1.conv.weight)
    with pytest.raises(ValueError, match="channels"):
        gap_cnn(())
    with pytest.raises(ValueError, match="n_classes"):
        gap_cnn(n_classes=1)
