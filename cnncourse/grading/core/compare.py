"""Comparing an answer with the reference, and saying in plain words what differs.

A ``Case`` is the arguments of one call; ``compare_tensors``, ``compare_ints`` and
``compare_floats`` return ``None`` when an answer is right, else a ``Problem``: a full
explanation for the visible cases and a short summary that is safe to show for hidden ones.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


class CheckFailed(AssertionError):
    """A check found a difference between your function and the reference."""


@dataclass(frozen=True)
class Case:
    """The arguments of one call, with their parameter names for messages."""

    args: tuple
    names: tuple[str, ...]

    def describe(self) -> str:
        parts = []
        for name, value in zip(self.names, self.args, strict=True):
            if isinstance(value, torch.Tensor):
                parts.append(f"{name} of shape {tuple(value.shape)}")
            else:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)

    def fresh_args(self) -> tuple:
        """Copies of the tensor arguments, so that in-place changes cannot leak between calls."""
        return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in self.args)


@dataclass(frozen=True)
class Problem:
    """What went wrong in one case: a full explanation, and a summary safe for hidden cases."""

    detail: str
    summary: str


def _as_plain_tensor(got: Any, name: str) -> torch.Tensor | Problem:
    if isinstance(got, np.ndarray):
        return Problem(f"{name} returned a numpy array; return a torch.Tensor "
                       "(torch.from_numpy converts one)",
                       "returned a numpy array instead of a torch.Tensor")
    if not isinstance(got, torch.Tensor):
        return Problem(f"{name} returned {type(got).__name__} {got!r:.60}; "
                       "it should return a torch.Tensor",
                       f"returned {type(got).__name__} instead of a torch.Tensor")
    if type(got) not in (torch.Tensor, nn.Parameter):
        return Problem(f"{name} returned a {type(got).__name__}; return a plain torch.Tensor",
                       f"returned a {type(got).__name__} instead of a plain torch.Tensor")
    return got.detach().cpu()


def compare_tensors(name: str, got: Any, expected: torch.Tensor, atol: float = 1e-4,
                    rtol: float = 1e-4) -> Problem | None:
    """``None`` if ``got`` equals ``expected`` within tolerance, else what differs."""
    __tracebackhide__ = True
    got = _as_plain_tensor(got, name)
    if isinstance(got, Problem):
        return got
    got_shape, want_shape = tuple(got.shape), tuple(expected.shape)
    if got_shape != want_shape:
        return Problem(f"wrong output shape: yours is {got_shape}, expected {want_shape}",
                       "the output has the wrong shape")
    if got.is_complex() or got.dtype == torch.bool:
        return Problem(f"the output has dtype {got.dtype}; expected real numbers",
                       f"the output has dtype {got.dtype}")
    if got.numel() == 0:
        return None
    ours, want = got.to(torch.float64), expected.to(torch.float64)
    finite = torch.isfinite(ours)
    if not bool(finite.all()):
        index = tuple((~finite).nonzero()[0].tolist())
        return Problem(f"the output holds {float(ours[index])} at index {index}",
                       "the output holds NaN or infinite values")
    diff = (ours - want).abs()
    allowed = atol + rtol * want.abs()
    if bool((diff <= allowed).all()):
        return None
    flat = int((diff - allowed).argmax())
    index = tuple(int(i) for i in np.unravel_index(flat, want_shape))
    return Problem(
        f"wrong values: largest difference {float(diff.max()):.4g} at index {index}: "
        f"yours {float(ours[index]):.6g}, expected {float(want[index]):.6g}",
        "the output has the right shape but wrong values",
    )


def compare_ints(name: str, got: Any, expected: int) -> Problem | None:
    """``None`` if ``got`` is the integer ``expected``."""
    if isinstance(got, bool) or isinstance(got, float | np.floating):
        return Problem(f"{name} returned {type(got).__name__} {got!r}; return an int "
                       "(floor division // keeps sizes whole)",
                       f"returned a {type(got).__name__} instead of an int")
    if isinstance(got, torch.Tensor):
        if got.numel() != 1 or got.is_floating_point():
            return Problem(f"{name} returned a tensor of shape {tuple(got.shape)}; return an int",
                           "returned a tensor instead of an int")
        got = int(got.item())
    try:
        value = operator.index(got)
    except TypeError:
        return Problem(f"{name} returned {type(got).__name__} {got!r:.60}; return an int",
                       f"returned a {type(got).__name__} instead of an int")
    if value != expected:
        return Problem(f"wrong value: yours is {value}, expected {expected}", "wrong value")
    return None


def compare_floats(name: str, got: Any, expected: float, rel: float = 1e-6) -> Problem | None:
    """``None`` if ``got`` is a real number within ``rel`` (relative) of ``expected``."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            return Problem(f"{name} returned a tensor of shape {tuple(got.shape)}; "
                           "return one number", "returned a tensor instead of one number")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float | np.integer | np.floating):
        return Problem(f"{name} returned {type(got).__name__} {got!r:.60}; return a float",
                       f"returned a {type(got).__name__} instead of a float")
    value = float(got)
    if not math.isfinite(value):
        return Problem(f"{name} returned {value}", "returned NaN or an infinite value")
    if abs(value - expected) > rel * abs(expected) + 1e-12:
        return Problem(f"wrong value: yours is {value:.10g}, expected {expected:.10g}",
                       "wrong value")
    return None


def compare_tensor_tuples(*parts: str, atol: float = 1e-4,
                          rtol: float = 1e-4) -> Callable[[str, Any, Any], Problem | None]:
    """A comparison for functions that return one tensor per name in ``parts`` (as
    ``(grad_x, grad_weight, grad_bias)``): each is compared with ``compare_tensors``, and a
    problem names the part it was found in."""

    def compare(name: str, got: Any, expected: tuple) -> Problem | None:
        __tracebackhide__ = True
        if not isinstance(got, tuple | list) or len(got) != len(parts):
            what = f"{len(got)} values" if isinstance(got, tuple | list) \
                else f"{type(got).__name__} {got!r:.60}"
            return Problem(f"{name} returned {what}; it should return the tuple "
                           f"({', '.join(parts)})",
                           f"returned {what} instead of {len(parts)} tensors")
        for part, mine, want in zip(parts, got, expected, strict=True):
            problem = compare_tensors(part, mine, want, atol, rtol)
            if problem is not None:
                detail = problem.detail  # "grad_x returned ..." names the part already
                return Problem(detail if detail.startswith(part) else f"{part}: {detail}",
                               f"{part}: {problem.summary}")
        return None

    return compare
