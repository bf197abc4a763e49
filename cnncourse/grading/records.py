"""Records: under nbgrader, every check shows its answers so the autograder can re-check them.

``verify`` runs in the autograder's own process (``cnncourse.instructor.VerifyAnswers``),
outside the student's kernel, and compares a record with the reference.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import numpy as np
import torch

from .compare import Problem
from .ps4 import MODEL_CHECKS
from .registry import EXERCISES

MIME = "application/vnd.cnncourse.answers+json"
"""Mimetype of the answer records that checks display while nbgrader autogrades."""


def _encode(answer: Any) -> Any:
    if isinstance(answer, torch.Tensor):
        array = answer.to(torch.float64).numpy()
        return {"shape": list(array.shape),
                "float64": base64.b64encode(array.tobytes()).decode("ascii")}
    return answer


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "float64" in value:
        data = np.frombuffer(base64.b64decode(value["float64"]), dtype=np.float64)
        return torch.from_numpy(data.copy()).reshape(value["shape"])
    return value


def _record(name: str, seed: int | None, hidden: bool, payload: dict) -> None:
    """Show ``payload`` as an output of the running cell while nbgrader autogrades."""
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        return
    from IPython.display import display

    record = {"exercise": name, "seed": seed, "hidden": hidden, **payload}
    display({MIME: record, "text/plain": f"answers of {name} recorded for the autograder"},
            raw=True)


def verify(name: str, record: dict | None, seed: int | None = None,
           hidden: bool = False) -> str | None:
    """Check a record against the reference, outside the student's kernel.

    Returns ``None`` if ``record`` holds correct answers for exercise ``name``: its visible
    cases, or the hidden cases of ``seed`` (ps4's models: the held-out images if ``hidden``).
    Else a sentence saying what is wrong.
    """
    if record is None:
        return (f"no answers of {name} were recorded: the check did not run to its end, or "
                "the grading code was changed")
    if name in MODEL_CHECKS:
        return MODEL_CHECKS[name](record, hidden)
    ex = EXERCISES.get(name)
    if ex is None:
        return f"unknown exercise {name!r}"
    cases = ex.cases(seed)
    answers = record.get("answers")
    if not isinstance(answers, list) or len(answers) != len(cases):
        return f"the record of {name} does not hold one answer per case"
    for case, answer in zip(cases, answers, strict=True):
        try:
            problem = ex.compare(name, _decode(answer), ex.reference(*case.fresh_args()))
        except Exception as err:  # a malformed record
            problem = Problem(str(err), f"an unreadable answer ({type(err).__name__})")
        if problem is not None:
            return (f"checked outside the notebook, an answer of {name} is wrong "
                    f"({problem.summary}): the notebook's comparisons were bypassed")
    return None
