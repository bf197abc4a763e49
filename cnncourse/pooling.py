"""Pooling written with tensor operations: max, average and min over sliding windows.

A pool has no weights. It shrinks each channel by summarising every window with one number.
Output size per axis: ``floor((n + 2 * padding - kernel_size) / stride) + 1``; "divide by the
window size" holds only when stride equals the window and there is no padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import as_pair, check_tensor
from .sizes import pool_output_size

IntOrPair = int | tuple[int, int]

# What a padded pixel holds, so that it never wins (max, min) or counts as zero (avg, as torch).
_PAD_VALUE = {"max": float("-inf"), "min": float("inf"), "avg": 0.0}


def pool2d(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
           padding: IntOrPair = 0, mode: str = "max") -> torch.Tensor:
    """Max, average or min pooling of ``x`` of shape ``(N, C, H, W)`` or ``(C, H, W)``.

    Equal to ``F.max_pool2d``, ``F.avg_pool2d`` (padding counted as zeros, torch's default) and
    ``-F.max_pool2d(-x)``. The stride defaults to the kernel size.
    """
    check_tensor(x, "x", (3, 4), "(N, C, H, W) or (C, H, W)")
    if mode not in _PAD_VALUE:
        raise ValueError(f"mode must be 'max', 'avg' or 'min', got {mode!r}")
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    sh, sw = as_pair(stride if stride is not None else kernel_size, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    batched = x.dim() == 4
    x4 = x if batched else x.unsqueeze(0)
    n, c, h, w = x4.shape
    out_h, out_w = pool_output_size((h, w), (kh, kw), (sh, sw), (ph, pw))

    padded = F.pad(x4, (pw, pw, ph, ph), value=_PAD_VALUE[mode])
    # Every channel is pooled on its own: fold channels into the batch, one window per column.
    windows = F.unfold(padded.reshape(n * c, 1, h + 2 * ph, w + 2 * pw), (kh, kw),
                       stride=(sh, sw))  # (N*C, kh*kw, out_h*out_w)
    if mode == "max":
        pooled = windows.max(dim=1).values
    elif mode == "min":
        pooled = windows.min(dim=1).values
    else:
        pooled = windows.mean(dim=1)
    out = pooled.reshape(n, c, out_h, out_w)
    return out if batched else out[0]


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Average each channel over all positions: ``(N, C, H, W) -> (N, C)``.

    The same as ``nn.AdaptiveAvgPool2d(1)`` followed by ``nn.Flatten()``; the head after it
    needs ``C`` inputs whatever the image size.
    """
    check_tensor(x, "x", (4,), "(N, C, H, W)")
    return x.mean(dim=(2, 3))


__all__ = ["global_avg_pool", "pool2d"]
