"""Running a student's function on the cases of an exercise, under the guards.

``run_cases`` calls the function on fresh copies of each case's arguments (forbidden functions
refused, time limited, warnings and stderr kept out of the grade), compares each answer with
the reference, and explains the first failure: in full for visible cases, as a kind of failure
for hidden ones.
"""

from __future__ import annotations

import contextlib
import operator
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .compare import Case, CheckFailed, Problem
from .guards import NotAllowedError, TimeLimitExceeded, forbid, time_limit

if TYPE_CHECKING:
    from .exercise import FunctionExercise


def guarded_call(ex: FunctionExercise, fn: Callable,
                 case: Case) -> tuple[Any, Problem | None]:
    """Call the student's function on fresh copies of the case's arguments, guarded: the
    functions ``ex.forbidden`` names refuse, and the call has ``ex.seconds``. ``ex`` is a
    function exercise, or any exercise with its ``name``, ``params``, ``forbidden``,
    ``instead`` and ``seconds``. Returns the answer, or the problem that stopped it."""
    __tracebackhide__ = True
    namespace = getattr(fn, "__globals__", None)
    args = case.fresh_args()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
            warnings.simplefilter("ignore")  # a warning on stderr would cost the whole cell
            with forbid(*ex.forbidden, namespace=namespace, instead=ex.instead) as called:
                with time_limit(ex.seconds, f"{ex.name}({', '.join(ex.params)})"):
                    got = fn(*args)
    except TimeLimitExceeded as err:
        return None, Problem(str(err), f"did not finish within {ex.seconds:g} s")
    except NotAllowedError as err:
        return None, Problem(str(err), str(err))
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        return None, Problem(f"{ex.name} raised {type(err).__name__}: {first}",
                             f"raised {type(err).__name__}")
    if called:
        message = f"{called[0]} is not allowed in this exercise: {ex.instead}"
        return None, Problem(message, message)
    return got, None


def _normalise(got: Any) -> Any:
    if isinstance(got, tuple | list):
        return tuple(_normalise(part) for part in got)
    if isinstance(got, torch.Tensor):
        return got.detach().cpu()
    if isinstance(got, float | np.floating):
        return float(got)
    return operator.index(got) if isinstance(got, int | np.integer) else got


def run_cases(ex: FunctionExercise, fn: Callable, seed: int | None) -> list[Any]:
    """Run ``fn`` on the cases of the function exercise ``ex`` and return its answers.

    ``seed=None`` runs the visible cases and explains a failure in full; a seed runs hidden
    cases and says only what kind of failure it was. Raises ``CheckFailed``.
    """
    __tracebackhide__ = True
    name = ex.name
    if not callable(fn):
        raise CheckFailed(f"{name} must be a function, got {type(fn).__name__}; run the cell "
                          f"that defines {name} first")
    cases = ex.cases(seed)
    answers = []
    for i, case in enumerate(cases):
        expected = ex.reference(*case.fresh_args())
        got, problem = guarded_call(ex, fn, case)
        if problem is None:
            problem = ex.compare(name, got, expected)
        if problem is not None:
            raise CheckFailed(_explain(ex, i, len(cases), case, got, problem, seed))
        answers.append(_normalise(got))
    return answers


def _explain(ex: FunctionExercise, i: int, n: int, case: Case, got: Any, problem: Problem,
             seed: int | None) -> str:
    if seed is not None:
        return (f"{ex.name} fails a hidden test: {problem.summary}. The hidden cases use other "
                f"sizes and settings than check_{ex.name}(): test your function on cases of "
                "your own, for example with the reference in the notebook's text.")
    lines = [f"{ex.name} fails visible case {i + 1} of {n}: {problem.detail}",
             f"  inputs: {case.describe()}"]
    if ex.hint is not None and got is not None:
        try:
            hint = ex.hint(case, got)
        except Exception:
            hint = None
        if hint:
            lines.append("  " + hint)
    return "\n".join(lines)
