"""Guards around a student's call: forbidden functions raise, and a call has a time limit.

* ``forbid(...)``: the torch functions an exercise asks you to write yourself raise
  "not allowed in this exercise" while your function runs;
* ``time_limit(...)``: a call that does not return in time fails with a clear message.
"""

from __future__ import annotations

import _thread
import contextlib
import importlib
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any


class NotAllowedError(RuntimeError):
    """A function that this exercise asks you to write yourself was called."""


class TimeLimitExceeded(BaseException):
    """A call ran past its time limit.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception`` in the code
    being timed does not swallow it.
    """


# ---------------------------------------------------------------------------------------------
# forbid: the functions an exercise asks you to write yourself raise while your code runs
# ---------------------------------------------------------------------------------------------


def _resolve(dotted: str) -> tuple[Any, str, Any]:
    """``"torch.nn.functional.conv2d"`` -> (owner object, attribute name, current value)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot find {dotted!r}: give a dotted name such as 'torch.conv2d'")


def short_name(dotted: str) -> str:
    """The name students write: ``torch.nn.functional.conv2d`` -> ``F.conv2d``."""
    for long, short in (("torch.nn.functional.", "F."), ("torch.nn.", "nn."),
                        ("torch.Tensor.", "Tensor."), ("torch._C._nn.", "F."),
                        ("torch.optim.lr_scheduler.", "")):
        if dotted.startswith(long):
            return short + dotted[len(long):]
    return dotted


_ALIAS_MODULES = ("torch", "torch.nn", "torch.nn.functional")


@contextlib.contextmanager
def forbid(*names: str, namespace: dict | None = None,
           instead: str = "use loops or tensor arithmetic") -> Iterator[list[str]]:
    """Make the listed functions raise ``NotAllowedError`` inside the ``with`` block.

    ``names`` are dotted names (``"torch.nn.functional.conv2d"``). Other names for the same
    object in ``torch``, ``torch.nn`` and ``torch.nn.functional`` (``torch.conv2d`` is
    ``F.conv2d``), and in ``namespace`` (the student's globals, where ``from
    torch.nn.functional import conv2d`` puts one) are replaced too. The error message ends with
    ``instead``, the advice of the exercise. The yielded list collects
    the names that were called, so a check can fail even when the student's code caught the
    error.
    """
    called: list[str] = []
    stand_ins: dict[int, Callable[..., Any]] = {}

    def refusing(dotted: str) -> Callable[..., Any]:
        def not_allowed(*args: Any, **kwargs: Any) -> Any:
            called.append(short_name(dotted))
            raise NotAllowedError(
                f"{short_name(dotted)} is not allowed in this exercise: {instead}")
        return not_allowed

    for dotted in names:
        try:
            value = _resolve(dotted)[2]
        except (AttributeError, ValueError):
            continue  # not present in this version of torch or cnncourse
        stand_ins.setdefault(id(value), refusing(dotted))
    places: list[Any] = [_resolve(d)[0] for d in names if _has(d)]
    places += [sys.modules[m] for m in _ALIAS_MODULES if m in sys.modules]
    replaced: list[tuple[Any, str, Any]] = []
    try:
        for owner in places:
            for attr, value in list(vars(owner).items()):
                if id(value) in stand_ins and not isinstance(value, types.ModuleType):
                    replaced.append((owner, attr, value))
                    setattr(owner, attr, stand_ins[id(value)])
        for key, value in list((namespace or {}).items()):
            if id(value) in stand_ins and not isinstance(value, types.ModuleType):
                replaced.append((namespace, key, value))
                namespace[key] = stand_ins[id(value)]
        yield called
    finally:
        for owner, attr, value in reversed(replaced):
            if owner is namespace:
                namespace[attr] = value
            else:
                setattr(owner, attr, value)


def _has(dotted: str) -> bool:
    try:
        _resolve(dotted)
    except (AttributeError, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# time_limit: a call that does not return in time fails with a clear message
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "the call") -> Iterator[None]:
    """Raise ``TimeLimitExceeded`` if the block runs longer than ``seconds``.

    Uses ``SIGALRM`` where it exists (Linux, macOS), else an interrupt of the main thread.
    Signals reach only the main thread, so in another thread the block runs without a limit
    (nbgrader's per-cell timeout still applies). Code stuck inside one long C call is stopped
    when that call returns.
    """
    message = (f"{what} did not finish within {seconds:g} s: look for a loop that never "
               "ends, or work that grows too fast with the input size")
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if hasattr(signal, "setitimer"):
        def on_alarm(signum: int, frame: Any) -> None:
            raise TimeLimitExceeded(message)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
        start = time.monotonic()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer:  # an enclosing timer was running: let it go on
                signal.setitimer(signal.ITIMER_REAL,
                                 max(outer - (time.monotonic() - start), 0.001))
        return
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        _thread.interrupt_main()

    timer = threading.Timer(seconds, interrupt)
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if fired.is_set():
            raise TimeLimitExceeded(message) from None
        raise
    finally:
        timer.cancel()
