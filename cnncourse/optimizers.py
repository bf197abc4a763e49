"""Gradient descent, momentum and weight decay on a loss of two parameters, small enough to draw.

``ravine`` is a long, narrow valley: steep across (``w[1]``), shallow along (``w[0]``). Plain
gradient descent with a learning rate that suits the steep direction bounces from wall to wall
and crawls along the floor; momentum averages the bounces away and keeps the speed along the
floor. Weight decay adds ``weight_decay * w`` to every gradient, which moves the minimum
towards 0. ``descent_path`` runs torch's own ``torch.optim.SGD`` and records every step.
"""

from __future__ import annotations

import math

import torch

ALONG, ACROSS = 0.2, 4.0  # the curvature along the valley floor and across it
MINIMUM = (3.0, 1.0)  # where the loss is 0


def ravine(w: torch.Tensor) -> torch.Tensor:
    """``0.5 * (ALONG * (w0 - 3)^2 + ACROSS * (w1 - 1)^2)`` for ``w`` of shape ``(..., 2)``."""
    return 0.5 * (ALONG * (w[..., 0] - MINIMUM[0]) ** 2 + ACROSS * (w[..., 1] - MINIMUM[1]) ** 2)


def decayed_minimum(weight_decay: float) -> tuple[float, float]:
    """Where ``ravine(w) + weight_decay / 2 * |w|^2`` is lowest: each coordinate of the minimum
    shrinks by ``curvature / (curvature + weight_decay)``."""
    return tuple(c * m / (c + weight_decay) for c, m in zip((ALONG, ACROSS), MINIMUM,
                                                            strict=True))


def largest_stable_lr(momentum: float = 0.0, weight_decay: float = 0.0) -> float:
    """The learning rate above which SGD overshoots the steep walls more at every step and
    flies off: ``2 * (1 + momentum) / (ACROSS + weight_decay)`` (for plain SGD, 2 over the
    largest curvature)."""
    return 2 * (1 + momentum) / (ACROSS + weight_decay)


def descent_path(start: tuple[float, float], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, steps: int = 50) -> torch.Tensor:
    """The points ``torch.optim.SGD`` visits on ``ravine`` from ``start``: ``(steps + 1, 2)``,
    the start first. A path that blows up ends with non-finite values."""
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number such as 0.1, got {lr!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), such as 0.9, got {momentum!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, such as 0.01, got {weight_decay!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum, weight_decay=weight_decay)
    points = [w.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        ravine(w).backward()
        opt.step()
        points.append(w.detach().clone())
    return torch.stack(points)


__all__ = ["ACROSS", "ALONG", "MINIMUM", "decayed_minimum", "descent_path",
           "largest_stable_lr", "ravine"]
