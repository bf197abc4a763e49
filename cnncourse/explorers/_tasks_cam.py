"""Try-this tasks of CamExplorer, read from the scene of the task's digit: which map wins,
where the true class's map peaks, and how a score comes from its map."""

from __future__ import annotations

import math

from ._task import Task, task


def _ready(scene) -> None:
    if scene.stretched is None:
        raise ValueError("the GAP CNN has not finished training yet: try again in a moment")


def _brightest(scene, _):
    _ready(scene)
    means = scene.maps.mean(dim=(1, 2))
    top = int(means.argmax())
    choice = ("the map of the predicted class" if top == scene.predicted
              else "the map of another class")
    return choice, (f"the map of class {top} has the largest mean ({float(means[top]):.2f}), "
                    f"and the prediction is {scene.predicted}: the score is the map's mean")


def _peak(scene, _):
    _ready(scene)
    true = scene.stretched[scene.label]
    row, col = divmod(int(true.argmax()), true.shape[1])
    ink = float(scene.image[row, col])
    choice = "on the strokes" if ink > 0.3 else "on the background"
    return choice, (f"class {scene.label}'s map peaks at row {row}, column {col}, where the "
                    f"digit's ink is {ink:.2f} (0 is background, 1 a full stroke)")


def _score(scene, _):
    _ready(scene)
    k = scene.predicted
    m = scene.maps[k]
    candidates = {"the mean of its map": float(m.mean()), "the largest value of its map":
                  float(m.max()), "the sum of its map": float(m.sum())}
    score = float(scene.scores[k])
    choice = next((name for name, value in candidates.items()
                   if math.isclose(value, score, rel_tol=1e-4, abs_tol=1e-4)),
                  "the mean of its map")
    return choice, (f"class {k}: score {score:.3f}; its map's mean is "
                    f"{candidates['the mean of its map']:.3f}, largest value "
                    f"{candidates['the largest value of its map']:.3f}, sum "
                    f"{candidates['the sum of its map']:.3f}")


CAM = (
    task("Digit #0: the map of which class is brightest on average?",
         ("the map of the predicted class", "the map of another class"),
         {"index": 0, "scale": "one scale for all maps"}, _brightest),
    task("Digit #1: where does the map of the true class peak?",
         ("on the strokes", "on the background"), {"index": 1, "opacity": 1.0}, _peak),
    task("Digit #2: how is the predicted class's score computed from its map?",
         ("the mean of its map", "the largest value of its map", "the sum of its map"),
         {"index": 2}, _score),
)

TASKS: dict[str, tuple[Task, ...]] = {"CamExplorer": CAM}
