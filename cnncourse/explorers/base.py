"""The protocol every explorer follows: settings -> scene -> view, with a message for misuse.

An explorer holds no math of its own. It has three parts:

- ``settings()`` reads the ``controls`` (ipywidgets value widgets) into a frozen dataclass;
- ``compute(settings)`` returns a frozen dataclass ``Scene`` of everything the view shows. It
  calls the engine only: no widgets, no pictures, no threads, no side effects;
- ``draw(scene)`` touches widgets only.

``explorer.scene`` always holds the scene of the current controls. Observers are synchronous,
so after ``explorer.controls["stride"].value = 2`` from Python the scene is new and the view
redrawn. A setting that the engine refuses (a kernel larger than the padded input, say) never
raises: its ``ValueError`` gives a ``Problem`` scene that carries the message, shown in the
view in place of the pictures.

Explorers not yet moved to this shape implement ``render()`` instead, which reads the
controls, calls the engine and redraws in one go (``scene`` is then ``None``).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import torch

from ._render import STYLE

MESSAGE_STYLE = ("background:#fff4ce;border-left:4px solid #d89b00;padding:4px 8px;"
                 "margin:4px 0;font-family:sans-serif")


UNEXPECTED = ("Something unexpected went wrong ({kind}: {error}). Try another setting; please "
              "report this if it persists.")


@dataclass(frozen=True)
class Problem:
    """The scene of settings that cannot be shown: the settings, and the message saying why
    and what would work."""

    settings: Any
    message: str


class Explorer:
    """Base class: subclasses fill ``controls``, build ``view`` and implement ``settings()``,
    ``compute(settings)`` and ``draw(scene)`` (see the module's docstring).

    A scene may carry a ``note`` (a string) to show next to a picture that is still drawn.
    After a ``Problem`` scene, ``clear()`` blanks the pictures so that nothing stale is left.
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
        self.scene: Any = None

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

    def settings(self) -> Any:
        """The current control values, as a frozen dataclass."""
        raise NotImplementedError

    def compute(self, settings: Any) -> Any:
        """The scene for ``settings``, from the engine alone; raise ``ValueError`` with a
        message for settings that cannot be shown."""
        raise NotImplementedError

    def draw(self, scene: Any) -> None:
        """Show ``scene`` in the widgets."""
        raise NotImplementedError

    def render(self) -> str | None:
        """For explorers not yet on settings -> scene -> view: recompute from the controls and
        redraw; return a note or raise ``ValueError``."""
        raise NotImplementedError

    def clear(self) -> None:
        """Blank the pictures after a setting that cannot be drawn (default: leave them)."""

    def scene_for(self, settings: Any) -> Any:
        """``compute(settings)``, or the ``Problem`` that explains why it cannot be shown;
        never raises."""
        try:
            with single_thread():
                return self.compute(settings)
        except ValueError as err:
            return Problem(settings, str(err))
        except Exception as err:  # noqa: BLE001 - a widget must survive whatever happens
            return Problem(settings, UNEXPECTED.format(kind=type(err).__name__, error=err))

    def update(self) -> None:
        """Recompute the scene from the current control values and redraw; never raises."""
        if type(self).compute is not Explorer.compute:
            self._update_scene()
            return
        try:
            with single_thread():
                note = self.render() or ""
        except ValueError as err:
            note = str(err)
            self._clear_quietly()
        except Exception as err:  # noqa: BLE001 - a widget must survive whatever happens
            note = UNEXPECTED.format(kind=type(err).__name__, error=err)
            self._clear_quietly()
        self._show_message(note)

    def _update_scene(self) -> None:
        try:
            settings = self.settings()
        except ValueError as err:  # a control whose text cannot be read
            self.scene = Problem(None, str(err))
        else:
            self.scene = self.scene_for(settings)
        if isinstance(self.scene, Problem):
            self._clear_quietly()
            self._show_message(self.scene.message)
            return
        try:
            self.draw(self.scene)
            note = getattr(self.scene, "note", "")
        except Exception as err:  # noqa: BLE001 - drawing must not take the widget down
            note = UNEXPECTED.format(kind=type(err).__name__, error=err)
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


__all__ = ["ControlRange", "Explorer", "Problem", "control_range", "single_thread"]
