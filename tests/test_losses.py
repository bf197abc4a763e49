"""The written-out losses against torch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from cnncourse.losses import cross_entropy, hinge, huber, mae, mse

from .strategies import assert_close_tensor, seeds, tensors

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@given(shape=shapes, seed=seeds, delta=st.floats(0.05, 5.0), scale=st.floats(0.01, 10.0))
def test_regression_losses_equal_torch(shape, seed, delta, scale):
    pred, target = tensors(shape, seed) * scale, tensors(shape, seed + 1) * scale
    assert_close_tensor(mse(pred, target), F.mse_loss(pred, target))
    assert_close_tensor(mae(pred, target), F.l1_loss(pred, target))
    assert_close_tensor(huber(pred, target, delta), F.huber_loss(pred, target, delta=delta))


@given(n=st.integers(1, 8), classes=st.integers(2, 10), seed=seeds, scale=st.floats(0.1, 50.0))
def test_classification_losses_equal_torch(n, classes, seed, scale):
    logits = tensors((n, classes), seed) * scale
    target = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))
    assert_close_tensor(cross_entropy(logits, target), F.cross_entropy(logits, target))
    assert_close_tensor(hinge(logits, target), nn.MultiMarginLoss()(logits, target))


def test_cross_entropy_is_stable_for_huge_logits():
    logits = torch.tensor([[1000.0, -1000.0, 0.0]])
    loss = cross_entropy(logits, torch.tensor([1]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(2000.0)


def test_huber_is_quadratic_near_zero_and_linear_far_out():
    zero = torch.zeros(1)
    assert huber(torch.tensor([0.5]), zero).item() == pytest.approx(0.125)
    assert huber(torch.tensor([3.0]), zero, delta=1.0).item() == pytest.approx(2.5)


def test_hinge_is_zero_once_the_margin_is_met():
    logits = torch.tensor([[3.0, 1.9, 0.0]])
    assert hinge(logits, torch.tensor([0])).item() == 0.0
    assert hinge(logits, torch.tensor([1])).item() == pytest.approx((1 - 1.9 + 3.0) / 3)


@pytest.mark.parametrize("call, parameter", [
    (lambda: mse(torch.zeros(3), torch.zeros(4)), "target must have the shape"),
    (lambda: mae(torch.zeros(0), torch.zeros(0)), "pred is empty"),
    (lambda: huber(torch.zeros(3), torch.zeros(3), delta=0), "delta"),
    (lambda: mse([1.0], torch.zeros(1)), "pred"),
    (lambda: cross_entropy(torch.zeros(3), torch.zeros(3, dtype=torch.long)), "logits"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.zeros(2)), "target must be an integer"),
    (lambda: hinge(torch.zeros(2, 3), torch.tensor([0, 3])), "outside 0..2"),
    (lambda: hinge(torch.zeros(2, 3), torch.tensor([0])), r"target must have shape \(2,\)"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()
