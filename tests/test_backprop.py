"""cnncourse.backprop: the written-out gradients of convolution and pooling equal autograd's."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from cnncourse.backprop import (
    avg_pool2d_backward,
    compose_kernels,
    conv2d_backward,
    max_pool2d_backward,
)

from .strategies import assert_close_tensor, conv_cases, seeds, tensors


def _autograd(fn, *inputs):
    """Autograd's gradients of ``fn(*inputs)`` for a random output gradient."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    out.backward(grad_out)
    return grad_out, [leaf.grad for leaf in leaves]


undilated = conv_cases(max_size=9, valid=False).map(
    lambda case: dataclasses.replace(case, dilation=(1, 1))).filter(lambda case: case.valid())


@given(case=undilated, seed=seeds)
def test_conv2d_backward_equals_autograd(case, seed):
    x = tensors((case.n, case.c_in, *case.hw), seed)
    w = tensors((case.c_out, case.c_in, *case.kernel), seed + 1)
    b = tensors((case.c_out,), seed + 2)
    grad_out, (gx, gw, gb) = _autograd(
        lambda x, w, b: F.conv2d(x, w, b, stride=case.stride, padding=case.padding), x, w, b)
    grad_x, grad_weight, grad_bias = conv2d_backward(x, w, grad_out, case.stride, case.padding)
    assert_close_tensor(grad_x, gx, case)
    assert_close_tensor(grad_weight, gw, case)
    assert_close_tensor(grad_bias, gb, case)


@given(case=undilated, seed=seeds)
def test_the_input_gradient_is_a_transposed_convolution(case, seed):
    """grad_x is conv_transpose2d of grad_out, with the output padding that restores x."""
    x = tensors((case.n, case.c_in, *case.hw), seed)
    w = tensors((case.c_out, case.c_in, *case.kernel), seed + 1)
    out = F.conv2d(x, w, stride=case.stride, padding=case.padding)
    grad_out = tensors(out.shape, seed + 3)
    extra = tuple(h + 2 * p - ((o - 1) * s + k) for h, p, o, s, k in zip(
        case.hw, case.padding, out.shape[2:], case.stride, case.kernel, strict=True))
    assume(all(e < s for e, s in zip(extra, case.stride, strict=True)))  # a valid output_padding
    transposed = F.conv_transpose2d(grad_out, w, stride=case.stride, padding=case.padding,
                                    output_padding=extra)
    assert_close_tensor(conv2d_backward(x, w, grad_out, case.stride, case.padding)[0],
                        transposed, case)


pool_cases = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(2, 9),
                       st.integers(2, 9), st.integers(1, 4), st.integers(1, 4))


@given(case=pool_cases, seed=seeds, integers=st.booleans())
def test_pooling_backward_equals_autograd(case, seed, integers):
    """Overlapping windows (stride < kernel) add up; with integer pixels, ties are common and
    max pooling's gradient goes to the first largest, as torch's does."""
    n, c, h, w, k, s = case
    assume(k <= h and k <= w)
    x = tensors((n, c, h, w), seed)
    if integers:
        x = (x * 1.5).round()
    for pool, backward in ((F.max_pool2d, max_pool2d_backward),
                           (F.avg_pool2d, avg_pool2d_backward)):
        grad_out, (gx,) = _autograd(lambda x, pool=pool: pool(x, k, s), x)
        assert_close_tensor(backward(x, grad_out, k, s), gx, (case, pool.__name__))


def test_max_pooling_sends_each_gradient_to_one_pixel_average_spreads_it():
    x = torch.tensor([[[[1.0, 5.0], [2.0, 3.0]]]])
    grad_out = torch.tensor([[[[4.0]]]])
    assert max_pool2d_backward(x, grad_out, 2).tolist() == [[[[0.0, 4.0], [0.0, 0.0]]]]
    assert avg_pool2d_backward(x, grad_out, 2).tolist() == [[[[1.0, 1.0], [1.0, 1.0]]]]


@given(c0=st.integers(1, 3), c1=st.integers(1, 3), c2=st.integers(1, 3), a=st.integers(1, 4),
       b=st.integers(1, 4), seed=seeds)
def test_two_convolutions_are_one(c0, c1, c2, a, b, seed):
    # in float64: the two sides add the same products in different orders
    x = tensors((2, c0, 12, 12), seed).double()
    first = tensors((c1, c0, a, a), seed + 1).double()
    second = tensors((c2, c1, b, b), seed + 2).double()
    composed = compose_kernels(first, second)
    assert composed.shape == (c2, c0, a + b - 1, a + b - 1)
    assert_close_tensor(F.conv2d(x, composed), F.conv2d(F.conv2d(x, first), second),
                        (c0, c1, c2, a, b))


def test_bad_shapes_are_named():
    x, w = torch.zeros(1, 1, 5, 5), torch.zeros(2, 1, 3, 3)
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        conv2d_backward(x, w, torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        max_pool2d_backward(x, torch.zeros(1, 1, 3, 3), 2)
    with pytest.raises(ValueError, match=r"the pooled output, \(1, 1, 2, 2\), got \(1, 3, 2, 2\)"):
        avg_pool2d_backward(x, torch.zeros(1, 3, 2, 2), 2)  # the channels must match too
    with pytest.raises(ValueError, match="second must read the 2 channels"):
        compose_kernels(w, torch.zeros(1, 3, 3, 3))
    with pytest.raises(ValueError, match="x must"):
        conv2d_backward(torch.zeros(5, 5), w, torch.zeros(1, 2, 3, 3))
