"""The seal: what the comparison, reference and grading functions were before student code ran.

The first code cell of every exercise notebook calls ``seal()``; every check then calls
``tampering()`` and fails with ``TamperingDetected`` if something changed since. The seal
covers ``WATCHED``: the generic comparisons of torch, numpy and the standard library
(``COMPARISONS``) and the references that each problem set declares; every name in
``cnncourse.grading`` and in each of its modules (students could replace
``cnncourse.grading.core.compare.compare_tensors`` as well as
``cnncourse.grading.compare_tensors``); the exercises of the registry; the IPython shell's
error handling; and active torch modes.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import torch

from .compare import CheckFailed
from .guards import _resolve
from .registry import REGISTRY, Registry

_PACKAGE = __package__.rpartition(".")[0]
"""``cnncourse.grading``: the package whose names the seal remembers."""


class TamperingDetected(CheckFailed):
    """A comparison or reference function was replaced after the notebook started."""


COMPARISONS = (
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
)
"""The functions every check relies on to compare answers, whatever the exercise."""


def watched_names(registry: Registry) -> tuple[str, ...]:
    """``COMPARISONS`` and the references that the problem sets of ``registry`` declare."""
    return tuple(dict.fromkeys(COMPARISONS + registry.references))


WATCHED = watched_names(REGISTRY)
"""Functions that checks rely on, directly or through the libraries they call."""

_SHELL_WATCHED = (
    "IPython.core.interactiveshell.InteractiveShell.run_cell",
    "IPython.core.interactiveshell.InteractiveShell.run_code",
    "IPython.core.interactiveshell.InteractiveShell.showtraceback",
    "ipykernel.zmqshell.ZMQInteractiveShell._showtraceback",
)


def _trusted_roots() -> tuple[str, ...]:
    """Folders of installed code: site-packages, the standard library, and cnncourse."""
    cnncourse = sys.modules[_PACKAGE.partition(".")[0]]
    folders = (os.path.dirname(os.path.dirname(torch.__file__)), os.path.dirname(os.__file__),
               os.path.dirname(cnncourse.__file__))
    return tuple(os.path.realpath(f) + os.sep for f in folders)


def _genuine(dotted: str, obj: Any, roots: tuple[str, ...] | None = None) -> bool:
    """Whether ``obj`` looks like the library's own function: Python code from the library's
    folder (one of ``roots``, by default ``_trusted_roots()``), or a compiled function with the
    expected name."""
    if isinstance(obj, types.FunctionType):
        path = os.path.realpath(obj.__code__.co_filename)
        return any(path.startswith(root) for root in roots or _trusted_roots())
    return getattr(obj, "__name__", None) == dotted.rsplit(".", 1)[-1]


def _fields(ex: Any) -> tuple:
    return tuple(vars(ex).values())


def _grading_modules() -> list[types.ModuleType]:
    """``cnncourse.grading`` and its modules (its ``__init__`` imports every one)."""
    prefix = _PACKAGE + "."
    return [sys.modules[_PACKAGE]] + [module for name, module in sorted(sys.modules.items())
                                      if name.startswith(prefix)]


def _is_own(cls: type) -> bool:
    return cls.__module__ == _PACKAGE or cls.__module__.startswith(_PACKAGE + ".")


_EMPTY = object()


def _cells(value: Any) -> tuple:
    """What a function's closure holds (the exercise of a ``check_<name>``), else ``()``."""
    cells = getattr(value, "__closure__", None) or ()
    held = []
    for cell in cells:
        try:
            held.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            held.append(_EMPTY)
    return tuple(held)


class _Held:
    """One name in a module of ``cnncourse.grading``, as ``seal()`` found it."""

    def __init__(self, namespace: dict[str, Any], name: str, attr: str, value: Any) -> None:
        self.namespace = namespace  # the module's globals
        self.name = name
        self.attr = attr  # a function of the class ``name``, or "" for the name itself
        self.value = value
        self.code = getattr(value, "__code__", None)
        self.cells = _cells(value)

    def changed(self, roots: tuple[str, ...]) -> bool:
        current = self.namespace.get(self.name)
        if self.attr:
            current = vars(current).get(self.attr) if isinstance(current, type) else None
        if current is not self.value or self.code is not None \
                and self.value.__code__ is not self.code:
            return True
        if [id(c) for c in _cells(self.value)] != [id(c) for c in self.cells]:
            return True
        # (methods that dataclasses generate have no file, so only module-level functions
        # are asked to come from an installed file)
        return self.code is not None and not self.attr \
            and not _genuine(self.name, self.value, roots)


def _own_snapshot() -> dict[str, _Held]:
    """The functions, classes and captured primitives of ``cnncourse.grading`` and of each of
    its modules, with their code objects, by dotted name."""
    snapshot = {}
    for module in _grading_modules():
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if name.startswith("__") or isinstance(value, int | float | str | tuple | type(None)):
                continue
            where = f"{module.__name__}.{name}"
            snapshot[where] = _Held(namespace, name, "", value)
            if isinstance(value, type) and _is_own(value):
                for attr, member in vars(value).items():
                    if isinstance(member, types.FunctionType):
                        snapshot[f"{where}.{attr}"] = _Held(namespace, name, attr, member)
    return snapshot


def _watched_now(names: tuple[str, ...]) -> dict[str, Any]:
    names += _SHELL_WATCHED if "ipykernel" in sys.modules else ()
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


class Seal:
    """The watched functions of ``registry``, ``cnncourse.grading``'s names, the registry's
    exercises and the shell, as they are when the seal is made."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        self.names = watched_names(registry)
        self.watched = _watched_now(self.names)
        self.own = _own_snapshot()
        self.exercises = {name: (ex, _fields(ex)) for name, ex in registry.exercises.items()}
        self.shell = _shell_now()

    def changes(self) -> list[str]:
        """Names of what was replaced or modified since the seal was made."""
        roots = _trusted_roots()
        now = _watched_now(self.names)
        found = [name for name, obj in self.watched.items()
                 if now.get(name) is not obj or not _genuine(name, obj, roots)]
        changed: set[int] = set()  # one name per changed object: the package's name comes first
        for where, held in self.own.items():
            if id(held.value) not in changed and held.changed(roots):
                changed.add(id(held.value))
                found.append(where)
        for name, (ex, fields) in self.exercises.items():
            current = self.registry.exercises.get(name)
            if current is not ex or _fields(current) != fields:
                found.append(f"{_PACKAGE}.EXERCISES[{name!r}]")
        for attr, value in _shell_now().items():
            if value is not self.shell.get(attr) and value != ():
                found.append(f"get_ipython().{attr}")
        return found + _torch_mode_tampering()


_SEAL: Seal | None = None


def seal() -> None:
    """Remember the comparison and reference functions as they are now.

    The first code cell of every exercise notebook calls this before any student code runs;
    later calls keep the first record. Raises ``TamperingDetected`` if something was already
    replaced (code placed above the first cell).
    """
    global _SEAL
    if _SEAL is None:
        _SEAL = Seal()
    _raise_if_tampered()


def tampering() -> list[str]:
    """Names of the watched functions that were replaced or modified since ``seal()``."""
    if _SEAL is None:
        return [name for name, obj in _watched_now(WATCHED).items() if not _genuine(name, obj)]
    return _SEAL.changes()


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
