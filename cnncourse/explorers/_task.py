"""A try-this task, as data: the question, its choices, the case and how to read the answer
(see :mod:`cnncourse.explorers.tasks`, which shows and checks it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ScenesFor = Callable[[Any], Any]
"""``explorer.scene_for``: the scene of other settings, for answers that compare."""


@dataclass(frozen=True)
class Task:
    """One predict-then-check task.

    ``settings``: ``(control name, value)`` pairs set in that order; ``answer(scene,
    scene_for)`` returns ``(the right choice, why)`` for the scene of those settings.
    """

    question: str
    choices: tuple[str, ...]
    settings: tuple[tuple[str, Any], ...]
    answer: Callable[[Any, ScenesFor], tuple[str, str]]


def task(question: str, choices: Sequence[str], settings: Mapping[str, Any],
         answer: Callable[[Any, ScenesFor], tuple[str, str]]) -> Task:
    """A :class:`Task` from plain arguments (``settings`` keeps its order)."""
    return Task(question, tuple(choices), tuple(settings.items()), answer)


__all__ = ["ScenesFor", "Task", "task"]
