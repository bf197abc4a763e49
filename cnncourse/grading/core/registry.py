"""The one registry: every problem set, and everything derived from them.

Each module of ``cnncourse.grading.problem_sets`` (except those whose name starts with ``_``)
defines ``PROBLEM_SET``; ``discover`` finds them all, so adding a problem set is adding a
module there. From the registry come the ``check_<name>()`` functions (``checks``), the
references the seal watches (``tamper``) and the exercises the autograder re-checks by name
(``checks.verify``).
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from dataclasses import dataclass, field

from .exercise import Exercise, ProblemSet

PROBLEM_SETS_PACKAGE = __package__.rpartition(".")[0] + ".problem_sets"
"""``cnncourse.grading.problem_sets``: where ``discover`` looks."""


@dataclass(frozen=True)
class Registry:
    """Problem sets, with their exercises by name and the references they rely on."""

    problem_sets: tuple[ProblemSet, ...]
    exercises: types.MappingProxyType = field(init=False)
    references: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        exercises: dict[str, Exercise] = {}
        for ps in self.problem_sets:
            for ex in ps.exercises:
                if ex.name in exercises:
                    raise ValueError(f"exercise {ex.name!r} of {ps.assignment} is already "
                                     "defined by another problem set: names must be unique")
                exercises[ex.name] = ex
        references = dict.fromkeys(ref for ps in self.problem_sets for ref in ps.references)
        object.__setattr__(self, "exercises", types.MappingProxyType(exercises))
        object.__setattr__(self, "references", tuple(references))


def discover(package: str = PROBLEM_SETS_PACKAGE) -> tuple[ProblemSet, ...]:
    """The ``PROBLEM_SET`` of every module of ``package``, in the order of their names."""
    found = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(found.__path__)
                   if not m.name.startswith("_"))
    return tuple(_problem_set(importlib.import_module(f"{package}.{name}")) for name in names)


def _problem_set(module: types.ModuleType) -> ProblemSet:
    ps = getattr(module, "PROBLEM_SET", None)
    if not isinstance(ps, ProblemSet):
        raise TypeError(f"{module.__name__} must define PROBLEM_SET, a ProblemSet")
    return ps


REGISTRY = Registry(discover())
"""The course's problem sets, found in ``cnncourse.grading.problem_sets``."""

PROBLEM_SETS = REGISTRY.problem_sets
EXERCISES = REGISTRY.exercises
"""Every exercise by name, of every kind: the name of ``check_<name>()``."""
