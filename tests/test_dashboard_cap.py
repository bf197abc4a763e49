"""`cnncourse dashboard --max-kernels N`: the visitor past the cap gets a clear page, not a dead
tab, and nothing already running is disturbed (a real server, real kernels, headless Chromium).
"""

from __future__ import annotations

import socket
import time

import pytest

from cnncourse.app.dashboard_cap import KERNEL_MIB, RESERVE_MIB, Gate, default_max_kernels
from cnncourse.app.serve import free_port

from .browser import ERROR_OUTPUT_JS, interact_until_something_changes, leave
from .servers import BIN, Server

WIDGET = ".jupyter-widgets.widget-container, .widget-box, .widget-vbox"
FULL = "The dashboard is full, try again in a minute"


def test_the_default_cap_is_what_the_free_memory_holds():
    mib = 2**20
    assert default_max_kernels((RESERVE_MIB + 4 * KERNEL_MIB + 100) * mib) == 4
    assert default_max_kernels((RESERVE_MIB + 4 * KERNEL_MIB - 1) * mib) == 3
    assert default_max_kernels(100 * mib) == 1  # a tiny machine still serves one visitor
    assert default_max_kernels() >= 1


def test_the_gate_counts_kernels_still_starting():
    gate = Gate(2)
    assert gate.admit(live=0) and gate.admit(live=0)  # two pages, neither kernel up yet
    assert not gate.admit(live=0)  # the third would be kernel number 3
    gate.started()
    gate.started()
    assert not gate.admit(live=2)
    assert gate.admit(live=1)
    assert Gate(0).admit(live=10**6)  # 0: no cap


def wait_for_port(port: int, server: Server, timeout: float = 90) -> None:
    """Until the server listens (a plain connection: an HTTP request would start a kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(server.log.read_text(errors="replace")[-3000:])
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def wait_for_kernels(server: Server, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while server.kernels() != count and time.monotonic() < deadline:
        time.sleep(0.5)
    assert server.kernels() == count


@pytest.mark.slow
def test_one_tab_past_the_cap_gets_the_full_page(browser, tmp_path, screenshots):
    port, cull = free_port(0), 3
    server = Server([str(BIN / "cnncourse"), "dashboard", "conv_arithmetic", "--port", str(port),
                     "--no-browser", "--max-kernels", "2", "--cull-idle", str(cull)],
                    f"http://127.0.0.1:{port}/", tmp_path / "capped.log")
    tabs = []
    try:
        wait_for_port(port, server)
        for _ in range(2):
            tab = browser.new_page()
            tab.goto(server.url, timeout=180_000)
            tab.wait_for_selector(WIDGET, timeout=180_000)
            tabs.append(tab)
        wait_for_kernels(server, 2)

        late = browser.new_page()
        response = late.goto(server.url, timeout=60_000)
        assert response.status == 503 and response.headers.get("retry-after") == "60"
        assert late.inner_text("h1") == FULL
        late.screenshot(path=screenshots / "dashboard_full.png", full_page=True)
        assert server.kernels() == 2  # the refused visitor started none
        for tab in tabs:  # and the two open tabs still work
            assert interact_until_something_changes(tab)
            assert tab.evaluate(ERROR_OUTPUT_JS) == []

        leave(tabs.pop(0))  # one student closes the tab: its kernel is culled, a place frees
        wait_for_kernels(server, 1, timeout=60 + 10 * cull)
        late.goto(server.url, timeout=180_000)  # what the page's own refresh does
        late.wait_for_selector(WIDGET, timeout=180_000)
        assert late.evaluate(ERROR_OUTPUT_JS) == []
        tabs.append(late)
        assert "turned away" in server.log.read_text(errors="replace")
    finally:
        for tab in tabs:
            leave(tab)
        server.stop()
