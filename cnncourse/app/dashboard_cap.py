"""A cap on the dashboard's live kernels: `cnncourse dashboard --max-kernels N`.

Voila starts one kernel per browser tab, with no limit (voila-dashboards/voila#617), and every
kernel of a dashboard imports torch (about 567 MiB), so a class opening a dashboard at once can
use up the machine's memory. ``CappedVoila`` is Voila with one change: a visitor who would start
kernel number N + 1 gets a short page instead ("the dashboard is full, try again in a minute",
HTTP 503, and the page retries by itself), and no kernel. Kernels already running, and their
tabs, are not touched. A kernel counts from the moment its page is admitted until it is shut
down (a closed tab's kernel is freed by ``--cull-idle``).
"""

from __future__ import annotations

import tornado.web
from traitlets import Int
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

KERNEL_MIB = 567  # one dashboard kernel with torch imported (measured for issue 16)
RESERVE_MIB = 1024  # left for the server, the browser and the rest of the machine
RETRY_S = 60

FULL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{retry}">
<title>The dashboard is full</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 4em auto">
<h1>The dashboard is full, try again in a minute</h1>
<p>{live} of {cap} places are taken: each open page runs its own copy of the explorer, and this
machine has room for {cap}. This page tries again by itself every minute; closing a dashboard
tab you no longer use frees a place for someone else.</p>
</body></html>
"""


def default_max_kernels(available_bytes: int | None = None) -> int:
    """How many dashboard kernels fit in the memory available now (at least 1), keeping
    ``RESERVE_MIB`` free."""
    if available_bytes is None:
        import psutil

        available_bytes = psutil.virtual_memory().available
    room = available_bytes / 2**20 - RESERVE_MIB
    return max(1, int(room // KERNEL_MIB))


class Gate:
    """Counts the pages admitted but whose kernel has not started yet; with the kernels
    already running, that is every place taken."""

    def __init__(self, cap: int):
        self.cap = cap
        self.starting = 0

    def admit(self, live: int) -> bool:
        if self.cap > 0 and live + self.starting >= self.cap:
            return False
        self.starting += 1
        return True

    def started(self) -> None:
        self.starting -= 1


class CappedVoilaHandler(TornadoVoilaHandler):
    """Voila's page handler, behind the gate. The check and the count happen with no ``await``
    between them, so two visitors arriving together cannot both take the last place."""

    @tornado.web.authenticated
    async def get(self, path=None):
        gate: Gate = self.settings["cnncourse_gate"]
        live = len(self.kernel_manager.list_kernel_ids())
        if not gate.admit(live):
            self.log.warning("dashboard full (%d of %d kernels): visitor turned away", live,
                             gate.cap)
            self.set_status(503)
            self.set_header("Retry-After", str(RETRY_S))
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(FULL_PAGE.format(retry=RETRY_S, live=live, cap=gate.cap))
            return
        waiting = True  # Voila yields its first HTML once the kernel has started
        try:
            async for chunk in self.get_generator(path=path):
                if waiting:
                    waiting = False
                    gate.started()
                self.write(chunk)
                self.flush()
        finally:
            if waiting:
                gate.started()


class CappedVoila(Voila):
    """Voila whose pages are refused past ``max_kernels`` live kernels (0: no cap)."""

    max_kernels = Int(0, config=True, help="The most kernels at once; 0 for no cap.")

    def init_handlers(self) -> list:
        self.app.settings["cnncourse_gate"] = Gate(self.max_kernels)
        handlers = []
        for pattern, handler, *rest in super().init_handlers():
            if handler is TornadoVoilaHandler:
                handler = CappedVoilaHandler
            handlers.append((pattern, handler, *rest))
        return handlers
