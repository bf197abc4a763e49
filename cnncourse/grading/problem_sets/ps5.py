"""Problem set 5, backpropagation: ``conv2d_backward``, ``max_pool2d_backward``, ``train_epoch``.

The two backward functions are compared with autograd (``torch.autograd.grad`` through
``F.conv2d`` and ``F.max_pool2d``), which they may not use themselves; hints name the usual
mistakes (the kernel not flipped for ``grad_x``, the stride left out of ``grad_weight``, ties
and overlaps in max pooling). ``train_epoch`` is an exercise of its own kind, ``TrainEpoch``
(in ``_train_epoch``): the student's loop and a reference loop train copies of the same
network on the same batches, and must end with the same weights and the same mean loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..core.compare import Case, compare_tensor_tuples, compare_tensors
from ..core.exercise import (
    VISIBLE_SEED,
    FunctionExercise,
    ProblemSet,
    conv_settings,
    randn,
    seeded,
)
from ._train_epoch import TrainEpoch

# The references, bound when this module is imported: the notebook's first cell imports it
# before any student code runs, so replacing torch's functions later does not change them.
# PROBLEM_SET (at the end) declares them: the seal watches every reference it names.
_conv2d = F.conv2d
_max_pool2d = F.max_pool2d
_grad = torch.autograd.grad

BACKWARD_FORBIDDEN = (
    "torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad",
    "torch.autograd.functional.jacobian", "torch.autograd.functional.vjp",
    "torch.autograd.functional.jvp", "torch.autograd.functional.hessian",
    "torch.autograd.functional.vhp", "torch.autograd.functional.hvp",
    "torch.func.grad", "torch.func.grad_and_value", "torch.func.vjp", "torch.func.jvp",
    "torch.func.jacrev", "torch.func.jacfwd", "torch.func.hessian", "torch.func.linearize",
    "torch.nn.grad.conv2d_input", "torch.nn.grad.conv2d_weight",
    "torch.nn.grad.conv1d_input", "torch.nn.grad.conv1d_weight",
    "torch.ops.aten.convolution_backward", "torch.ops.aten.max_pool2d_with_indices_backward",
    "torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d",
    "torch.conv_transpose2d", "torch.nn.ConvTranspose2d", "torch.nn.LazyConvTranspose2d",
    "torch.nn.functional.max_pool2d_with_indices", "torch._C._nn.max_pool2d_with_indices",
    "torch.ops.aten.max_pool2d_with_indices", "torch.nn.functional.max_unpool2d",
    "torch.nn.MaxUnpool2d", "cnncourse.backprop.conv2d_backward",
    "cnncourse.backprop.max_pool2d_backward", "cnncourse.backprop.avg_pool2d_backward",
)
"""Autograd, torch's own backward functions, the transposed convolution (which is ``grad_x``
in one call) and max pooling's indices (``F.max_pool2d(..., return_indices=True)`` too, through
``torch._C._nn``): the backward functions must work the gradient out themselves."""

_BY_HAND = "work out the gradient yourself, with loops or tensor arithmetic"

# ps5: conv2d_backward -------------------------------------------------------------------------

_CONV_PARAMS = ("x", "weight", "grad_out", "stride", "padding")


def _conv_case(g: torch.Generator, n: int, c: int, h: int, w: int, f: int, kh: int, kw: int,
               stride: int, padding: int) -> Case:
    out_h = (h + 2 * padding - kh) // stride + 1
    out_w = (w + 2 * padding - kw) // stride + 1
    args = (randn(g, n, c, h, w), randn(g, f, c, kh, kw), randn(g, n, f, out_h, out_w),
            stride, padding)
    return Case(args, _CONV_PARAMS)


def _conv_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    return [_conv_case(g, 1, 1, 5, 5, 1, 3, 3, 1, 0),
            _conv_case(g, 2, 3, 6, 6, 4, 3, 3, 1, 1),
            _conv_case(g, 1, 2, 7, 7, 3, 3, 3, 2, 1),
            _conv_case(g, 2, 1, 5, 8, 2, 2, 3, 1, 0),
            _conv_case(g, 1, 2, 8, 8, 2, 3, 3, 3, 0)]


def _conv_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    for _ in range(10):
        h, w, kh, kw, s, p = conv_settings(rng)
        cases.append(_conv_case(g, rng.randint(1, 2), rng.randint(1, 3), h, w,
                                rng.randint(1, 4), kh, kw, s, p))
    return cases


def _conv_reference(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor,
                    stride: int, padding: int) -> tuple[torch.Tensor, ...]:
    """Autograd's ``(grad_x, grad_weight, grad_bias)`` of ``F.conv2d`` for ``grad_out``."""
    leaves = (x.clone().requires_grad_(True), weight.clone().requires_grad_(True),
              torch.zeros(weight.shape[0], requires_grad=True))
    with torch.enable_grad():
        out = _conv2d(*leaves, stride=stride, padding=padding)
        return tuple(g.detach() for g in _grad(out, leaves, grad_out))


def _stride_ignored_weight_grad(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor,
                                padding: int) -> torch.Tensor:
    """``grad_weight`` as if the windows moved one pixel at a time whatever the stride."""
    padded = F.pad(x, (padding,) * 4)
    out_h, out_w = grad_out.shape[2:]
    grad = torch.zeros_like(weight)
    for a in range(weight.shape[2]):
        for b in range(weight.shape[3]):
            grad[:, :, a, b] = torch.einsum("nohw,nchw->oc", grad_out,
                                            padded[:, :, a:a + out_h, b:b + out_w])
    return grad


def _conv_hint(case: Case, got: Any) -> str | None:
    x, weight, grad_out, stride, padding = case.args
    grad_x, grad_weight = got[0], got[1]
    right_x, right_weight, _ = _conv_reference(*case.args)
    if compare_tensors("", grad_x, right_x) is not None and compare_tensors(
            "", grad_x, _conv_reference(x, weight.flip(-2, -1), grad_out, stride,
                                        padding)[0]) is None:
        return ("hint: your grad_x is what the kernel turned by 180 degrees would give: as a "
                "correlation of the zero-padded grad_out, the input gradient needs the kernel "
                "flipped (weight.flip(-2, -1)), with its in and out channels swapped")
    if stride > 1 and compare_tensors("", grad_weight, right_weight) is not None and \
            compare_tensors("", grad_weight, _stride_ignored_weight_grad(
                x, weight, grad_out, padding)) is None:
        return ("hint: your grad_weight ignores the stride: output (i, j) read the window "
                "that starts at input row i * stride, column j * stride, and that is the "
                "window its gradient multiplies")
    return None


# ps5: max_pool2d_backward ---------------------------------------------------------------------

_POOL_PARAMS = ("x", "grad_out", "kernel_size", "stride")


def _pool_case(x: torch.Tensor, g: torch.Generator, k: int, s: int) -> Case:
    out_h, out_w = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    return Case((x, randn(g, *x.shape[:2], out_h, out_w), k, s), _POOL_PARAMS)


def _pool_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    ties = torch.tensor([[1.0, 3, 3, 0], [3, 2, 0, 0], [5, 5, 1, 1], [5, 5, 1, 1]])[None, None]
    return [_pool_case(randn(g, 1, 1, 4, 4), g, 2, 2), _pool_case(ties, g, 2, 2),
            _pool_case((randn(g, 2, 3, 6, 6) * 1.5).round(), g, 3, 2),
            _pool_case(randn(g, 1, 2, 7, 7), g, 3, 3), _pool_case(randn(g, 1, 1, 5, 6), g, 2, 1)]


def _pool_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    for i in range(10):
        h, w = rng.randint(1, 9), rng.randint(1, 9)
        x = randn(g, rng.randint(1, 2), rng.randint(1, 3), h, w)
        if i % 2:  # whole numbers: many ties
            x = (x * 1.5).round()
        cases.append(_pool_case(x, g, rng.randint(1, min(h, w, 4)), rng.randint(1, 3)))
    return cases


def _pool_reference(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int,
                    stride: int) -> torch.Tensor:
    """Autograd's gradient of ``F.max_pool2d`` with respect to ``x``, for ``grad_out``."""
    leaf = x.clone().requires_grad_(True)
    with torch.enable_grad():
        return _grad(_max_pool2d(leaf, kernel_size, stride), leaf, grad_out)[0].detach()


def _pool_with(x: torch.Tensor, grad_out: torch.Tensor, k: int, s: int,
               pick: Callable[[torch.Tensor], list[int]], add: bool = True) -> torch.Tensor:
    """The gradient if each window sends its output's gradient to the inputs that ``pick``
    chooses among its ``k * k`` values (in reading order); ``add=False`` overwrites."""
    grad = torch.zeros_like(x)
    n, c, out_h, out_w = grad_out.shape
    for i in range(n):
        for j in range(c):
            for r in range(out_h):
                for q in range(out_w):
                    for flat in pick(x[i, j, r * s:r * s + k, q * s:q * s + k].reshape(-1)):
                        at = (i, j, r * s + flat // k, q * s + flat % k)
                        grad[at] = grad_out[i, j, r, q] + (grad[at] if add else 0)
    return grad


def _pool_hint(case: Case, got: Any) -> str | None:
    x, grad_out, k, s = case.args
    if compare_tensors("", got, _pool_reference(*case.args)) is None:
        return None
    mistakes = (
        (lambda w: (w == w.max()).nonzero().flatten().tolist(), True,
         "hint: where several inputs of a window tie for its maximum, you sent the gradient "
         "to all of them; it goes to the first one only (in reading order: row by row, left "
         "to right), as torch does"),
        (lambda w: [len(w) - 1 - int(w.flip(0).argmax())], True,
         "hint: where several inputs of a window tie for its maximum, you sent the gradient "
         "to the last one; it goes to the first one (in reading order), as torch does"),
        (lambda w: [int(w.argmax())], False,
         "hint: where windows overlap, an input that is the maximum of two windows gets both "
         "gradients: add them up (+=) rather than assign"),
    )
    for pick, add, hint in mistakes:
        if compare_tensors("", got, _pool_with(x, grad_out, k, s, pick, add)) is None:
            return hint
    return None


PROBLEM_SET = ProblemSet(
    "ps5_backprop",
    exercises=(
        FunctionExercise(
            "conv2d_backward", _CONV_PARAMS, _conv_visible, _conv_hidden, _conv_reference,
            compare_tensor_tuples("grad_x", "grad_weight", "grad_bias"),
            forbidden=BACKWARD_FORBIDDEN, instead=_BY_HAND, hint=_conv_hint,
            description="Compare ``conv2d_backward(x, weight, grad_out, stride, padding)`` "
                        "with autograd's gradients of ``F.conv2d``."),
        FunctionExercise(
            "max_pool2d_backward", _POOL_PARAMS, _pool_visible, _pool_hidden, _pool_reference,
            compare_tensors, forbidden=BACKWARD_FORBIDDEN, instead=_BY_HAND, hint=_pool_hint,
            description="Compare ``max_pool2d_backward(x, grad_out, kernel_size, stride)`` "
                        "with autograd's gradient of ``F.max_pool2d``."),
        TrainEpoch(),
    ),
    references=("torch.nn.functional.conv2d", "torch.nn.functional.max_pool2d",
                "torch.autograd.grad", "torch.Tensor.backward", "torch.autograd.backward",
                "torch.optim.Optimizer.zero_grad", "torch.nn.Module.train"),
)
"""Problem set 5: its exercises, and the references the seal watches."""
