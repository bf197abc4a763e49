"""The dashboards without a mouse, in headless Chromium on a real Voila server: key presses
only (Tab, arrows, Space, Enter) move a slider, change a dropdown and complete a try-this
task; and Tab reaches every control of every dashboard."""

from __future__ import annotations

import pytest

from .browser import ERROR_OUTPUT_JS, leave, slider_readouts
from .servers import start_voila
from .test_browser import DASHBOARD_DIR, DASHBOARDS, FIRST_RENDER_TIMEOUT_MS, WIDGET

pytestmark = pytest.mark.slow

# What the focused element is: "slider:<label>", "select:<label>", "radio:<label>",
# "button:<text>", or the tag name.
FOCUSED_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return '';
  const label = (box) => {
    const found = box && box.querySelector('.widget-label');
    return found ? found.innerText.trim() : '';
  };
  if (el.classList.contains('noUi-handle')) return 'slider:' + label(el.closest('.widget-slider'));
  if (el.tagName === 'SELECT') return 'select:' + label(el.closest('.widget-dropdown'));
  if (el.type === 'radio') return 'radio:' + el.parentElement.innerText.trim();
  if (el.tagName === 'BUTTON') return 'button:' + el.innerText.trim();
  return el.tagName.toLowerCase();
}
"""

# Mark every visible, enabled control. (ipywidgets' radio buttons carry no shared name, so
# each is a Tab stop of its own; the arrow keys move between them too.)
MARK_CONTROLS_JS = """
() => {
  const marks = [];
  const all = document.querySelectorAll(
      '.noUi-handle, select, button, input, textarea, [contenteditable="true"]');
  all.forEach((el, i) => {
    if (el.disabled || el.offsetParent === null || el.type === 'hidden') return;
    el.setAttribute('data-kbd', 'c' + i);
    marks.push('c' + i);
  });
  return marks;
}
"""

MISSED_JS = """
([marks, reached]) => marks.filter(m => !reached.includes(m)).map(
    m => document.querySelector('[data-kbd="' + m + '"]').outerHTML.slice(0, 160))
"""


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    server = start_voila(DASHBOARD_DIR, tmp_path_factory.mktemp("voila") / "voila.log")
    yield server
    server.stop()


def _open(browser, voila, name: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{voila.url}voila/render/{name}.ipynb", wait_until="domcontentloaded",
              timeout=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_selector(WIDGET, timeout=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_selector("text=Try this", timeout=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_timeout(1500)
    return page


def _tab_to(page, wanted: str, presses: int = 120) -> None:
    """Press Tab until the focused control is ``wanted`` (see FOCUSED_JS)."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED_JS)
        if now == wanted:
            return
        seen.append(now)
    raise AssertionError(f"Tab never reached {wanted!r}; it visited {seen}")


def _wait_for_text(page, text: str, seconds: float = 30) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text,
                           timeout=seconds * 1000)


def test_keys_alone_move_a_slider_change_a_dropdown_and_check_a_task(voila, browser,
                                                                     screenshots):
    page = _open(browser, voila, "pooling")
    try:
        _wait_for_text(page, "floor((28 + 2*0 - 2) / 2) + 1 = 14")
        _tab_to(page, "slider:kernel")
        page.keyboard.press("ArrowRight")  # kernel 2 -> 3
        _wait_for_text(page, "floor((28 + 2*0 - 3) / 2) + 1 = 13")
        assert slider_readouts(page)["kernel"] == "3"

        _tab_to(page, "select:pool")
        page.keyboard.press("ArrowDown")  # digit -> edge feature maps (4 channels)
        _wait_for_text(page, "Linear(4, 10)")

        _tab_to(page, "radio:27 x 27")  # task 1: the first choice takes the focus
        page.keyboard.press("Space")
        page.keyboard.press("ArrowDown")  # the prediction: 14 x 14
        assert page.evaluate(FOCUSED_JS) == "radio:14 x 14"
        _tab_to(page, "button:Check", presses=3)  # past the last choice, to task 1's Check
        page.keyboard.press("Enter")
        _wait_for_text(page, "Your prediction held: 14 x 14")
        # The explorer now shows the task's case: kernel 2 on the digit again.
        _wait_for_text(page, "floor((28 + 2*0 - 2) / 2) + 1 = 14")
        assert slider_readouts(page)["kernel"] == "2"
        assert "Linear(1, 10)" in page.inner_text("body")
        page.screenshot(path=screenshots / "keyboard_pooling.png", full_page=True)
        assert page.evaluate(ERROR_OUTPUT_JS) == []
    finally:
        leave(page)


# draw_digit's drawing canvas (ipycanvas) cancels every key pressed on it; the explorer's
# listener (explorers/_keyboard.py) lets Tab go past it to the controls after it.
@pytest.mark.parametrize("name", DASHBOARDS)
def test_tab_reaches_every_control(name, voila, browser):
    page = _open(browser, voila, name)
    try:
        marks = page.evaluate(MARK_CONTROLS_JS)
        assert marks, f"{name}: no controls found"
        reached = set()
        for _ in range(3 * len(marks) + 10):
            page.keyboard.press("Tab")
            mark = page.evaluate("() => document.activeElement.getAttribute('data-kbd')")
            if mark:
                reached.add(mark)
            if reached >= set(marks):
                break
        missed = page.evaluate(MISSED_JS, [marks, sorted(reached)])
        assert missed == [], f"{name}: Tab does not reach {missed}"
    finally:
        leave(page)
