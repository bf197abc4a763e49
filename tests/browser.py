"""Headless Chromium for the browser tests, driven by Playwright."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

ROOT = Path(__file__).resolve().parents[1]


def chromium_path() -> str:
    """The system Chromium; browser tests skip without one, except in CI where they fail."""
    for candidate in (os.environ.get("CNNCOURSE_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    message = "no Chromium found (install Debian's chromium, or set CNNCOURSE_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must run the browser tests")
    pytest.skip(message)


def leave(page) -> None:
    """Close a tab as a user does, unloading the page first (Playwright's close() skips that)."""
    try:
        page.goto("about:blank", timeout=10_000)
    finally:
        page.close()


def artifacts_dir() -> Path:
    """Where screenshots go: $CNNCOURSE_ARTIFACTS, else test-artifacts/ in the checkout."""
    path = Path(os.environ.get("CNNCOURSE_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# A signature of what the page shows, leaving out the controls themselves: images, HTML and
# text outputs, SVG marks (bqplot) and canvases (ipycanvas).
SHOWN_SIGNATURE_JS = """
() => {
  const parts = [];
  for (const img of document.querySelectorAll('img')) parts.push('img:' + img.src);
  for (const el of document.querySelectorAll('.widget-html-content, .jp-RenderedText,'
       + ' .jp-RenderedHTMLCommon, .widget-label'))
    parts.push('html:' + el.innerHTML);
  for (const svg of document.querySelectorAll('svg')) parts.push('svg:' + svg.innerHTML.length
       + ':' + svg.innerHTML.slice(0, 20000));
  for (const canvas of document.querySelectorAll('canvas')) {
    try { parts.push('canvas:' + canvas.toDataURL()); } catch (e) { parts.push('canvas:?'); }
  }
  return parts.join('\\n');
}
"""

ERROR_OUTPUT_JS = """
() => {
  const found = [];
  for (const el of document.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-output.jp-mod-error'))
    found.push(el.innerText.slice(0, 500));
  const text = document.body.innerText;
  for (const marker of ['Traceback (most recent call last)', 'Error displaying widget',
                        'Failed to load model class'])
    if (text.includes(marker)) found.push(marker);
  return found;
}
"""


def shown(page) -> str:
    return page.evaluate(SHOWN_SIGNATURE_JS)


SLIDER_READOUTS_JS = """
() => {
  const found = {};
  for (const el of document.querySelectorAll('.widget-slider')) {
    const label = el.querySelector('.widget-label');
    const readout = el.querySelector('.widget-readout');
    if (label && readout) found[label.innerText.trim()] = readout.innerText.trim();
  }
  return found;
}
"""


def slider_readouts(page) -> dict[str, str]:
    """What each slider's readout shows, by the slider's description."""
    return page.evaluate(SLIDER_READOUTS_JS)


def settle(page, quiet_s: float = 2.0, seconds: float = 60) -> bool:
    """Wait until what the page shows has not changed for ``quiet_s`` seconds (the kernel has
    answered every change); True if it settled within ``seconds``."""
    deadline = time.monotonic() + seconds
    last, since = shown(page), time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = shown(page)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
    return False


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
