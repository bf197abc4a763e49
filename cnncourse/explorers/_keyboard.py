"""Keyboard access for drawing canvases.

ipycanvas's canvas takes focus and cancels every key pressed on it, Tab included, so a
keyboard user who tabs onto it cannot leave it (a keyboard trap). ``tab_passes_canvases()``
returns an invisible widget whose output installs, once per page, a listener that lets Tab
and Shift+Tab go past a canvas: it stops those two keys before the canvas sees them, and the
browser then moves the focus as it does for any other element. Other keys still reach the
canvas.
"""

from __future__ import annotations

import ipywidgets as widgets
from IPython.display import Javascript

TAB_PASSES_CANVASES_JS = """
if (!window.cnncourseTabPassesCanvases) {
  window.cnncourseTabPassesCanvases = true;
  document.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && event.target instanceof HTMLCanvasElement) {
      event.stopImmediatePropagation();
    }
  }, true);
}
"""


def tab_passes_canvases() -> widgets.Output:
    """An empty-looking widget; show it next to an ipycanvas canvas so Tab can leave it."""
    out = widgets.Output(layout=widgets.Layout(height="0px", overflow="hidden"))
    out.append_display_data(Javascript(TAB_PASSES_CANVASES_JS))
    return out
