"""CamExplorer: for one digit, the class activation map of every class, with its score.

A ``gap_cnn`` ends in a 1x1 ``classifier`` conv that scores every position for every class,
then averages the scores over the positions. Before that average, each class's scores form a
map over the image: where the model found evidence for that class. The score of the class is
the map's mean, so the predicted class is the one whose map is, on average, brightest.

No weights ship with the course: the small GAP CNN trains on first use, in a background
thread (a few seconds), and its weights are cached per user (see ``_lesson_cnn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.attribution import class_activation_maps

from . import _render as r
from ._first_use import FirstUseTraining
from ._lesson_cnn import GAP, TrainedModel
from ._sources import Digits, as_digits, digits
from .base import Explorer

CELL = 3  # picture pixels per input pixel of a map tile
TILE = 28 * CELL
LABEL = 18  # height of the line under a tile
GAP_PX = 10
MARGIN = 5  # room for the frame around the first tiles
BLANK_SIZE = (5 * (TILE + GAP_PX) + MARGIN, 2 * (TILE + LABEL + GAP_PX) + MARGIN)
SCALES = ("one scale for all maps", "each map on its own scale")
DIGIT = (235, 235, 235)  # the ink of the digit under the maps: light grey


@dataclass(frozen=True)
class CamSettings:
    index: int
    scale: str
    opacity: float


@dataclass(frozen=True, eq=False)
class CamScene:
    """The digit, and (once the GAP CNN has trained) its class maps and scores.

    ``maps`` is ``[10, h, w]`` (the classifier's output), ``stretched`` the same maps at
    28x28 for drawing over the digit, ``scores`` the logits (each map's mean).
    """

    settings: CamSettings
    image: torch.Tensor  # 28x28, floats in [0, 1]
    label: int  # the true class (-1 if unknown)
    maps: torch.Tensor | None = field(repr=False)
    stretched: torch.Tensor | None = field(repr=False)
    scores: torch.Tensor | None
    probabilities: torch.Tensor | None
    predicted: int | None
    accuracy: float | None
    training: tuple[int, int] | None  # (steps done, steps in all) while the CNN trains
    waiting: str  # why there are no maps, if there are none
    note: str = ""


class CamExplorer(FirstUseTraining, Explorer):
    """Pick a validation digit; see each class's activation map over it and its score.

    ``data``: training data for the first-use training (default ``load_mnist()``).
    ``cache_dir``: where trained weights are kept (default: the user cache folder).
    ``images``: the digits to pick from (default: the validation digits).
    """

    title = "Class activation maps: where does the CNN see each digit?"
    recipe = GAP
    model_name = "GAP CNN"

    def __init__(self, data=None, cache_dir: str | Path | None = None, images=None) -> None:
        super().__init__()
        self._first_use(data, cache_dir, "cnncourse-cam-training")
        self.digits: Digits = digits() if images is None else as_digits(images)
        self._forward: tuple = (None, None)  # (key, (maps, stretched, scores))
        c = {
            "index": widgets.IntSlider(0, 0, len(self.digits.images) - 1, description="digit #"),
            "scale": widgets.Dropdown(options=SCALES, description="colours"),
            "opacity": widgets.FloatSlider(0.7, min=0.0, max=1.0, step=0.1,
                                           description="map opacity"),
        }
        self.digit_image = r.image_widget()
        self.maps_image = r.image_widget()
        self.prediction = widgets.HTML()
        controls_box = widgets.VBox([*c.values(), self.progress, self.status])
        body = widgets.VBox([
            widgets.HBox([r.captioned("the digit (28x28)", self.digit_image), self.prediction]),
            r.captioned("each class's activation map over the digit (dark: little evidence, "
                        "yellow: much), with the class score, the map's mean; the predicted "
                        "class is framed", self.maps_image)])
        self._assemble(c, controls_box, body)

    # -- the protocol -----------------------------------------------------------------------

    def settings(self) -> CamSettings:
        c = self.controls
        return CamSettings(c["index"].value, c["scale"].value, float(c["opacity"].value))

    def compute(self, settings: CamSettings) -> CamScene:
        n = len(self.digits.images)
        if not 0 <= settings.index < n:
            raise ValueError(f"index must be between 0 and {n - 1}, got {settings.index}")
        if settings.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {settings.scale!r}")
        if not 0.0 <= settings.opacity <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, got {settings.opacity}")
        image = self.digits.images[settings.index]
        label = int(self.digits.labels[settings.index])
        trained = self.trained
        if trained is None:
            waiting = ("no CNN to explain it" if self._failure
                       else "waiting for the GAP CNN to finish training &hellip;")
            return CamScene(settings, image, label, None, None, None, None, None, None,
                            self._progress, waiting, self._failure)
        maps, stretched, scores = self._maps(settings.index, trained)
        probabilities = scores.softmax(dim=0)
        return CamScene(settings, image, label, maps, stretched, scores, probabilities,
                        int(scores.argmax()), trained.accuracy, None, "")

    def _maps(self, index: int, trained: TrainedModel):
        """The class maps of digit ``index``, kept while the digit and the model stay."""
        key = (index, id(trained))
        if self._forward[0] != key:
            x = ((self.digits.images[index] - trained.mean) / trained.std)[None, None]
            maps = class_activation_maps(trained.model, x)[0]
            stretched = F.interpolate(maps[None], size=(28, 28), mode="bilinear",
                                      align_corners=False)[0]  # as upsample=True does
            self._forward = (key, (maps, stretched, maps.mean(dim=(1, 2))))
        return self._forward[1]

    def draw(self, scene: CamScene) -> None:
        r.show(self.digit_image, r.enlarge(r.grey(scene.image, 0.0, 1.0), 4), 1)
        self._draw_training(scene.training)
        truth = f"true class {scene.label}" if scene.label >= 0 else "true class unknown"
        if scene.stretched is None:
            self.prediction.value = f"<i>{scene.waiting}</i><br>{truth}"
            r.show(self.maps_image, r.blank(*BLANK_SIZE,
                                            "no maps yet"))
            return
        best = scene.predicted
        self.prediction.value = (
            f"<div style='font-size:40px;line-height:1'>{best}</div>"
            f"<div>predicted, probability {float(scene.probabilities[best]):.1%}; "
            f"{truth}</div><small>model: a small GAP CNN, validation accuracy "
            f"{scene.accuracy:.1%}</small>")
        r.show(self.maps_image, maps_picture(scene))

    def clear(self) -> None:
        r.show(self.maps_image, r.blank(*BLANK_SIZE,
                                        "no maps"))
        self.prediction.value = ""


def map_levels(stretched: torch.Tensor, scale: str) -> np.ndarray:
    """The maps as levels in [0, 1]: lowest value 0, highest 1, over all maps or each one."""
    a = r.as_array(stretched).astype(np.float64)
    axes = None if scale == SCALES[0] else (1, 2)
    low, high = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
    return (a - low) / np.maximum(high - low, 1e-12)


def maps_picture(scene: CamScene) -> np.ndarray:
    """Ten tiles in two rows: each class's map (viridis-like) over the digit, and its score."""
    v = scene.settings
    levels = map_levels(scene.stretched, v.scale)
    ink = r.as_array(scene.image)[..., None]
    width, height = 5 * (TILE + GAP_PX) + MARGIN, 2 * (TILE + LABEL + GAP_PX) + MARGIN
    picture = np.full((height, width, 3), 255, dtype=np.uint8)
    under = ink * np.asarray(DIGIT, np.float32)  # the digit shows through, in light grey
    heat = r.heat(levels, 1.0).astype(np.float32)  # [10, 28, 28, 3]
    tiles = (v.opacity * heat + (1 - v.opacity) * under).astype(np.uint8)
    tiles = np.repeat(np.repeat(tiles, CELL, axis=1), CELL, axis=2)
    for k in range(10):
        y = MARGIN + (k // 5) * (TILE + LABEL + GAP_PX)
        x = MARGIN + (k % 5) * (TILE + GAP_PX)
        picture[y:y + TILE, x:x + TILE] = tiles[k]
        best = k == scene.predicted
        if best:  # an orange frame around the tile, and "best" under it
            r.frame(picture, (x - 4, y - 4, x + TILE + 3, y + TILE + 3), width=3)
        text = f"{k}: {float(scene.scores[k]):.1f}" + (" best" if best else "")
        r.write(picture, (x + TILE / 2, y + TILE + LABEL / 2 + 2), text, 11)
    return picture


__all__ = ["SCALES", "CamExplorer", "CamScene", "CamSettings", "map_levels", "maps_picture"]
