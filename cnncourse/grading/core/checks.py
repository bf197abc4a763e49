"""The checks students call, the hidden tests, and the autograder's re-check.

``CHECKS`` holds one ``check_<name>()`` per exercise of the registry, made by ``make_check``;
``hidden_check(name, student, seed=...)`` is the graded hidden test. Each first makes sure
nothing was replaced since ``seal()``, then asks the exercise for its answers, and under
nbgrader records them; ``verify`` re-checks a record outside the student's kernel.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from . import records
from .compare import CheckFailed
from .exercise import Exercise
from .registry import EXERCISES
from .tamper import _raise_if_tampered


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"name must be one of {sorted(EXERCISES)}, got {name!r}")
    return EXERCISES[name]


def _student(ex: Exercise, given: Any, depth: int) -> Any:
    """``given``, or else the notebook's variable ``ex.student`` (``depth`` frames up)."""
    if given is not None:
        return given
    caller = sys._getframe(depth).f_globals
    if ex.student not in caller:
        raise CheckFailed(f"no {ex.student} is defined yet: run the cell that defines it first")
    return caller[ex.student]


def _check(name: str, given: Any) -> None:
    __tracebackhide__ = True
    _raise_if_tampered()
    ex = _exercise(name)
    student = _student(ex, given, depth=3)  # the notebook called check_<name>, which called us
    passed = ex.answers(student, None, False)
    records.record(name, None, False, passed.payload)
    print(f"\u2713 {passed.message}")


def make_check(ex: Exercise) -> Callable[..., None]:
    """``check_<name>(student=None)``: the visible check of ``ex``, with its description as
    docstring. Without an argument it takes the notebook's variable ``ex.student``."""
    name = ex.name

    def check(student: Any = None) -> None:
        __tracebackhide__ = True
        _check(name, student)

    check.__name__ = check.__qualname__ = f"check_{name}"
    check.__doc__ = ex.description
    return check


CHECKS: types.MappingProxyType = types.MappingProxyType(
    {f"check_{name}": make_check(ex) for name, ex in EXERCISES.items()})
"""``check_<name>`` of every exercise, by function name."""


def hidden_check(name: str, student: Any, seed: int | None = None) -> None:
    """The graded hidden test of ``name``: other cases than the visible ones, chosen by ``seed``
    (function exercises need one; ps4's network is graded on held-out images instead).

    A failure says only what kind of failure it was, never the hidden inputs or values.
    """
    __tracebackhide__ = True
    _raise_if_tampered()
    passed = _exercise(name).answers(student, seed, True)
    records.record(name, seed, True, passed.payload)
    print(f"\u2713 {name} passes the hidden tests.")


def verify(name: str, record: dict | None, seed: int | None = None,
           hidden: bool = False) -> str | None:
    """Check a record against the reference, outside the student's kernel.

    Returns ``None`` if ``record`` (shown by ``check_<name>()``, or by ``hidden_check`` if
    ``hidden``, with ``seed``) holds correct answers for exercise ``name``; else a sentence
    saying what is wrong.
    """
    if record is None:
        return (f"no answers of {name} were recorded: the check did not run to its end, or "
                "the grading code was changed")
    ex = EXERCISES.get(name)
    if ex is None:
        return f"unknown exercise {name!r}"
    if not isinstance(record, dict):
        return f"the record of {name} is not a record of answers"
    try:
        return ex.verify(record, seed, hidden)
    except Exception as err:  # a malformed record
        return f"the record of {name} cannot be read ({type(err).__name__}: {err})"
