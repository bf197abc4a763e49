"""The protocol every explorer follows: settings -> scene -> view, with a message for misuse.

An explorer holds no math of its own. It has three parts:

- ``settings()`` reads the ``controls`` (ipywidgets value widgets) into a frozen dataclass;
- ``compute(settings)`` returns a frozen dataclass ``Scene`` of everything the view shows. It
  calls the engine only: no widgets, no pictures, no threads, no side effects;
- ``draw(scene)`` touches widgets only. It may change a control's range (a slider's ``max``)
  without causing another redraw.

``explorer.scene`` always holds the scene of the current controls. Observers are synchronous,
so after ``explorer.controls["stride"].value = 2`` from Python the scene is new and the view
redrawn. A setting that the engine refuses (a kernel larger than the padded input, say) never
raises: its ``ValueError`` gives a ``Problem`` scene that carries the message, shown in the
view in place of the pictures.

A dropdown of presets that sets other controls is declared with ``link_presets``: choosing a
preset sets its controls (one redraw), and changing one of them by hand switches the dropdown
to "custom", so that the dropdown never names settings the controls do not hold.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
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
        self._names: dict[int, str] = {}  # id of a control -> its name
        self._links: list[PresetLink] = []
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
        for link in self._links:  # the controls start as their chosen preset sets them
            link.apply()
        self._names = {id(widget): name for name, widget in controls.items()}
        _whole_descriptions(list(controls.values()))
        for widget in controls.values():
            widget.observe(self._on_change, names="value")
        self.update()

    def link_presets(self, control: str,
                     presets: Mapping[str, Mapping[str, Any]] | Callable[[str], Mapping[str, Any]],
                     linked: Iterable[str] | None = None, depends_on: Iterable[str] = (),
                     custom: str = "custom") -> PresetLink:
        """Let the dropdown ``controls[control]`` set other controls (call before
        ``_assemble``).

        Choosing preset ``name`` sets the controls ``presets[name]`` gives, ``{control name:
        value}`` (or ``presets(name)`` when they depend on other controls; a ``ValueError``
        means the preset cannot be met and becomes the link's ``note``), with one redraw.
        Changing one of the ``linked`` controls (by default every control a preset sets)
        switches the dropdown to ``custom``. Changing one of ``depends_on`` instead sets the
        chosen preset again, unless that preset sets the control itself.
        """
        if callable(presets):
            if linked is None:
                raise TypeError("link_presets: name the linked controls when presets is a "
                                "function")
            values = presets
        else:
            values = presets.__getitem__
            if linked is None:
                linked = {key for preset in presets.values() for key in preset}
        link = PresetLink(self, control, values, frozenset(linked), frozenset(depends_on),
                          custom)
        self._links.append(link)
        return link

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
            with self._quietly():
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
        name = self._names.get(id(change["owner"]), "")
        for link in self._links:
            link.react(name)
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
        """Change controls (from ``draw``, or a preset link) without another redraw."""
        self._hold_depth += 1
        try:
            yield
        finally:
            self._hold_depth -= 1

    # -- display in Jupyter -----------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


class PresetLink:
    """A dropdown of presets kept in step with the controls it sets (see
    ``Explorer.link_presets``). ``note`` says why the chosen preset could not be met, if it
    could not."""

    def __init__(self, explorer: Explorer, control: str,
                 values: Callable[[str], Mapping[str, Any]], linked: frozenset[str],
                 depends_on: frozenset[str], custom: str) -> None:
        self.explorer = explorer
        self.control = control
        self.values = values
        self.linked = linked
        self.depends_on = depends_on
        self.custom = custom
        self.note = ""
        self._setting = False  # our own changes are not the student's

    @property
    def preset(self) -> str:
        """The name the dropdown shows now."""
        return self.explorer.controls[self.control].value

    def react(self, name: str) -> None:
        """After control ``name`` changed: set the chosen preset, or leave it for custom."""
        if self._setting:
            return
        if name == self.control:
            self.apply()
        elif self.preset == self.custom:
            return
        elif name in self.depends_on and name not in self._sets(self.preset):
            self.apply()
        elif name in self.linked:
            self.note = ""
            self._set({self.control: self.custom})

    def apply(self) -> None:
        """Set the controls of the chosen preset (none for custom)."""
        name, self.note = self.preset, ""
        if name == self.custom:
            return
        try:
            values = dict(self.values(name))
        except ValueError as err:
            self.note = f"preset {name!r} cannot be met: {err}"
            return
        self._set({key: self._within(name, key, value) for key, value in values.items()})

    def _sets(self, name: str) -> set[str]:
        try:
            return set(self.values(name))
        except ValueError:
            return set()

    def _within(self, name: str, key: str, value: Any) -> Any:
        """``value``, or the end of the control's range nearest to it (and a note)."""
        widget = self.explorer.controls[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        high, low = getattr(widget, "max", None), getattr(widget, "min", None)
        if high is not None and value > high:
            self.note = (f"preset {name!r} needs {key} {value}, more than this slider offers "
                         f"({high}); it is set to the most")
            return high
        if low is not None and value < low:
            self.note = (f"preset {name!r} needs {key} {value}, less than this slider offers "
                         f"({low}); it is set to the least")
            return low
        return value

    def _set(self, values: Mapping[str, Any]) -> None:
        self._setting = True
        try:
            with self.explorer._quietly():
                for key, value in values.items():
                    self.explorer.controls[key].value = value
        finally:
            self._setting = False


def _whole_descriptions(controls: list[widgets.Widget]) -> None:
    """Show every control's description whole: ipywidgets cuts a description longer than its
    label width ("out chann..."). The labels get one width, that of the longest (so the
    controls stay aligned); a checkbox shows its description beside the box instead."""
    labelled = [w for w in controls if getattr(w, "description", "")
                and not isinstance(w, widgets.Checkbox)]
    for widget in controls:
        if isinstance(widget, widgets.Checkbox):
            widget.indent = False
    if labelled:
        longest = max(len(w.description) for w in labelled)
        width = f"{min(8 + 7 * longest, 160)}px"  # about 7 pixels a character
        for widget in labelled:
            widget.style.description_width = width


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread for a while.

    Explorer tensors are tiny; waking torch's thread pool for each of their operations costs
    far more than the work (measured: 15-45 ms per small conv on a busy 2-core machine, against
    0.3 ms on one thread).
    """
    threads = torch.get_num_threads()
    if threads == 1 or threading.current_thread() is not threading.main_thread():
        yield  # the thread count is process-wide: only the main thread changes it
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


__all__ = ["ControlRange", "Explorer", "PresetLink", "Problem", "control_range",
           "single_thread"]
