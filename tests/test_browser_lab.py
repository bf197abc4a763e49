"""A student in JupyterLab: open a lesson, Run All Cells, move an explorer's slider.

In its own module so that the Voila server of test_browser.py and its kernels are gone first.
"""

from __future__ import annotations

import shutil

import pytest

from .browser import ERROR_OUTPUT_JS, ROOT, interact_until_something_changes, leave
from .servers import Server, start_lab

pytestmark = pytest.mark.slow

LESSON = "03_padding_stride_dilation.ipynb"
OUTPUT = ".jp-OutputArea-output"
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
PROMPTS_JS = """
() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(e => e.innerText.trim())
"""


def answer_dialogs(page, seen: list[str]) -> None:
    """Answer any dialog JupyterLab put up (a kernel that restarted, say) with its default
    button, as a student would; what each said goes into ``seen`` for the failure message."""
    for _ in range(3):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() == 0:
            return
        seen.append(dialog.first.inner_text()[:300])
        accept = dialog.first.locator(".jp-Dialog-button.jp-mod-accept")
        if accept.count():
            accept.first.click()
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(1000)


def run_all_cells(page, seen: list[str]) -> None:
    """Run > Run All Cells, as a student would; once more if no cell started within 30 s."""
    for _ in range(3):
        answer_dialogs(page, seen)
        page.get_by_role("menuitem", name="Run", exact=True).click(timeout=10_000)
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click(timeout=10_000)
        for _ in range(60):
            if any(p not in ("", "[ ]:") for p in page.evaluate(PROMPTS_JS)):
                return
            page.wait_for_timeout(500)


def what_lab_shows(page, server: Server) -> str:
    """What to print when the lesson did not get as far as expected."""
    prompts = page.evaluate(PROMPTS_JS)
    dialogs = [d[:300] for d in page.locator(".jp-Dialog").all_inner_texts()]
    status = page.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")
    log = server.log.read_text(errors="replace")[-2000:]
    return (f"cell prompts: {prompts}\nkernel status: {status}\ndialogs: {dialogs}\n"
            f"errors on the page: {page.evaluate(ERROR_OUTPUT_JS)}\nJupyterLab log:\n{log}")


def test_jupyterlab_runs_a_lesson_and_its_explorer_responds(browser, tmp_path, screenshots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    root = tmp_path / "course"
    shutil.copytree(ROOT / "lessons", root / "lessons")
    token = "cnncourse-test-token"
    server = start_lab(root, token, tmp_path / "lab.log")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server.url}lab/tree/lessons/{LESSON}?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector(KERNEL_IDLE, timeout=120_000)
        seen: list[str] = []  # the dialogs JupyterLab showed on the way
        try:
            run_all_cells(page, seen)
            page.wait_for_selector(f"{OUTPUT} .noUi-handle", timeout=240_000)
            page.wait_for_selector(KERNEL_IDLE, timeout=300_000)
        except PlaywrightTimeout:
            page.screenshot(path=screenshots / "lab_lesson_timeout.png", full_page=True)
            pytest.fail(f"the lesson's explorer did not appear after Run All Cells\ndialogs "
                        f"answered: {seen}\n" + what_lab_shows(page, server))
        if seen:
            print(f"JupyterLab showed {len(seen)} dialog(s), answered: {seen}")
        assert page.evaluate(ERROR_OUTPUT_JS) == []
        page.screenshot(path=screenshots / "lab_lesson_before.png")
        changed_by = interact_until_something_changes(page, scope=OUTPUT)
        page.screenshot(path=screenshots / "lab_lesson_after.png")
        assert changed_by, "moving the explorer's controls in JupyterLab changed nothing"
    finally:
        leave(page)
        server.stop()
