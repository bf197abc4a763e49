"""batch_norm against F.batch_norm, including the running statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from cnncourse.norm import batch_norm

from .strategies import assert_close_tensor, seeds, tensors


@given(shape=st.sampled_from([(4, 3), (2, 3, 5), (2, 3, 4, 4), (5, 1, 2, 3), (1, 2, 3, 3)]),
       seed=seeds, affine=st.booleans(), training=st.booleans(),
       momentum=st.floats(0.0, 1.0), eps=st.floats(1e-6, 1e-1))
def test_batch_norm_equals_torch_with_running_stats(shape, seed, affine, training, momentum,
                                                    eps):
    x = tensors(shape, seed) * 3 + 1
    c = shape[1]
    mean, var = tensors((c,), seed + 1), tensors((c,), seed + 2).abs() + 0.5
    weight = tensors((c,), seed + 3) if affine else None
    bias = tensors((c,), seed + 4) if affine else None
    ours_mean, ours_var = mean.clone(), var.clone()
    expected = F.batch_norm(x, mean, var, weight, bias, training, momentum, eps)
    got = batch_norm(x, ours_mean, ours_var, weight, bias, training, momentum, eps)
    assert_close_tensor(got, expected, (shape, training, momentum, eps))
    assert_close_tensor(ours_mean, mean, "running_mean")
    assert_close_tensor(ours_var, var, "running_var")


def test_training_normalises_each_channel_and_gamma_beta_rescale():
    x = torch.randn(16, 3, 5, 5) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 7
    out = batch_norm(x, None, None, training=True)
    assert_close_tensor(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert_close_tensor(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    gamma, beta = torch.tensor([2.0, 3.0, 4.0]), torch.tensor([-1.0, 0.0, 1.0])
    out = batch_norm(x, None, None, gamma, beta)
    assert_close_tensor(out.mean(dim=(0, 2, 3)), beta, atol=1e-4)


def test_batch_norm_passes_gradients_like_torch():
    x = torch.randn(8, 3, 4, 4, requires_grad=True)
    w = torch.randn(3, requires_grad=True)
    batch_norm(x, None, None, w, None).pow(3).sum().backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    F.batch_norm(x, None, None, w, None, True).pow(3).sum().backward()
    assert_close_tensor(gx, x.grad, atol=1e-4)
    assert_close_tensor(gw, w.grad, atol=1e-4)


@pytest.mark.parametrize("call, parameter", [
    (lambda: batch_norm(torch.randn(4), None, None), "x must have shape"),
    (lambda: batch_norm(torch.randn(4, 3), torch.zeros(2), torch.ones(3)),
     r"running_mean must have shape \(3,\)"),
    (lambda: batch_norm(torch.randn(4, 3), None, None, weight=torch.ones(4)), "weight"),
    (lambda: batch_norm(torch.randn(1, 3), None, None), "at least 2"),
    (lambda: batch_norm(torch.randn(4, 3), None, None, training=False), "running_mean"),
    (lambda: batch_norm(torch.randn(4, 3), None, None, momentum=2), "momentum"),
    (lambda: batch_norm(torch.randn(4, 3), None, None, eps=0), "eps"),
    (lambda: batch_norm(torch.ones(4, 3, dtype=torch.long), None, None), "floating-point"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()
