"""Records: under nbgrader, every check shows its answers so the autograder can re-check them.

``record`` displays a check's answers as an output of the running cell, with the mimetype
``MIME``; ``encode`` and ``decode`` turn tensors into JSON and back. The re-check itself is
``verify`` (in ``checks``), which runs in the autograder's own process
(``cnncourse.app.preprocessors.VerifyAnswers``), outside the student's kernel.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import numpy as np
import torch

MIME = "application/vnd.cnncourse.answers+json"
"""Mimetype of the answer records that checks display while nbgrader autogrades."""


def encode(answer: Any) -> Any:
    """``answer`` as JSON: a tensor becomes its shape and float64 bytes, a tuple a list of
    its encoded parts, the rest stays."""
    if isinstance(answer, tuple):
        return [encode(part) for part in answer]
    if isinstance(answer, torch.Tensor):
        array = answer.to(torch.float64).numpy()
        return {"shape": list(array.shape),
                "float64": base64.b64encode(array.tobytes()).decode("ascii")}
    return answer


def decode(value: Any) -> Any:
    """The answer that ``encode`` turned into ``value`` (tensors come back as float64)."""
    if isinstance(value, list):
        return tuple(decode(part) for part in value)
    if isinstance(value, dict) and "float64" in value:
        data = np.frombuffer(base64.b64decode(value["float64"]), dtype=np.float64)
        return torch.from_numpy(data.copy()).reshape(value["shape"])
    return value


def record(name: str, seed: int | None, hidden: bool, payload: dict) -> None:
    """Show ``payload`` as an output of the running cell while nbgrader autogrades."""
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        return
    from IPython.display import display

    shown = {"exercise": name, "seed": seed, "hidden": hidden, **payload}
    display({MIME: shown, "text/plain": f"answers of {name} recorded for the autograder"},
            raw=True)
