"""The course where users meet it: Voila dashboards and a JupyterLab lesson in headless Chromium.

Every server listens on 127.0.0.1 on a free port and is stopped by its fixture. Screenshots go
to the folder printed at the start of the run (test-artifacts/ by default).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from .browser import CHROMIUM_FLAGS, ERROR_OUTPUT_JS, ROOT, SHOWN_SIGNATURE_JS, artifacts_dir
from .browser import chromium_path as find_chromium
from .servers import BIN, Server, free_port, start_lab, start_voila

pytestmark = pytest.mark.slow

DASHBOARD_DIR = ROOT / "lessons" / "dashboards"
DASHBOARDS = sorted(p.stem for p in DASHBOARD_DIR.glob("*.ipynb") if p.stem != "index")
WIDGET = ".jupyter-widgets.widget-container, .widget-box, .widget-vbox"
# Pages that train a model before they show anything get longer.
FIRST_RENDER_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}", file=sys.stderr)
    return folder


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    server = start_voila(DASHBOARD_DIR, tmp_path_factory.mktemp("voila") / "voila.log")
    yield server
    server.stop()


def shown(page) -> str:
    return page.evaluate(SHOWN_SIGNATURE_JS)


def wait_for_change(page, before: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if shown(page) != before:
            return True
        page.wait_for_timeout(250)
    return False


def interact_until_something_changes(page, scope: str = "body", seconds: float = 10) -> str:
    """Move sliders, pick other options, press buttons, in that order, until the view changes.

    Returns a description of the control that changed the view, or "" if none did.
    """
    root = page.locator(scope)
    for i, handle in enumerate(root.locator(".noUi-handle").all()):
        before = shown(page)
        handle.focus()
        for key in ("ArrowRight", "ArrowRight", "ArrowRight"):
            handle.press(key)
        if wait_for_change(page, before, seconds):
            return f"slider {i}"
        for key in ("ArrowLeft",) * 6:
            handle.press(key)
        if wait_for_change(page, before, seconds / 2):
            return f"slider {i} (moved left)"
    for i, select in enumerate(root.locator(".widget-dropdown select").all()):
        options = select.locator("option").all_inner_texts()
        if len(options) < 2:
            continue
        before = shown(page)
        current = select.input_value()
        other = next(o for o in options if o != current)
        select.select_option(label=other)
        if wait_for_change(page, before, seconds):
            return f"dropdown {i} -> {other}"
    for button in root.locator("button.jupyter-button").all():
        if not button.is_enabled():
            continue
        before = shown(page)
        button.click()
        if wait_for_change(page, before, seconds * 3):
            return f"button {button.inner_text()!r}"
    return ""


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
        page.screenshot(path=screenshots / f"voila_{name}_after.png", full_page=True)
        assert changed_by, f"no slider, dropdown or button changed what {name} shows"
        assert page.evaluate(ERROR_OUTPUT_JS) == []
    finally:
        page.close()


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
        page.close()


def test_cnncourse_dashboard_command_serves_a_working_page(browser, tmp_path, screenshots):
    port = free_port()
    server = Server([str(BIN / "cnncourse"), "dashboard", "conv_arithmetic", "--port", str(port),
                     "--no-browser"], f"http://127.0.0.1:{port}/", tmp_path / "cli.log")
    try:
        server.wait_until_up()
        page = browser.new_page()
        page.goto(server.url, timeout=120_000)
        page.wait_for_selector(WIDGET, timeout=120_000)
        assert page.evaluate(ERROR_OUTPUT_JS) == []
        assert interact_until_something_changes(page)
        page.screenshot(path=screenshots / "cli_dashboard.png", full_page=True)
    finally:
        server.stop()


LESSON = "03_padding_stride_dilation.ipynb"


def test_jupyterlab_runs_a_lesson_and_its_explorer_responds(browser, tmp_path, screenshots):
    root = tmp_path / "course"
    shutil.copytree(ROOT / "lessons", root / "lessons")
    token = "cnncourse-test-token"
    server = start_lab(root, token, tmp_path / "lab.log")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server.url}lab/tree/lessons/{LESSON}?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        # Wait for the kernel, then Run > Run All Cells, as a student would.
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        output = ".jp-OutputArea-output"
        page.wait_for_selector(f"{output} .noUi-handle", timeout=180_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=300_000)
        assert page.evaluate(ERROR_OUTPUT_JS) == []
        page.screenshot(path=screenshots / "lab_lesson_before.png")
        changed_by = interact_until_something_changes(page, scope=output)
        page.screenshot(path=screenshots / "lab_lesson_after.png")
        assert changed_by, "moving the explorer's controls in JupyterLab changed nothing"
    finally:
        page.close()
        server.stop()
