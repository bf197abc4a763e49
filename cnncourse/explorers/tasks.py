"""Try-this tasks for explorers: predict, then let the explorer check the prediction.

A :class:`Task` asks a question with a few choices and names the case that answers it: the
values to give some of the explorer's controls. Its ``answer`` reads the explorer's scene of
that case (and, to compare, the scenes of other settings through ``scene_for``) and returns
the right choice and one line saying why, with the numbers of the scene. Nothing of the answer
is written down beforehand: it is computed by the engine, as the explorer draws it.

A :class:`TaskPanel` shows an explorer's tasks below it. The learner picks a prediction and
presses "Check"; the panel sets the controls to the case (one redraw, with
``explorer.hold()``), so that the explorer shows it, and says whether the prediction held.
The panel changes the explorer only through its controls and never raises: a case the
explorer cannot show gives its message instead.

    with_tasks(PoolingExplorer())  # the explorer, its tasks below it

or, keeping the panel at hand, ``TaskPanel.for_explorer(explorer)``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from cnncourse.colours import HELD, NOT_HELD, hex_colour

from ._task import Task, task
from ._task_list import explorer_tasks
from .base import Explorer, Problem

# The result says it in words and with a mark, so that its colour is never the only cue.
HELD_HTML = (f"<b style='color:{hex_colour(HELD)}'>&#10004; held</b> ")
NOT_HELD_HTML = (f"<b style='color:{hex_colour(NOT_HELD)}'>&#10008; did not hold</b> ")


@dataclass(frozen=True)
class Outcome:
    """What checking a prediction found: ``held`` is None when there was nothing to compare
    (no pick, or a case the explorer could not show, explained by ``text``)."""

    held: bool | None
    answer: str
    text: str


def apply(explorer: Explorer, item: Task) -> Any:
    """Set the task's case on the explorer's controls, with one redraw; the new scene (a
    ``Problem`` for a control that refuses its value)."""
    try:
        with explorer.hold():
            for name, value in item.settings:
                explorer.controls[name].value = value
    except Exception as err:  # noqa: BLE001 - a value the control refuses is a message
        return Problem(None, f"this task cannot set its case ({type(err).__name__}: {err})")
    return explorer.scene


def check(explorer: Explorer, item: Task, pick: str | None) -> Outcome:
    """Show the task's case on ``explorer`` and compare ``pick`` with the scene's answer."""
    if pick is None:
        return Outcome(None, "", "Pick a prediction first, then press Check.")
    scene = apply(explorer, item)
    if isinstance(scene, Problem):
        return Outcome(None, "", f"The explorer cannot show this case: {scene.message}")
    try:
        right, why = item.answer(scene, explorer.scene_for)
    except Exception as err:  # noqa: BLE001 - a task that breaks must not take the page down
        return Outcome(None, "", f"This task could not be checked ({type(err).__name__}: "
                                 f"{err}); please report it.")
    why = why[:1].upper() + why[1:]
    if pick == right:
        return Outcome(True, right, f"Your prediction held: {right}. {why}")
    return Outcome(False, right, f"Your prediction did not hold: the answer is {right}. {why}")


class TaskPanel:
    """The tasks of one explorer, each with its choices, a Check button and the result."""

    def __init__(self, explorer: Explorer, tasks: Sequence[Task]) -> None:
        self.explorer = explorer
        self.tasks = tuple(tasks)
        self.picks: list[widgets.RadioButtons] = []
        self.buttons: list[widgets.Button] = []
        self.results: list[widgets.HTML] = []
        self.outcomes: list[Outcome | None] = [None] * len(self.tasks)
        boxes = []
        for i, item in enumerate(self.tasks):
            pick = widgets.RadioButtons(options=item.choices, value=None,
                                        layout=widgets.Layout(width="auto"))
            button = widgets.Button(description="Check", icon="check",
                                    tooltip="show this case in the explorer and compare")
            button.on_click(lambda _, i=i: self.check(i))
            result = widgets.HTML()
            self.picks.append(pick)
            self.buttons.append(button)
            self.results.append(result)
            boxes.append(widgets.VBox([
                widgets.HTML(f"<b>Task {i + 1}.</b> {html.escape(item.question)}"),
                widgets.HBox([pick, button]), result],
                layout=widgets.Layout(margin="0 0 10px 0")))
        heading = widgets.HTML("<h3 style='margin:4px 0'>Try this: predict, then check</h3>"
                               "<p style='margin:0'>Pick what you expect, then press Check: "
                               "the explorer above is set to the case and shows it.</p>")
        self.view = widgets.VBox([heading, *boxes], layout=widgets.Layout(
            border="1px solid #ccc", padding="6px 10px", margin="10px 0 0 0"))

    @classmethod
    def for_explorer(cls, explorer: Explorer) -> TaskPanel:
        """The panel of the course's tasks for ``explorer`` (see ``explorer_tasks``)."""
        return cls(explorer, explorer_tasks(type(explorer).__name__))

    def check(self, i: int) -> Outcome:
        """Check task ``i`` with the prediction picked now, and show the outcome."""
        outcome = check(self.explorer, self.tasks[i], self.picks[i].value)
        self.outcomes[i] = outcome
        badge = {True: HELD_HTML, False: NOT_HELD_HTML}.get(outcome.held, "")
        self.results[i].value = f"<p style='margin:2px 0'>{badge}{html.escape(outcome.text)}</p>"
        return outcome

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)


def with_tasks(explorer: Explorer) -> widgets.VBox:
    """The explorer's view with its try-this tasks below it (what a dashboard shows); the
    panel is kept as the box's ``panel``."""
    panel = TaskPanel.for_explorer(explorer)
    box = widgets.VBox([explorer.view, panel.view])
    box.panel = panel
    return box


__all__ = ["Outcome", "Task", "TaskPanel", "apply", "check", "explorer_tasks", "task",
           "with_tasks"]
