"""Batch normalization, written out.

In training, each channel is normalised with the mean and (biased) variance of the current
batch, then scaled by ``weight`` (gamma) and shifted by ``bias`` (beta). Running estimates of
mean and unbiased variance are kept for evaluation, where the batch statistics are not used.
"""

from __future__ import annotations

import torch

from ._checks import check_tensor


def _check_channel_vector(t: torch.Tensor | None, name: str, channels: int) -> None:
    if t is None:
        return
    check_tensor(t, name, (1,), f"({channels},)")
    if t.shape[0] != channels:
        raise ValueError(f"{name} must have shape ({channels},), one value per channel of x, "
                         f"got {tuple(t.shape)}")


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None,
               running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, training: bool = True, momentum: float = 0.1,
               eps: float = 1e-5) -> torch.Tensor:
    """Normalise ``x`` of shape ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` per channel.

    Equal to ``F.batch_norm``, including its in-place update of ``running_mean`` and
    ``running_var`` in training: ``running = (1 - momentum) * running + momentum * batch``.
    """
    check_tensor(x, "x", (2, 3, 4), "(N, C), (N, C, L) or (N, C, H, W)")
    channels = x.shape[1]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_channel_vector(t, name, channels)
    if isinstance(momentum, bool) or not isinstance(momentum, int | float) or not (
            0 <= momentum <= 1):
        raise ValueError(f"momentum must be a number between 0 and 1, got {momentum!r}")
    if isinstance(eps, bool) or not isinstance(eps, int | float) or eps <= 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")

    dims = [0, *range(2, x.dim())]  # every dimension except the channels
    shape = [1, channels] + [1] * (x.dim() - 2)  # to broadcast a per-channel vector
    if training:
        count = x.numel() // channels
        if count < 2:
            raise ValueError(
                f"x of shape {tuple(x.shape)} has only {count} value per channel: batch "
                "statistics need at least 2 (use a larger batch, or training=False)"
            )
        mean = x.mean(dim=dims)
        var = ((x - mean.view(shape)) ** 2).mean(dim=dims)  # biased: divide by count
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(momentum * mean)
            if running_var is not None:
                unbiased = var * count / (count - 1)
                running_var.mul_(1 - momentum).add_(momentum * unbiased)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var are needed when training=False")
        mean, var = running_mean, running_var
    out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out


__all__ = ["batch_norm"]
