"""Hand-made convolution kernels, and a function that applies them to images.

Before networks learned their kernels, people designed them: a kernel is a small grid of
weights, and each output pixel is the weighted sum of the input pixels under it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import as_pair
from .sizes import conv_output_size


def _k(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


KERNELS: dict[str, torch.Tensor] = {
    # Edges: a bright row or column on one side and a dark one on the other.
    "top_edge": _k([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "bottom_edge": _k([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "left_edge": _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "right_edge": _k([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    "diag1_edge": _k([[0, -1, -1], [1, 0, -1], [1, 1, 0]]),
    "diag2_edge": _k([[-1, -1, 0], [-1, 0, 1], [0, 1, 1]]),
    # Sobel: edges with the centre row or column weighted twice.
    "sobel_x": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    # Second derivative: responds to edges in every direction.
    "laplacian": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    # Smoothing: averages that sum to 1, so flat regions keep their brightness.
    "box_blur": torch.full((3, 3), 1 / 9),
    "gaussian_blur": _k([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
}
"""Named 3x3 kernels. ``top_edge`` responds where a dark row lies above a bright one."""


def _as_float(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.is_floating_point():
        return t
    if t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        return t.float()
    raise ValueError(f"{name} must hold real numbers (float or integer), got dtype {t.dtype}")


def apply_kernel(image: torch.Tensor, kernel: torch.Tensor, stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """Convolve ``image`` with ``kernel`` using ``F.conv2d`` (cross-correlation, as in PyTorch).

    - ``image``: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``; integer images become float.
    - ``kernel``: one ``(kh, kw)`` kernel, a stack ``(F, kh, kw)``, or a full weight
      ``(F, C, kh, kw)``. A 2-D kernel or a stack is used with the same numbers on every input
      channel and the channel results are summed, as a Conv2d filter would.

    Returns ``(H', W')`` for a 2-D image and a 2-D kernel, ``(F, H', W')`` for an unbatched
    image, and ``(N, F, H', W')`` for a batch.
    """
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"image must be a torch.Tensor of shape (H, W), (C, H, W) or "
                         f"(N, C, H, W), got {type(image).__name__}")
    if not isinstance(kernel, torch.Tensor):
        raise ValueError(f"kernel must be a torch.Tensor of shape (kh, kw), (F, kh, kw) or "
                         f"(F, C, kh, kw), got {type(kernel).__name__}")
    if image.dim() not in (2, 3, 4):
        raise ValueError(f"image must have shape (H, W), (C, H, W) or (N, C, H, W), got shape "
                         f"{tuple(image.shape)}")
    if kernel.dim() not in (2, 3, 4):
        raise ValueError(f"kernel must have shape (kh, kw), (F, kh, kw) or (F, C, kh, kw), got "
                         f"shape {tuple(kernel.shape)}")
    image = _as_float(image, "image")
    kernel = _as_float(kernel, "kernel").to(dtype=image.dtype, device=image.device)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)

    x = image
    while x.dim() < 4:
        x = x.unsqueeze(0)
    channels = x.shape[1]
    if kernel.dim() == 4:
        weight = kernel
        if weight.shape[1] != channels:
            raise ValueError(
                f"kernel of shape {tuple(kernel.shape)} expects {weight.shape[1]} input "
                f"channels, but image has {channels}: a full weight is (F, C, kh, kw) with "
                f"C = {channels}"
            )
    else:
        stack = kernel if kernel.dim() == 3 else kernel.unsqueeze(0)
        weight = stack.unsqueeze(1).expand(-1, channels, -1, -1)

    # Check the sizes first, so a too-large kernel gets the formula rather than torch's message.
    conv_output_size((x.shape[2], x.shape[3]), (weight.shape[2], weight.shape[3]), stride,
                     padding, dilation)
    out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    if image.dim() == 4:
        return out
    out = out[0]
    if image.dim() == 2 and kernel.dim() == 2:
        return out[0]
    return out


__all__ = ["KERNELS", "apply_kernel"]
