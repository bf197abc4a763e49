"""Input checks shared by the engine: every failure is a ValueError that names the parameter."""

from __future__ import annotations

from collections.abc import Sequence

import torch

Pair = tuple[int, int]


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def as_pair(value: int | Sequence[int], name: str, minimum: int = 0) -> Pair:
    """Return ``(a, b)`` from an int or a pair of ints, each at least ``minimum``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    for v in pair:
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]


def as_int(value: int, name: str, minimum: int = 0) -> int:
    """Return ``value`` if it is an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_tensor(x: object, name: str, ndims: Sequence[int], expected: str) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor of one of the ranks ``ndims``.

    ``expected`` describes the wanted shape, for example ``"(N, C, H, W)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}"
        )
    if x.dim() not in ndims:
        raise ValueError(
            f"{name} must have shape {expected}, got a {x.dim()}-d tensor of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor of shape {expected}, got dtype {x.dtype}"
            " (convert with .float())"
        )
    return x
