"""Data augmentation on whole batches: rotate, scale and shift every image by its own amount.

``affine(images, angle, translate, scale)`` moves each image of a batch ``[B, C, H, W]`` by the
amounts given for it; ``random_affine`` draws those amounts at random, one set per image, and
calls it. The ``RandomAffine`` callback (``cnncourse.callbacks``) does that to every training
batch. ``data.random_shift`` is the cheaper whole-pixel shift that the lessons train with.

Why not torchvision's ``transforms.v2.RandomAffine``? It happily takes a batch, but it draws
its random parameters once per call, so all images of the batch get the *same* rotation and
shift; and it draws them from torch's global generator. Here each image gets its own, drawn
from the generator you pass (the Learner's, for repeatable runs). The work is still done for
the whole batch at once: ``affine_grid`` builds one sampling grid per image from its 2x3
matrix and ``grid_sample`` reads all images through their grids in one call, the same
functions torchvision uses for one tensor image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Amount = float | torch.Tensor  # one value for the whole batch, or a tensor [B] (one per image)


def _per_image(value: Amount, b: int, name: str) -> torch.Tensor:
    """``value`` as a float64 tensor ``[b]``."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.dim() == 0:
        return t.expand(b)
    if t.shape != (b,):
        raise ValueError(f"{name} must be one number or one per image, shape [{b}], got shape "
                         f"{tuple(t.shape)}")
    return t


def affine_matrices(angle: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
                    scale: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The ``[B, 2, 3]`` matrices ``F.affine_grid`` needs: for every output pixel, where to read
    in the input. Angles in degrees (positive: anticlockwise), shifts in pixels (positive: right
    and down), about the image centre, in ``affine_grid``'s coordinates (-1 to 1 across)."""
    a = torch.deg2rad(angle)
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    # The inverse of "scale, rotate anticlockwise, then shift", in pixels from the centre
    # (y points down, so an anticlockwise turn on screen is a clockwise one in x-y):
    # input = R(angle) / scale @ (output - shift)
    m = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shift = torch.stack([tx, ty], -1).unsqueeze(-1)
    offset = -(m @ shift)
    # pixels -> affine_grid's units: x * 2 / width, y * 2 / height
    to_unit = torch.tensor([2 / width, 2 / height], dtype=m.dtype)
    m = m * to_unit.view(1, 2, 1) / to_unit.view(1, 1, 2)
    offset = offset * to_unit.view(1, 2, 1)
    return torch.cat([m, offset], dim=2)


def affine(images: torch.Tensor, angle: Amount = 0.0, translate: tuple[Amount, Amount] = (0, 0),
           scale: Amount = 1.0, fill: float = 0.0) -> torch.Tensor:
    """Rotate every image of ``images`` ``[B, C, H, W]`` (float) by ``angle`` degrees
    anticlockwise, scale it by ``scale`` and shift it by ``translate = (right, down)`` pixels,
    about its centre, with bilinear interpolation; what comes in from outside is ``fill``.

    Each amount is one number for all images or a tensor ``[B]`` with one per image. With one
    number this matches torchvision, image by image: ``v2.functional.rotate(image, angle)`` and
    ``v2.functional.affine(image, -angle, translate, scale, shear=0)`` (bilinear), whose
    ``affine`` turns clockwise for a positive angle.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor [B, C, H, W], got {got}")
    b, _, h, w = images.shape
    if len(translate) != 2:
        raise ValueError(f"translate must be (right, down) in pixels, got {translate!r}")
    scale_t = _per_image(scale, b, "scale")
    if (scale_t <= 0).any():
        raise ValueError(f"scale must be positive, got {scale!r}")
    theta = affine_matrices(_per_image(angle, b, "angle"), _per_image(translate[0], b, "translate"),
                            _per_image(translate[1], b, "translate"), scale_t, h, w)
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with zeros; shifting the values by `fill` first makes that `fill`
    moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return moved + fill


def _number(value: object, name: str, low: float, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= low):
        raise ValueError(f"{name} must be a number >= {low:g} such as {example}, got {value!r}")
    return float(value)


def check_affine_ranges(degrees: object, translate: object, scale: object,
                        ) -> tuple[float, float, tuple[float, float]]:
    """``degrees``, ``translate`` and ``scale`` for ``random_affine``, checked; else a
    ``ValueError`` naming the argument and saying what would work."""
    degrees = _number(degrees, "degrees", 0, "15 (angles from -15 to 15)")
    if degrees > 180:
        raise ValueError(f"degrees must be at most 180, got {degrees!r}")
    translate = _number(translate, "translate", 0, "0.1 (up to a tenth of the width)")
    if translate > 1:
        raise ValueError(f"translate is a fraction of the image size, at most 1, got "
                         f"{translate!r}")
    if (not isinstance(scale, (tuple, list)) or len(scale) != 2
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                       and math.isfinite(s) and s > 0 for s in scale)
            or scale[0] > scale[1]):
        raise ValueError(f"scale must be (smallest, largest) with 0 < smallest <= largest, such "
                         f"as (0.9, 1.1), got {scale!r}")
    return degrees, translate, (float(scale[0]), float(scale[1]))


def random_affine(images: torch.Tensor, degrees: float = 0.0, translate: float = 0.0,
                  scale: tuple[float, float] = (1.0, 1.0), fill: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``affine`` with random amounts, drawn uniformly and independently for every image of the
    batch ``[B, C, H, W]``: an angle from ``-degrees`` to ``degrees``, a shift of up to
    ``translate`` times the width (and height) in each direction, and a scale factor from
    ``scale[0]`` to ``scale[1]``. ``generator`` makes the draw repeatable.

    The ranges mean what they mean in ``v2.RandomAffine(degrees, translate=(t, t), scale)``,
    except that the shifts are not rounded to whole pixels.
    """
    degrees, translate, (low, high) = check_affine_ranges(degrees, translate, scale)
    if images.dim() != 4:
        raise ValueError(f"images must have shape [B, C, H, W], got {tuple(images.shape)}")
    b, _, h, w = images.shape

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator, dtype=torch.float64)

    return affine(images, uniform(-degrees, degrees),
                  (uniform(-translate * w, translate * w), uniform(-translate * h, translate * h)),
                  uniform(low, high), fill)


__all__ = ["affine", "affine_matrices", "check_affine_ranges", "random_affine"]
