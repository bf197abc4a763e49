"""Headless Chromium for the browser tests, driven by Playwright."""

from __future__ import annotations

import os
import shutil
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
