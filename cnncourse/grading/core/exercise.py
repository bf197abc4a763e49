"""What an exercise is, and what a problem set declares.

Every exercise, whatever its kind, answers the same two questions: ``answers`` grades the
student's work in the notebook (and returns what the autograder records), ``verify`` re-checks
such a record outside the notebook. ``FunctionExercise`` is the common kind: one function to
write, compared with a reference on fixed visible cases and on hidden cases drawn from a seed.
A ``ProblemSet`` gathers the exercises of one notebook with the references they rely on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from .compare import Case, Problem
from .records import decode, encode
from .runner import run_cases

VISIBLE_SEED = 0
"""Seed of the random part of the visible cases (hidden tests use other seeds)."""


@dataclass(frozen=True)
class Passed:
    """What a passing check hands back: the answers to record, and the line to print."""

    payload: dict
    message: str


@runtime_checkable
class Exercise(Protocol):
    """What the checks need from an exercise of any kind.

    ``check_<name>()`` and ``hidden_check(name, ...)`` grade it; called without an argument,
    ``check_<name>()`` takes the notebook's variable ``student``; ``description`` is the
    check's docstring.
    """

    name: str
    student: str
    description: str

    def answers(self, student: Any, seed: int | None, hidden: bool) -> Passed:
        """Grade ``student``; raise ``CheckFailed`` with a plain-words reason if it fails."""
        ...

    def verify(self, record: dict, seed: int | None, hidden: bool) -> str | None:
        """``None`` if ``record`` (from ``answers``) is right, else a sentence saying why not."""
        ...


@dataclass(frozen=True)
class FunctionExercise:
    """One function to write: how to call it, what it must equal, what it may not use (and
    ``instead``, what the refusal of a forbidden call advises)."""

    name: str
    params: tuple[str, ...]
    visible: Callable[[], list[Case]]
    hidden: Callable[[int], list[Case]]
    reference: Callable[..., Any]
    compare: Callable[[str, Any, Any], Problem | None]
    forbidden: tuple[str, ...] = ()
    instead: str = "use loops or tensor arithmetic"
    seconds: float = 5.0
    hint: Callable[[Case, Any], str | None] | None = None
    description: str = "Compare your function with the reference."

    @property
    def student(self) -> str:
        return self.name

    def cases(self, seed: int | None) -> list[Case]:
        """The visible cases for ``seed=None``, else the hidden cases of that seed."""
        return self.visible() if seed is None else self.hidden(seed)

    def answers(self, student: Any, seed: int | None, hidden: bool) -> Passed:
        __tracebackhide__ = True
        if hidden and seed is None:
            raise ValueError("seed: hidden tests need a seed (an int) that picks their cases")
        found = run_cases(self, student, seed if hidden else None)
        return Passed({"answers": [encode(a) for a in found]},
                      f"{self.name} passes all {len(found)} visible cases.")

    def verify(self, record: dict, seed: int | None, hidden: bool) -> str | None:
        return verify_answers(self.name, self.cases(seed if hidden else None), record,
                              lambda case, answer: self.compare(
                                  self.name, decode(answer), self.reference(*case.fresh_args())))


def verify_answers(name: str, cases: list, record: dict,
                   problem: Callable[[Any, Any], Problem | None]) -> str | None:
    """The re-check of a record of exercise ``name`` that holds one answer per case:
    ``problem(case, answer)`` says what is wrong with one answer (it may raise on a malformed
    one). ``None`` if every answer is right, else a sentence saying why not."""
    answers = record.get("answers")
    if not isinstance(answers, list) or len(answers) != len(cases):
        return f"the record of {name} does not hold one answer per case"
    for case, answer in zip(cases, answers, strict=True):
        try:
            found = problem(case, answer)
        except Exception as err:  # a malformed record
            found = Problem(str(err), f"an unreadable answer ({type(err).__name__})")
        if found is not None:
            return (f"checked outside the notebook, an answer of {name} is wrong "
                    f"({found.summary}): the notebook's comparisons were bypassed")
    return None


@dataclass(frozen=True)
class ProblemSet:
    """One graded notebook: its exercises, and the functions its checks rely on.

    ``references`` are dotted names (``"torch.nn.functional.conv2d"``) of the reference
    implementations and of what they call: the seal watches every one, so a student who
    replaces one is caught.
    """

    assignment: str
    exercises: tuple[Exercise, ...]
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for ex in self.exercises:
            if not isinstance(ex, Exercise):
                raise TypeError(f"exercises of {self.assignment}: {ex!r} is not an Exercise "
                                "(it needs name, student, description, answers and verify)")


def seeded(seed: int) -> tuple[random.Random, torch.Generator]:
    """A Python and a torch random generator, both started from ``seed``."""
    return random.Random(seed), torch.Generator().manual_seed(seed)


def conv_settings(rng: random.Random, max_size: int = 9, max_kernel: int = 4,
                  max_stride: int = 3, max_padding: int = 2) -> tuple[int, ...]:
    """A random convolution ``(h, w, kh, kw, stride, padding)`` whose kernel fits the padded
    input, for hidden cases."""
    while True:
        h, w = rng.randint(1, max_size), rng.randint(1, max_size)
        kh, kw = rng.randint(1, max_kernel), rng.randint(1, max_kernel)
        stride, padding = rng.randint(1, max_stride), rng.randint(0, max_padding)
        if kh <= h + 2 * padding and kw <= w + 2 * padding:
            return h, w, kh, kw, stride, padding


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Standard normal numbers of ``shape`` drawn from ``g``."""
    return torch.randn(shape, generator=g)
