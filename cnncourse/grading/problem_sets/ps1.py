"""Problem set 1, convolutions: ``conv_output_size``, ``apply_kernel`` and ``conv2d``.

Their cases, their references (the formula and ``F.conv2d``), hints for common mistakes, and
the torch convolutions they may not use.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ... import arithmetic
from ..core.compare import Case, compare_ints, compare_tensors
from ..core.exercise import (
    VISIBLE_SEED,
    FunctionExercise,
    ProblemSet,
    conv_settings,
    randn,
    seeded,
)

# The references, bound when this module is imported: the notebook's first cell imports it
# before any student code runs, so replacing torch's functions later does not change them.
# PROBLEM_SET (at the end) declares them: the seal watches every reference it names.
_conv2d = F.conv2d
_conv_output_size = arithmetic.conv_output_size

# ps1: conv_output_size ------------------------------------------------------------------------

_CONV_PARAMS = ("n", "kernel_size", "stride", "padding")


def _conv_size_visible() -> list[Case]:
    rows = [(28, 5, 1, 0), (28, 3, 2, 1), (7, 3, 2, 1), (5, 5, 1, 0), (10, 4, 3, 0), (6, 3, 2, 2)]
    return [Case(row, _CONV_PARAMS) for row in rows]


def _conv_size_hidden(seed: int) -> list[Case]:
    rng, _ = seeded(seed)
    cases = []
    while len(cases) < 12:
        n, k, s, p = rng.randint(1, 64), rng.randint(1, 11), rng.randint(1, 5), rng.randint(0, 4)
        if k <= n + 2 * p:
            cases.append(Case((n, k, s, p), _CONV_PARAMS))
    return cases


# ps1: apply_kernel ----------------------------------------------------------------------------


def _apply_kernel_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    step = torch.zeros(8, 8)
    step[4:] = 1.0  # dark top half, bright bottom half: a horizontal edge
    top_edge = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    pairs = [(randn(g, 5, 5), randn(g, 3, 3)), (step, top_edge),
             (randn(g, 4, 6), randn(g, 2, 3)), (randn(g, 3, 3), randn(g, 3, 3))]
    return [Case(pair, ("image", "kernel")) for pair in pairs]


def _apply_kernel_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    for _ in range(8):
        h, w = rng.randint(1, 12), rng.randint(1, 12)
        kh, kw = rng.randint(1, h if h < 5 else 5), rng.randint(1, w if w < 5 else 5)
        cases.append(Case((randn(g, h, w), randn(g, kh, kw)), ("image", "kernel")))
    return cases


def _apply_kernel_reference(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return _conv2d(image[None, None], kernel[None, None])[0, 0]


def _flipped_kernel_hint(case: Case, got: Any) -> str | None:
    image, kernel = case.args
    flipped = _apply_kernel_reference(image, kernel.flip(0, 1))
    if compare_tensors("", got, flipped) is None:
        return ("hint: your result equals the one with the kernel flipped; deep-learning "
                "'convolution' is cross-correlation: do not flip the kernel")
    return None


CONV_FORBIDDEN = (
    "torch.nn.functional.conv1d", "torch.nn.functional.conv2d", "torch.nn.functional.conv3d",
    "torch.nn.functional.conv_transpose2d", "torch.conv2d", "torch.convolution",
    "torch.nn.functional.unfold", "torch.nn.Conv2d", "torch.nn.LazyConv2d", "torch.nn.Unfold",
    "cnncourse.conv.conv2d_loops", "cnncourse.conv.conv2d_unfold", "cnncourse.conv.conv_matrix",
    "cnncourse.kernels.apply_kernel",
)

# ps1: conv2d ----------------------------------------------------------------------------------

_CONV2D_PARAMS = ("x", "weight", "bias", "stride", "padding")


def _conv2d_case(g: torch.Generator, n: int, c: int, h: int, w: int, f: int, kh: int, kw: int,
                 bias: bool, stride: int, padding: int) -> Case:
    args = (randn(g, n, c, h, w), randn(g, f, c, kh, kw), randn(g, f) if bias else None,
            stride, padding)
    return Case(args, _CONV2D_PARAMS)


def _conv2d_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    return [_conv2d_case(g, 1, 1, 5, 5, 1, 3, 3, False, 1, 0),
            _conv2d_case(g, 2, 3, 6, 6, 4, 3, 3, True, 1, 1),
            _conv2d_case(g, 1, 2, 7, 7, 3, 3, 3, True, 2, 1),
            _conv2d_case(g, 2, 1, 5, 8, 2, 2, 3, False, 1, 0)]


def _conv2d_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    for _ in range(10):
        h, w, kh, kw, s, p = conv_settings(rng)
        cases.append(_conv2d_case(g, rng.randint(1, 2), rng.randint(1, 3), h, w,
                                  rng.randint(1, 4), kh, kw, rng.random() < 0.6, s, p))
    return cases


def _conv2d_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      stride: int, padding: int) -> torch.Tensor:
    return _conv2d(x, weight, bias, stride=stride, padding=padding)


PROBLEM_SET = ProblemSet(
    "ps1_convolutions",
    exercises=(
        FunctionExercise(
            "conv_output_size", _CONV_PARAMS, _conv_size_visible, _conv_size_hidden,
            _conv_output_size, compare_ints,
            forbidden=("cnncourse.arithmetic.conv_output_size",),
            description="Compare ``conv_output_size(n, kernel_size, stride, padding)`` with "
                        "the formula."),
        FunctionExercise(
            "apply_kernel", ("image", "kernel"), _apply_kernel_visible, _apply_kernel_hidden,
            _apply_kernel_reference, compare_tensors, forbidden=CONV_FORBIDDEN,
            hint=_flipped_kernel_hint,
            description="Compare ``apply_kernel(image, kernel)`` with ``F.conv2d`` on single "
                        "2-D images."),
        FunctionExercise(
            "conv2d", _CONV2D_PARAMS, _conv2d_visible, _conv2d_hidden, _conv2d_reference,
            compare_tensors, forbidden=CONV_FORBIDDEN,
            description="Compare ``conv2d(x, weight, bias, stride, padding)`` with "
                        "``F.conv2d``."),
    ),
    references=("torch.nn.functional.conv2d", "cnncourse.arithmetic.conv_output_size"),
)
"""Problem set 1: its exercises, and the references the seal watches."""
