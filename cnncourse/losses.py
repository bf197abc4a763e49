"""Loss functions for image regression and classification, written out (mean reduction).

Regression compares numbers (``pred`` and ``target`` of the same shape): MSE punishes large
errors most, MAE treats all errors alike, Huber is MSE near zero and MAE far out.
Classification scores one row of ``logits`` per example against a class index ``target``.
"""

from __future__ import annotations

import torch

from ._checks import check_tensor


def _check_regression(pred: torch.Tensor, target: torch.Tensor) -> None:
    check_tensor(pred, "pred", range(0, 9), "any shape")
    check_tensor(target, "target", range(0, 9), f"{tuple(pred.shape)}, the shape of pred")
    if pred.shape != target.shape:
        raise ValueError(f"target must have the shape of pred {tuple(pred.shape)}, got "
                         f"{tuple(target.shape)}")
    if pred.numel() == 0:
        raise ValueError("pred is empty: a mean over no values is undefined")


def _check_classification(logits: torch.Tensor, target: torch.Tensor) -> None:
    check_tensor(logits, "logits", (2,), "(N, n_classes)")
    n, n_classes = logits.shape
    if n == 0:
        raise ValueError("logits is empty: a mean over no examples is undefined")
    if not isinstance(target, torch.Tensor) or target.dtype not in (
            torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"target must be an integer tensor of class indices, shape ({n},)")
    if target.shape != (n,):
        raise ValueError(f"target must have shape ({n},), one class index per row of logits, "
                         f"got {tuple(target.shape)}")
    if target.min() < 0 or target.max() >= n_classes:
        raise ValueError(f"target holds class indices outside 0..{n_classes - 1}: "
                         f"min {int(target.min())}, max {int(target.max())}")


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error: ``mean((pred - target)^2)``."""
    _check_regression(pred, target)
    return ((pred - target) ** 2).mean()


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (L1): ``mean(|pred - target|)``."""
    _check_regression(pred, target)
    return (pred - target).abs().mean()


def huber(pred: torch.Tensor, target: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber loss: ``e^2 / 2`` for ``|e| <= delta``, else ``delta * (|e| - delta / 2)``."""
    _check_regression(pred, target)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or delta <= 0:
        raise ValueError(f"delta must be a positive number, got {delta!r}")
    error = (pred - target).abs()
    quadratic = 0.5 * error**2
    linear = delta * (error - 0.5 * delta)
    return torch.where(error <= delta, quadratic, linear).mean()


def hinge(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-class hinge loss (as ``nn.MultiMarginLoss``): each wrong class whose score comes
    within a margin of 1 of the right class's score costs the shortfall, averaged over classes.
    """
    _check_classification(logits, target)
    n, n_classes = logits.shape
    correct = logits.gather(1, target.long().view(-1, 1))  # (N, 1)
    shortfall = (1 - correct + logits).clamp(min=0)
    is_wrong_class = torch.ones_like(logits, dtype=torch.bool)
    is_wrong_class[torch.arange(n), target.long()] = False
    return (shortfall * is_wrong_class).sum(dim=1).div(n_classes).mean()


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log(softmax(logits))`` along the last axis, computed stably via the log-sum-exp."""
    top = logits.max(dim=-1, keepdim=True).values
    log_sum_exp = top + (logits - top).exp().sum(dim=-1, keepdim=True).log()
    return logits - log_sum_exp


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy: the mean of ``-log(softmax(logits)[target])``."""
    _check_classification(logits, target)
    return -log_softmax(logits).gather(1, target.long().view(-1, 1)).mean()


__all__ = ["cross_entropy", "hinge", "huber", "log_softmax", "mae", "mse"]
