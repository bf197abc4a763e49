"""The trained lesson CNN that DrawDigitExplorer reads drawings with, cached per user.

It is trained with the lessons' recipe (``lesson_learner`` and ``LESSON_DEFAULTS``), so it is
the model the lessons train; the cache key covers the recipe and the data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnncourse.callbacks import Callback
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS, lesson_learner


@dataclass
class TrainedModel:
    model: nn.Module
    mean: float
    std: float
    accuracy: float
    source: str


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnncourse")) / "draw_digit"


def _cache_file(cache_dir: Path, data) -> Path:
    recipe = repr((simple_cnn(LESSON_DEFAULTS["channels"]), LESSON_DEFAULTS,
                   str(getattr(data, "source", "")), tuple(data.train_x.shape)))
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return cache_dir / f"lesson_cnn_{key}.pt"


def load_cached(cache_dir: Path, data) -> TrainedModel | None:
    path = _cache_file(cache_dir, data)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = simple_cnn(LESSON_DEFAULTS["channels"])
        model.load_state_dict(saved["state_dict"])
    except Exception:  # noqa: BLE001 - a damaged cache file is simply retrained
        return None
    model.eval()
    return TrainedModel(model, float(saved["mean"]), float(saved["std"]),
                        float(saved["accuracy"]), str(saved["source"]))


def train_and_cache(cache_dir: Path, data, callbacks=()) -> TrainedModel:
    """Train the lesson CNN with the lessons' recipe, save its weights, return it (CPU)."""
    learner = lesson_learner(data, seed=0, progress=False, callbacks=list(callbacks))
    learner.fit_one_cycle(LESSON_DEFAULTS["epochs"], LESSON_DEFAULTS["max_lr"])
    model = learner.model.cpu().eval()
    accuracy = learner.recorder.valid_accuracy[-1] if learner.recorder.valid_accuracy else 0.0
    trained = TrainedModel(model, learner.train_batches.mean, learner.train_batches.std,
                           float(accuracy), str(getattr(data, "source", "")))
    if learner.status == "finished":
        path = _cache_file(cache_dir, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "mean": trained.mean, "std": trained.std,
                    "accuracy": trained.accuracy, "source": trained.source}, path)
    return trained


class Progress(Callback):
    """In the training thread: publishes ``(steps done, steps in all)``."""

    def __init__(self, publish) -> None:
        self.publish = publish

    def after_batch(self) -> None:
        learn = self.learner
        if learn.step % 10 == 0:
            self.publish((learn.step + 1, learn.n_epochs * len(learn.train_batches)))
