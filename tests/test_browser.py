"""The course where users meet it: every Voila dashboard, and the `cnncourse dashboard` command,
in headless Chromium (the JupyterLab lesson is in test_browser_lab.py).

Every server listens on 127.0.0.1 on a free port and is stopped by its fixture. Screenshots go
to the folder printed at the start of the run (test-artifacts/ by default).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cnncourse.app.serve import free_port
from cnncourse.arithmetic import conv_output_size

from .browser import (
    ERROR_OUTPUT_JS,
    ROOT,
    interact_until_something_changes,
    leave,
    settle,
    slider_readouts,
)
from .servers import BIN, Server, start_voila

pytestmark = pytest.mark.slow

DASHBOARD_DIR = ROOT / "lessons" / "dashboards"
DASHBOARDS = sorted(p.stem for p in DASHBOARD_DIR.glob("*.ipynb") if p.stem != "index")
WIDGET = ".jupyter-widgets.widget-container, .widget-box, .widget-vbox"
# Pages that train a model before they show anything get longer.
FIRST_RENDER_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    server = start_voila(DASHBOARD_DIR, tmp_path_factory.mktemp("voila") / "voila.log")
    yield server
    server.stop()


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_renders_and_responds(name, voila, browser, screenshots):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{voila.url}voila/render/{name}.ipynb", wait_until="domcontentloaded",
                  timeout=FIRST_RENDER_TIMEOUT_MS)
        page.wait_for_selector(WIDGET, timeout=FIRST_RENDER_TIMEOUT_MS)
        page.wait_for_timeout(1500)  # let the first images and plots arrive
        assert page.evaluate(ERROR_OUTPUT_JS) == []
        # Voila's default template strips the code: none of the source shows on the page.
        assert "from cnncourse" not in page.inner_text("body")
        page.screenshot(path=screenshots / f"voila_{name}_before.png", full_page=True)
        changed_by = interact_until_something_changes(page)
        settle(page)  # a screenshot of the new scene, not of one half drawn
        page.screenshot(path=screenshots / f"voila_{name}_after.png", full_page=True)
        assert changed_by, f"no slider, dropdown or button changed what {name} shows"
        assert page.evaluate(ERROR_OUTPUT_JS) == []
    finally:
        leave(page)


def test_a_settled_page_shows_the_scene_of_its_controls(voila, browser, screenshots):
    """Several quick changes, then quiet: once the page has settled, what it shows is what
    the engine computes for the values the sliders show, never a picture of earlier ones."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{voila.url}voila/render/conv_arithmetic.ipynb", timeout=120_000)
        page.wait_for_selector(".widget-slider", timeout=120_000)
        assert settle(page)
        for label, presses in (("kernel", 3), ("input size", 4), ("stride", 1),
                               ("padding", 2)):
            slider = page.locator(".widget-slider", has_text=label).first
            handle = slider.locator(".noUi-handle")
            handle.focus()
            for _ in range(presses):
                handle.press("ArrowRight")  # no wait: the changes overlap in flight
        assert settle(page)
        page.screenshot(path=screenshots / "voila_settled_conv_arithmetic.png", full_page=True)
        shown = slider_readouts(page)
        n, k, s, p, d = (int(shown[name]) for name in ("input size", "kernel", "stride",
                                                       "padding", "dilation"))
        assert (n, k, s, p) == (9, 6, 2, 2)  # 5 + 4, 3 + 3, 1 + 1, 0 + 2
        out = conv_output_size(n, k, s, p, d)
        text = page.inner_text("body")
        assert f"= {d}*({k}-1) + 1" in text and f"output {out} x {out}" in text
    finally:
        leave(page)


def test_dashboard_index_links_every_dashboard(voila, browser):
    page = browser.new_page()
    try:
        page.goto(f"{voila.url}voila/render/index.ipynb", timeout=120_000)
        page.wait_for_selector("a[href$='.ipynb']", timeout=120_000)
        hrefs = page.eval_on_selector_all("a[href$='.ipynb']", "els => els.map(e => e.href)")
        assert {Path(h).stem for h in hrefs} >= set(DASHBOARDS)
        target = next(h for h in hrefs if h.endswith("conv_arithmetic.ipynb"))
        page.goto(target, timeout=120_000)
        page.wait_for_selector(WIDGET, timeout=120_000)
    finally:
        leave(page)


def test_cnncourse_dashboard_command_serves_a_working_page(browser, tmp_path, screenshots):
    """The command's server works in a browser, keeps the kernel of an open tab however idle,
    and frees it once the tab is closed (Voila's own shutdown-on-close is refused: voila#1458)."""
    port = free_port(0)
    cull = 3
    server = Server([str(BIN / "cnncourse"), "dashboard", "conv_arithmetic", "--port", str(port),
                     "--no-browser", "--cull-idle", str(cull)],
                    f"http://127.0.0.1:{port}/", tmp_path / "cli.log")
    try:
        server.wait_until_up()
        page = browser.new_page()
        try:
            page.goto(server.url, timeout=120_000)
            page.wait_for_selector(WIDGET, timeout=120_000)
            assert page.evaluate(ERROR_OUTPUT_JS) == []
            assert interact_until_something_changes(page)
            page.screenshot(path=screenshots / "cli_dashboard.png", full_page=True)
            time.sleep(3 * cull)  # idle, but the tab is open: the kernel must stay
            assert server.kernels() == 1
            assert interact_until_something_changes(page), "the idle open tab stopped answering"
        finally:
            leave(page)
        deadline = time.monotonic() + 60
        while server.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert server.kernels() == 0, "closing the tab did not free its kernel within 60 s"
    finally:
        server.stop()
