"""Long work (training) in a background thread, its results shown from the main thread.

Widgets must change from one thread only: the kernel's main thread, which runs the event loop
that ipykernel and Voila use for comm messages. A ``Worker`` runs a job in a background thread;
the job calls ``publish(item)`` whenever it has something new to show, and the worker hands
the latest item to ``receive(item)`` on the main thread:

- in a kernel (a running event loop when ``start`` is called): at once, through the loop;
- in a plain script or test (no event loop): when the main thread calls ``deliver()`` or
  ``wait()``.

Only the latest item is kept, so the job should publish whole states (snapshots), never
increments: a slow main thread then skips to the newest state instead of falling behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

_NOTHING = object()


class Worker:
    """Run one job at a time in a background thread; ``receive`` sees what it publishes."""

    def __init__(self, receive: Callable[[Any], None], name: str) -> None:
        self.receive, self.name = receive, name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._latest: Any = _NOTHING

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, job: Callable[[], None]) -> threading.Thread:
        """Call ``job()`` in a new thread; call this from the main thread."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._thread = threading.Thread(target=job, name=self.name, daemon=True)
        self._thread.start()
        return self._thread

    def publish(self, item: Any) -> None:
        """From the job: show ``item`` (replacing any item not shown yet)."""
        with self._lock:
            self._latest = item
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.deliver)
            except RuntimeError:  # the loop has closed: deliver() or wait() will show it
                pass

    def deliver(self) -> None:
        """On the main thread: hand the latest published item, if any, to ``receive``."""
        with self._lock:
            item, self._latest = self._latest, _NOTHING
        if item is not _NOTHING:
            self.receive(item)

    def wait(self, timeout: float | None = None) -> bool:
        """On the main thread: wait for the job to end and show its last item; True if it
        has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        self.deliver()
        return not self.running
