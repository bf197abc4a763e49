"""The seal: what the comparison, reference and grading functions were before student code ran.

The first code cell of every exercise notebook calls ``seal()``; every check then calls
``tampering()`` and fails with ``TamperingDetected`` if something changed since. The seal
covers the functions of torch, numpy and the standard library that checks rely on, every name
in this package and in each of its modules (students could replace
``cnncourse.grading.compare.compare_tensors`` as well as ``cnncourse.grading.compare_tensors``),
the exercises' fields, the IPython shell's error handling, and active torch modes.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import torch

from .compare import CheckFailed
from .exercise import Exercise
from .guards import _resolve
from .registry import EXERCISES

_PACKAGE = __package__
"""``cnncourse.grading``: the package whose names the seal remembers."""


class TamperingDetected(CheckFailed):
    """A comparison or reference function was replaced after the notebook started."""


WATCHED = (
    "torch.allclose", "torch.equal", "torch.isclose", "torch.testing.assert_close",
    "torch.isfinite", "torch.Tensor.__sub__", "torch.Tensor.__eq__", "torch.Tensor.__le__",
    "torch.Tensor.__add__", "torch.Tensor.__mul__", "torch.Tensor.__rmul__",
    "torch.Tensor.abs", "torch.Tensor.max", "torch.Tensor.all", "torch.Tensor.argmax",
    "torch.Tensor.item", "torch.Tensor.tolist", "torch.Tensor.to", "torch.Tensor.detach",
    "torch.Tensor.clone", "torch.Tensor.allclose", "torch.Tensor.equal",
    "numpy.allclose", "numpy.isclose", "numpy.array_equal", "numpy.testing.assert_allclose",
    "numpy.testing.assert_array_equal", "numpy.testing.assert_array_almost_equal",
    "math.isclose", "builtins.abs", "builtins.max", "builtins.min", "builtins.all",
    "builtins.any", "builtins.float", "builtins.int", "builtins.isinstance", "builtins.len",
    "builtins.range", "builtins.type", "builtins.zip",
    "torch.nn.functional.conv2d", "torch.nn.functional.max_pool2d",
    "torch.nn.functional.avg_pool2d", "torch.nn.functional.batch_norm",
    "cnncourse.schedules.one_cycle", "cnncourse.arithmetic.conv_output_size",
    "cnncourse.arithmetic.receptive_field",
)
"""Functions that checks rely on, directly or through the libraries they call."""

_SHELL_WATCHED = (
    "IPython.core.interactiveshell.InteractiveShell.run_cell",
    "IPython.core.interactiveshell.InteractiveShell.run_code",
    "IPython.core.interactiveshell.InteractiveShell.showtraceback",
    "ipykernel.zmqshell.ZMQInteractiveShell._showtraceback",
)


def _trusted_roots() -> tuple[str, ...]:
    """Folders of installed code: site-packages, the standard library, and cnncourse."""
    folders = (os.path.dirname(os.path.dirname(torch.__file__)), os.path.dirname(os.__file__),
               os.path.dirname(os.path.dirname(__file__)))
    return tuple(os.path.realpath(f) + os.sep for f in folders)


def _genuine(dotted: str, obj: Any, roots: tuple[str, ...] | None = None) -> bool:
    """Whether ``obj`` looks like the library's own function: Python code from the library's
    folder (one of ``roots``, by default ``_trusted_roots()``), or a compiled function with the
    expected name."""
    if isinstance(obj, types.FunctionType):
        path = os.path.realpath(obj.__code__.co_filename)
        return any(path.startswith(root) for root in roots or _trusted_roots())
    return getattr(obj, "__name__", None) == dotted.rsplit(".", 1)[-1]


def _fields(ex: Exercise) -> tuple:
    return tuple(getattr(ex, f) for f in ex.__dataclass_fields__)


def _grading_modules() -> list[types.ModuleType]:
    """This package and its modules (the package's ``__init__`` imports every one)."""
    prefix = _PACKAGE + "."
    return [sys.modules[_PACKAGE]] + [module for name, module in sorted(sys.modules.items())
                                      if name.startswith(prefix)]


def _is_own(cls: type) -> bool:
    return cls.__module__ == _PACKAGE or cls.__module__.startswith(_PACKAGE + ".")


@dataclass(frozen=True)
class _Held:
    """One name in a module of this package, as ``seal()`` found it."""

    namespace: dict[str, Any]  # the module's globals
    name: str
    attr: str  # a function of the class ``name``, or "" for the name itself
    value: Any
    code: Any  # the value's code object, or None


def _own_snapshot() -> dict[str, _Held]:
    """The functions, classes and captured primitives of this package and of each of its
    modules, with their code objects, by dotted name."""
    snapshot = {}
    for module in _grading_modules():
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if name.startswith("__") or isinstance(value, int | float | str | tuple | type(None)):
                continue
            where = f"{module.__name__}.{name}"
            snapshot[where] = _Held(namespace, name, "", value, getattr(value, "__code__", None))
            if isinstance(value, type) and _is_own(value):
                for attr, member in vars(value).items():
                    if isinstance(member, types.FunctionType):
                        snapshot[f"{where}.{attr}"] = _Held(namespace, name, attr, member,
                                                            member.__code__)
    return snapshot


def _exercises_snapshot() -> dict[str, tuple[Exercise, tuple]]:
    """Every exercise with its fields (references, comparisons, cases, forbidden functions)."""
    return {name: (ex, _fields(ex)) for name, ex in EXERCISES.items()}


def _watched_now() -> dict[str, Any]:
    names = WATCHED + (_SHELL_WATCHED if "ipykernel" in sys.modules else ())
    found = {}
    for dotted in names:
        try:
            found[dotted] = _resolve(dotted)[2]
        except (AttributeError, ValueError):
            pass
    return found


_SHELL_METHODS = ("run_cell", "run_cell_async", "run_code", "showtraceback", "_showtraceback")


def _shell_now() -> dict[str, Any]:
    """The IPython shell's exception handling, as an instance overrides it (or not)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if shell is None:
        return {}
    state = {attr: vars(shell).get(attr) for attr in _SHELL_METHODS}
    state["custom_exceptions"] = getattr(shell, "custom_exceptions", ())
    return state


@dataclass
class _Seal:
    watched: dict[str, Any] = field(default_factory=_watched_now)
    own: dict[str, _Held] = field(default_factory=_own_snapshot)
    exercises: dict[str, tuple[Exercise, tuple]] = field(default_factory=_exercises_snapshot)
    shell: dict[str, Any] = field(default_factory=_shell_now)


_SEAL: _Seal | None = None


def seal() -> None:
    """Remember the comparison and reference functions as they are now.

    The first code cell of every exercise notebook calls this before any student code runs;
    later calls keep the first record. Raises ``TamperingDetected`` if something was already
    replaced (code placed above the first cell).
    """
    global _SEAL
    if _SEAL is None:
        _SEAL = _Seal()
    _raise_if_tampered()


def tampering() -> list[str]:
    """Names of the watched functions that were replaced or modified since ``seal()``."""
    if _SEAL is None:
        seal_now = _Seal()
        return [name for name, obj in seal_now.watched.items() if not _genuine(name, obj)]
    found = []
    now = _watched_now()
    roots = _trusted_roots()
    for name, obj in _SEAL.watched.items():
        if now.get(name) is not obj or not _genuine(name, obj, roots):
            found.append(name)
    changed: set[int] = set()  # one name per changed object: the package's name comes first
    for where, held in _SEAL.own.items():
        if id(held.value) in changed:
            continue
        current = held.namespace.get(held.name)
        if held.attr:
            current = vars(current).get(held.attr) if isinstance(current, type) else None
        code = held.code
        replaced = current is not held.value or (code is not None
                                                 and held.value.__code__ is not code)
        # (methods that dataclasses generate have no file, so only module-level functions
        # are asked to come from an installed file)
        if replaced or (code is not None and not held.attr
                        and not _genuine(held.name, held.value, roots)):
            changed.add(id(held.value))
            found.append(where)
    for name, (ex, fields) in _SEAL.exercises.items():
        current = EXERCISES.get(name)
        if current is not ex or _fields(current) != fields:
            found.append(f"{_PACKAGE}.EXERCISES[{name!r}]")
    shell = _shell_now()
    for attr, value in shell.items():
        if value is not _SEAL.shell.get(attr) and value != ():
            found.append(f"get_ipython().{attr}")
    return found + _torch_mode_tampering()


def _torch_mode_tampering() -> list[str]:
    found = []
    for i in range(torch._C._len_torch_function_stack()):
        mode = torch._C._get_function_stack_at(i)
        if type(mode).__name__ != "DeviceContext":  # torch.set_default_device's own mode
            found.append(f"an active torch function mode ({type(mode).__name__})")
    if torch._C._len_torch_dispatch_stack():
        found.append("an active torch dispatch mode")
    return found


def _raise_if_tampered() -> None:
    __tracebackhide__ = True
    found = tampering()
    if found:
        raise TamperingDetected(
            "tampering detected: " + ", ".join(found[:6]) + (" ..." if len(found) > 6 else "")
            + " changed after the notebook started. Checks compare with the original "
            "functions, so this earns no points: restart the kernel and remove the code that "
            "replaces them."
        )
