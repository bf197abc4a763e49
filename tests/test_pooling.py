"""pool2d and global_avg_pool against torch's pools."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from cnncourse.pooling import global_avg_pool, pool2d

from .strategies import assert_close_tensor, kernels, pairs, seeds, strides, tensors

TORCH_POOLS = {
    "max": lambda x, k, s, p: F.max_pool2d(x, k, s, p),
    "avg": lambda x, k, s, p: F.avg_pool2d(x, k, s, p),
    "min": lambda x, k, s, p: -F.max_pool2d(-x, k, s, p),
}


@given(hw=pairs(st.integers(1, 12)), k=pairs(kernels), s=st.none() | pairs(strides),
       p=pairs(st.integers(0, 2)), mode=st.sampled_from(["max", "avg", "min"]), seed=seeds,
       batched=st.booleans())
def test_pool2d_equals_torch(hw, k, s, p, mode, seed, batched):
    assume(all(2 * pi <= ki for pi, ki in zip(p, k, strict=True)))
    assume(all(h + 2 * pi >= ki for h, pi, ki in zip(hw, p, k, strict=True)))
    x = tensors((2, 3, *hw), seed)
    if not batched:
        x = x[0]
    expected = TORCH_POOLS[mode](x, k, s if s is not None else k, p)
    assert_close_tensor(pool2d(x, k, s, p, mode), expected, (hw, k, s, p, mode))


def test_max_pool_halves_a_digit_and_keeps_the_strongest_pixel():
    x = torch.zeros(1, 28, 28)
    x[0, 10, 11] = 5.0
    out = pool2d(x, 2)
    assert out.shape == (1, 14, 14)
    assert out[0, 5, 5] == 5.0 and out.sum() == 5.0


def test_global_avg_pool_equals_adaptive_avg_pool_flattened():
    x = torch.randn(4, 16, 7, 5)
    assert_close_tensor(global_avg_pool(x), F.adaptive_avg_pool2d(x, 1).flatten(1))
    assert global_avg_pool(x).shape == (4, 16)


@pytest.mark.parametrize("call, parameter", [
    (lambda: pool2d(torch.randn(5, 5), 2), "x must have shape"),
    (lambda: pool2d(torch.randn(1, 5, 5), 2, mode="median"), "mode"),
    (lambda: pool2d(torch.randn(1, 5, 5), 2, padding=2), "padding"),
    (lambda: pool2d(torch.randn(1, 5, 5), 0), "kernel_size"),
    (lambda: pool2d(torch.randn(1, 5, 5), 2, stride=0), "stride"),
    (lambda: pool2d(torch.randn(1, 2, 2), 3), "kernel_size 3"),
    (lambda: global_avg_pool(torch.randn(3, 5, 5)), r"x must have shape \(N, C, H, W\)"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()
