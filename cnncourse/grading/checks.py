"""The checks students call, and the hidden tests.

``check_<function>()`` runs the visible cases of one exercise (``check_build_model`` and
``check_train_model`` check ps4's network); ``hidden_check(name, function, seed=...)`` is the
graded hidden test. Each first makes sure nothing was replaced since ``seal()``, and under
nbgrader each records its answers for the autograder.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .compare import CheckFailed
from .guards import TimeLimitExceeded, time_limit
from .ps4 import (
    MODEL_CHECKS,
    PARAMETER_BUDGET,
    _budget_problem,
    _model_answers,
    _predict,
    accuracy_target,
    count_parameters,
)
from .records import _encode, _record
from .registry import EXERCISES
from .runner import run_cases
from .tamper import _raise_if_tampered


def _student_function(name: str, fn: Callable | None, depth: int = 2) -> Callable:
    if fn is not None:
        return fn
    caller = sys._getframe(depth).f_globals
    if name not in caller:
        raise CheckFailed(f"no function {name} is defined yet: run the cell that defines it "
                          "first")
    return caller[name]


def _check(name: str, fn: Callable | None) -> None:
    __tracebackhide__ = True
    fn = _student_function(name, fn, depth=3)
    _raise_if_tampered()
    answers = run_cases(name, fn, None)
    _record(name, None, False, {"answers": [_encode(a) for a in answers]})
    print(f"\u2713 {name} passes all {len(answers)} visible cases.")


def hidden_check(name: str, student: Any, seed: int | None = None) -> None:
    """The graded hidden test of ``name``: other cases than the visible ones, chosen by ``seed``.

    A failure says only what kind of failure it was, never the hidden inputs or values.
    """
    __tracebackhide__ = True
    _raise_if_tampered()
    if name in MODEL_CHECKS:
        payload = _model_answers(student, hidden=True)
    else:
        if name not in EXERCISES:
            raise ValueError(f"name must be one of {sorted(EXERCISES)}, got {name!r}")
        if seed is None:
            raise ValueError("seed: hidden tests need a seed (an int) that picks their cases")
        payload = {"answers": [_encode(a) for a in run_cases(name, student, seed)]}
    _record(name, seed, True, payload)
    print(f"\u2713 {name} passes the hidden tests.")


def check_conv_output_size(conv_output_size: Callable | None = None) -> None:
    """Compare ``conv_output_size(n, kernel_size, stride, padding)`` with the formula."""
    __tracebackhide__ = True
    _check("conv_output_size", conv_output_size)


def check_apply_kernel(apply_kernel: Callable | None = None) -> None:
    """Compare ``apply_kernel(image, kernel)`` with ``F.conv2d`` on single 2-D images."""
    __tracebackhide__ = True
    _check("apply_kernel", apply_kernel)


def check_conv2d(conv2d: Callable | None = None) -> None:
    """Compare ``conv2d(x, weight, bias, stride, padding)`` with ``F.conv2d``."""
    __tracebackhide__ = True
    _check("conv2d", conv2d)


def check_pool2d(pool2d: Callable | None = None) -> None:
    """Compare ``pool2d(x, kernel_size, stride, mode)`` with ``F.max_pool2d``/``avg_pool2d``."""
    __tracebackhide__ = True
    _check("pool2d", pool2d)


def check_receptive_field(receptive_field: Callable | None = None) -> None:
    """Compare ``receptive_field(layers)`` with the jump/rf recurrence."""
    __tracebackhide__ = True
    _check("receptive_field", receptive_field)


def check_batch_norm_train(batch_norm_train: Callable | None = None) -> None:
    """Compare ``batch_norm_train(x, gamma, beta, eps)`` with ``F.batch_norm(training=True)``."""
    __tracebackhide__ = True
    _check("batch_norm_train", batch_norm_train)


def check_one_cycle_lr(one_cycle_lr: Callable | None = None) -> None:
    """Compare ``one_cycle_lr(step, total_steps, ...)`` with torch's ``OneCycleLR``."""
    __tracebackhide__ = True
    _check("one_cycle_lr", one_cycle_lr)


def check_build_model(build_model: Callable | None = None) -> None:
    """Check that ``build_model()`` returns a network within the parameter budget that maps
    ``(B, 1, 28, 28)`` images to ``(B, 10)`` class scores."""
    __tracebackhide__ = True
    build_model = _student_function("build_model", build_model)
    _raise_if_tampered()
    try:
        with contextlib.redirect_stderr(sys.stdout), time_limit(10, "build_model()"):
            model = build_model()
    except TimeLimitExceeded as err:
        raise CheckFailed(str(err)) from None
    except Exception as err:
        raise CheckFailed(f"build_model() raised {type(err).__name__}: {err}") from None
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"build_model() must return an nn.Module, got {type(model).__name__}")
    n = count_parameters(model)
    problem = _budget_problem(n)
    if problem:
        raise CheckFailed(problem)
    _predict(model, torch.zeros(2, 28, 28, dtype=torch.uint8), 0.0, 1.0)
    _record("build_model", None, False, {"parameters": n})
    print(f"\u2713 build_model: {n:,} parameters (budget {PARAMETER_BUDGET:,}), "
          "output (B, 10).")


def check_train_model(model: nn.Module | None = None) -> None:
    """Check the trained network: within the parameter budget, and accurate enough on the
    validation images."""
    __tracebackhide__ = True
    model = _student_function("model", model)
    _raise_if_tampered()
    payload = _model_answers(model, hidden=False)
    _record("train_model", None, False, payload)
    print(f"\u2713 train_model: {payload['accuracy']:.2%} on the validation images "
          f"(target {accuracy_target():.0%}).")
