"""Trained CNNs that explorers need, trained on first use and cached per user.

``LESSON`` is the lesson CNN that DrawDigitExplorer reads drawings with, trained with the
lessons' recipe (``lesson_learner`` and ``LESSON_DEFAULTS``), so it is the model the lessons
train. ``GAP`` is a small ``gap_cnn`` for CamExplorer, trained in seconds on a subset. The
cache key covers the recipe and the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnncourse.callbacks import Callback
from cnncourse.data import ImageData
from cnncourse.models import gap_cnn, simple_cnn
from cnncourse.training import LESSON_DEFAULTS, Learner, lesson_learner


@dataclass
class TrainedModel:
    model: nn.Module
    mean: float
    std: float
    accuracy: float
    source: str


@dataclass(frozen=True)
class Recipe:
    """How to build and train one cached model: ``prefix`` names its cache file,
    ``build()`` makes the untrained model, ``learner(data, callbacks)`` the Learner that
    trains it for ``epochs`` at ``max_lr``; ``settings`` enter the cache key."""

    prefix: str
    build: Callable[[], nn.Module]
    learner: Callable[[object, Sequence[Callback]], Learner]
    epochs: int
    max_lr: float
    settings: dict


LESSON = Recipe(
    "lesson_cnn", lambda: simple_cnn(LESSON_DEFAULTS["channels"]),
    lambda data, callbacks: lesson_learner(data, seed=0, progress=False,
                                           callbacks=list(callbacks)),
    LESSON_DEFAULTS["epochs"], LESSON_DEFAULTS["max_lr"], LESSON_DEFAULTS)

GAP_SETTINGS = {"channels": (8, 16, 32), "train_images": 6000, "valid_images": 1000,
                "batch_size": 64, "epochs": 3, "max_lr": 0.1, "threads": 1}


def _gap_learner(data, callbacks: Sequence[Callback]) -> Learner:
    s = GAP_SETTINGS
    subset = ImageData(data.train_x[:s["train_images"]], data.train_y[:s["train_images"]],
                       data.valid_x[:s["valid_images"]], data.valid_y[:s["valid_images"]],
                       source=str(getattr(data, "source", "")))
    return Learner(gap_cnn(s["channels"], seed=0), subset, batch_size=s["batch_size"], seed=0,
                   progress=False, threads=s["threads"], callbacks=list(callbacks))


GAP = Recipe("gap_cnn", lambda: gap_cnn(GAP_SETTINGS["channels"]), _gap_learner,
             GAP_SETTINGS["epochs"], GAP_SETTINGS["max_lr"], GAP_SETTINGS)


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnncourse")) / "draw_digit"


def _cache_file(cache_dir: Path, data, recipe: Recipe = LESSON) -> Path:
    text = repr((recipe.build(), recipe.settings, str(getattr(data, "source", "")),
                 tuple(data.train_x.shape)))
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cache_dir / f"{recipe.prefix}_{key}.pt"


def load_cached(cache_dir: Path, data, recipe: Recipe = LESSON) -> TrainedModel | None:
    path = _cache_file(cache_dir, data, recipe)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = recipe.build()
        model.load_state_dict(saved["state_dict"])
    except Exception:  # noqa: BLE001 - a damaged cache file is simply retrained
        return None
    model.eval()
    return TrainedModel(model, float(saved["mean"]), float(saved["std"]),
                        float(saved["accuracy"]), str(saved["source"]))


def train_and_cache(cache_dir: Path, data, callbacks=(), recipe: Recipe = LESSON
                    ) -> TrainedModel:
    """Train the recipe's model, save its weights, return it (CPU)."""
    learner = recipe.learner(data, list(callbacks))
    learner.fit_one_cycle(recipe.epochs, recipe.max_lr)
    model = learner.model.cpu().eval()
    accuracy = learner.recorder.valid_accuracy[-1] if learner.recorder.valid_accuracy else 0.0
    trained = TrainedModel(model, learner.train_batches.mean, learner.train_batches.std,
                           float(accuracy), str(getattr(data, "source", "")))
    if learner.status == "finished":
        path = _cache_file(cache_dir, data, recipe)
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
