"""The protocol every explorer follows: controls -> update() -> view, with a message for misuse.

An explorer holds no math of its own. Its ``controls`` (ipywidgets value widgets) feed the
engine, and ``render()`` turns the engine's answer into pictures and text inside ``view``.
Observers are synchronous, so setting ``explorer.controls["stride"].value = 2`` from Python
has redrawn the view by the time the assignment returns.

A setting that the engine refuses (a kernel larger than the padded input, say) never raises:
its ``ValueError`` becomes ``message``, shown in the view in place of the pictures.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import torch

from ._render import STYLE

MESSAGE_STYLE = ("background:#fff4ce;border-left:4px solid #d89b00;padding:4px 8px;"
                 "margin:4px 0;font-family:sans-serif")


class Explorer:
    """Base class: subclasses fill ``controls``, build ``view`` and implement ``render()``.

    ``render()`` reads the control values, calls the engine and redraws the view. It returns
    ``""`` (or ``None``) when all is well, or a note to show next to a picture that is still
    drawn. A ``ValueError`` it raises becomes the ``message``; ``clear()`` then blanks the
    pictures so that nothing stale is left on screen.
    """

    title = ""
    """One line shown above the explorer."""

    def __init__(self) -> None:
        self.controls: dict[str, widgets.ValueWidget] = {}
        self.message = ""
        self.examples: dict[str, list] = {}  # sample values for free-text controls
        self.view: widgets.Box = widgets.VBox()
        self._message_html = widgets.HTML(layout=widgets.Layout(display="none"))
        self._hold_depth = 0

    # -- building ---------------------------------------------------------------------------

    def _assemble(self, controls: dict[str, widgets.ValueWidget], controls_box: widgets.Widget,
                  body: widgets.Widget) -> None:
        """Set the controls and the view, connect the observers and draw the first time."""
        self.controls = controls
        heading = widgets.HTML(f"{STYLE}<h3 style='margin:0'>{html.escape(self.title)}</h3>")
        # The controls keep their natural width; long captions wrap in the body beside them.
        controls_box.layout.flex = "0 0 auto"
        output = widgets.VBox([self._message_html, body], layout=widgets.Layout(
            flex="1 1 0%", min_width="0"))
        self.view = widgets.VBox([heading, widgets.HBox([controls_box, output])])
        for widget in controls.values():
            widget.observe(self._on_change, names="value")
        self.update()

    # -- the protocol -----------------------------------------------------------------------

    def render(self) -> str | None:
        """Recompute from the controls and redraw; return a note or raise ``ValueError``."""
        raise NotImplementedError

    def clear(self) -> None:
        """Blank the pictures after a setting that cannot be drawn (default: leave them)."""

    def update(self) -> None:
        """Redraw from the current control values; never raises."""
        try:
            with single_thread():
                note = self.render() or ""
        except ValueError as err:
            note = str(err)
            self._clear_quietly()
        except Exception as err:  # noqa: BLE001 - a widget must survive whatever happens
            note = (f"Something unexpected went wrong ({type(err).__name__}: {err}). "
                    "Try another setting; please report this if it persists.")
            self._clear_quietly()
        self._show_message(note)

    def _clear_quietly(self) -> None:
        try:
            self.clear()
        except Exception:  # noqa: BLE001 - showing the message matters more than blanking
            pass

    def _show_message(self, text: str) -> None:
        self.message = text
        if text:
            self._message_html.value = (
                f"<div style='{MESSAGE_STYLE}'>{html.escape(text)}</div>")
            self._message_html.layout.display = ""
        else:
            self._message_html.value = ""
            self._message_html.layout.display = "none"

    def _on_change(self, change: dict) -> None:
        if self._hold_depth == 0:
            self.update()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls at once, with one redraw at the end."""
        try:
            with self._quietly():
                yield
        finally:
            if self._hold_depth == 0:
                self.update()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change controls from inside ``render()`` without triggering another redraw."""
        self._hold_depth += 1
        try:
            yield
        finally:
            self._hold_depth -= 1

    # -- display in Jupyter -----------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread for a while.

    Explorer tensors are tiny; waking torch's thread pool for each of their operations costs
    far more than the work (measured: 15-45 ms per small conv on a busy 2-core machine, against
    0.3 ms on one thread).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class ControlRange:
    """The values a control offers, for tests, benchmarks and "surprise me" buttons.

    ``kind`` is ``"int"`` or ``"float"`` (between ``low`` and ``high``), ``"log"`` (``base`` to
    a power between ``low`` and ``high``), ``"choice"`` (one of ``options``), ``"bool"`` or
    ``"text"`` (any string).
    """

    kind: str
    low: float = 0
    high: float = 0
    base: float = 10.0
    options: tuple = ()
    step: float = 0.0


def control_range(widget: widgets.ValueWidget) -> ControlRange:
    """The range of values ``widget`` lets a student pick."""
    if isinstance(widget, widgets.FloatLogSlider):
        return ControlRange("log", widget.min, widget.max, base=widget.base)
    if isinstance(widget, widgets.FloatSlider | widgets.BoundedFloatText):
        return ControlRange("float", widget.min, widget.max, step=widget.step or 0.0)
    if isinstance(widget, widgets.IntSlider | widgets.BoundedIntText | widgets.Play):
        return ControlRange("int", widget.min, widget.max)
    if isinstance(widget, widgets.Dropdown | widgets.ToggleButtons | widgets.RadioButtons
                  | widgets.Select | widgets.SelectionSlider):
        return ControlRange("choice", options=tuple(value for _, value in _labelled(widget)))
    if isinstance(widget, widgets.Checkbox | widgets.ToggleButton):
        return ControlRange("bool", options=(False, True))
    if isinstance(widget, widgets.Text | widgets.Textarea):
        return ControlRange("text")
    raise TypeError(f"no known range for {type(widget).__name__}")


def _labelled(widget) -> list[tuple[str, object]]:
    options = widget.options
    if isinstance(options, dict):
        return list(options.items())
    return [o if isinstance(o, tuple) else (str(o), o) for o in options]


__all__ = ["ControlRange", "Explorer", "control_range", "single_thread"]
