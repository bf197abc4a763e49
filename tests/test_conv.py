"""The three reference convolutions against F.conv2d, and the conv matrix's structure."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse.arithmetic import conv_output_size
from cnncourse.conv import (
    conv2d_loops,
    conv2d_unfold,
    conv_matrix,
    conv_window,
    window_indices,
)

from .strategies import assert_close_tensor, conv_cases, seeds, tensors

IMPLEMENTATIONS = [conv2d_loops, conv2d_unfold]


def make(case, seed, bias: bool):
    x = tensors((case.n, case.c_in, *case.hw), seed)
    w = tensors((case.c_out, case.c_in, *case.kernel), seed + 1)
    b = tensors((case.c_out,), seed + 2) if bias else None
    return x, w, b


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
@given(case=conv_cases(), seed=seeds, bias=st.booleans(), batched=st.booleans())
def test_reference_conv_equals_f_conv2d(conv, case, seed, bias, batched):
    x, w, b = make(case, seed, bias)
    if not batched:
        x = x[0]
    expected = F.conv2d(x, w, b, case.stride, case.padding, case.dilation)
    got = conv(x, w, b, case.stride, case.padding, case.dilation)
    assert_close_tensor(got, expected, case)


@pytest.mark.parametrize("conv", IMPLEMENTATIONS)
def test_reference_conv_passes_gradients(conv):
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    conv(x, w, stride=2, padding=1).square().sum().backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    F.conv2d(x, w, stride=2, padding=1).square().sum().backward()
    assert_close_tensor(gx, x.grad)
    assert_close_tensor(gw, w.grad)


@given(case=conv_cases(max_size=6, max_channels=2), seed=seeds)
def test_conv_matrix_times_flat_input_equals_f_conv2d(case, seed):
    x, w, _ = make(case, seed, bias=False)
    x = x[0]  # (C_in, H, W)
    cm = conv_matrix(w, case.hw, case.stride, case.padding, case.dilation)
    expected = F.conv2d(x[None], w, None, case.stride, case.padding, case.dilation)
    assert cm.output_hw == tuple(expected.shape[2:])
    assert_close_tensor(cm.matrix @ x.flatten(), expected.flatten(), case)
    # Every non-zero entry copies the weight its index names; the rest are structural zeros.
    tied = cm.weight_index >= 0
    assert torch.equal(cm.matrix[tied], w.flatten()[cm.weight_index[tied]])
    assert torch.all(cm.matrix[~tied] == 0)


def test_conv_matrix_structure_for_a_3x3_kernel_on_a_4x4_image():
    w = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    cm = conv_matrix(w, 4)
    assert cm.matrix.shape == (4, 16)  # 2x2 outputs, 4x4 inputs
    # Output (0, 0) reads input rows 0-2, columns 0-2: flat inputs 0,1,2, 4,5,6, 8,9,10.
    assert cm.weight_index[0].tolist() == [0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, -1, -1, -1, -1]
    # Tied weights: each of the 9 weights appears once in each of the 4 rows.
    assert torch.equal(torch.bincount(cm.weight_index[cm.weight_index >= 0]), torch.full((9,), 4))
    assert (cm.weight_index < 0).sum() == 4 * 16 - 4 * 9


def test_conv_matrix_gradient_flows_to_the_weight():
    w = torch.randn(2, 1, 3, 3, requires_grad=True)
    conv_matrix(w, 5, padding=1).matrix.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


@pytest.mark.parametrize("call, parameter", [
    (lambda: conv2d_loops(torch.randn(3, 3), torch.randn(1, 1, 3, 3)), "x must have shape"),
    (lambda: conv2d_unfold(torch.randn(1, 2, 5, 5), torch.randn(1, 3, 3, 3)), "C_in"),
    (lambda: conv2d_loops(torch.ones(1, 1, 5, 5, dtype=torch.long), torch.randn(1, 1, 3, 3)),
     "x must be a floating-point"),
    (lambda: conv2d_unfold(torch.randn(1, 1, 5, 5), torch.randn(1, 3, 3)), "weight"),
    (lambda: conv2d_loops(torch.randn(1, 1, 5, 5), torch.randn(2, 1, 3, 3), torch.randn(3)),
     r"bias must have shape \(2,\)"),
    (lambda: conv2d_unfold(torch.randn(1, 1, 2, 2), torch.randn(1, 1, 3, 3)), "kernel_size"),
    (lambda: conv2d_loops(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3), stride=0), "stride"),
    (lambda: conv2d_unfold(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3), padding=-1),
     "padding"),
    (lambda: conv_matrix(torch.randn(3, 3), 5), "weight"),
    (lambda: conv_matrix(torch.randn(1, 1, 3, 3), 0), "input_hw"),
    (lambda: conv_matrix(torch.randn(1, 1, 3, 3), 2), "kernel_size"),
    (lambda: conv_matrix(torch.randn(1, 1, 3, 3), 5, dilation=0), "dilation"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()


@settings(max_examples=200)
@given(n=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_window_indices_are_the_pixels_unfold_reads(n, k, s, p, d):
    try:
        o = conv_output_size(n, k, s, p, d)
    except ValueError:
        return
    image = (torch.arange(n * n, dtype=torch.float64) + 1).reshape(1, 1, n, n)  # 0: padding
    windows = F.unfold(image, k, dilation=d, padding=p, stride=s)[0]  # (k*k, o*o)
    for i in range(o):
        for j in range(o):
            rows, cols = window_indices(i, k, s, p, d), window_indices(j, k, s, p, d)
            expected = [r * n + c + 1 if 0 <= r < n and 0 <= c < n else 0
                        for r in rows for c in cols]
            assert windows[:, i * o + j].tolist() == expected


@given(case=conv_cases(), seed=seeds, bias=st.booleans(), data=st.data())
@settings(max_examples=60, deadline=None)
def test_conv_window_is_one_output_of_f_conv2d(case, seed, bias, data):
    x, w, b = make(case, seed, bias)
    out = F.conv2d(x[:1], w, b, case.stride, case.padding, case.dilation)[0]
    f = data.draw(st.integers(0, out.shape[0] - 1))
    i, j = data.draw(st.integers(0, out.shape[1] - 1)), data.draw(st.integers(0, out.shape[2] - 1))
    got = conv_window(x[0], w, b, (i, j), f, case.stride, case.padding, case.dilation)
    assert got.window.shape == got.kernel.shape == got.products.shape == w.shape[1:]
    assert torch.equal(got.products, got.window * w[f])
    assert got.value == pytest.approx(float(out[f, i, j]), rel=1e-4, abs=1e-4)
    assert got.top == window_indices(i, w.shape[2], case.stride[0], case.padding[0],
                                     case.dilation[0])[0]


def test_conv_window_refuses_a_position_outside_the_output():
    with pytest.raises(ValueError, match="position must be inside the 3 x 3 output"):
        conv_window(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3), None, (3, 0))
    with pytest.raises(ValueError, match="out_channel"):
        conv_window(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3), None, (0, 0), 1)
