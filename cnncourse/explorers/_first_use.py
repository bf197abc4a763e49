"""First-use training for explorers that need a trained CNN: load the cached weights, or
train in a background thread and show the progress from the main thread.

An explorer mixes ``FirstUseTraining`` in before ``Explorer``, calls ``_first_use(...)`` in
its ``__init__`` (before ``_assemble``), and shows ``progress`` and ``status`` in its view.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as widgets

from ._lesson_cnn import (
    LESSON,
    Progress,
    Recipe,
    TrainedModel,
    default_cache_dir,
    load_cached,
    train_and_cache,
)
from ._sources import lesson_data
from ._worker import Worker


class FirstUseTraining:
    """Mixin: ``trained`` is None until the recipe's model is loaded or trained."""

    recipe: Recipe = LESSON
    model_name = "lesson CNN"

    def _first_use(self, data, cache_dir: str | Path | None, thread_name: str) -> None:
        self._data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.trained: TrainedModel | None = None
        self._progress: tuple[int, int] | None = None  # of the first-use training
        self._failure = ""  # why the first-use training failed, if it did
        self._worker = Worker(self._receive, thread_name)
        self.progress = widgets.IntProgress(0, 0, 1, description="training",
                                            layout=widgets.Layout(visibility="hidden"))
        self.status = widgets.HTML()

    @property
    def data(self):
        if self._data is None:
            self._data = lesson_data()
        return self._data

    def _wants_model(self, scene) -> bool:
        """Whether ``scene`` needs the model (default: always)."""
        return True

    def update(self) -> None:
        """Recompute and redraw; then, if the model is wanted and there is none yet, load the
        cached one or start training it."""
        super().update()
        if (self.trained is not None or self._worker.running or self._failure
                or not self._wants_model(self.scene)):
            return
        cached = load_cached(self.cache_dir, self.data, self.recipe)
        if cached is not None:
            self.trained = cached
        else:
            self._progress = (0, 1)
            self._worker.start(self._train)
        super().update()

    @property
    def training(self) -> bool:
        """Whether the first-use training is under way."""
        return self._progress is not None

    def _train(self) -> None:
        """In the training thread: train, then publish the model (or what went wrong)."""
        try:
            self._worker.publish(train_and_cache(self.cache_dir, self.data,
                                                 [Progress(self._worker.publish)], self.recipe))
        except Exception as err:  # noqa: BLE001 - reported in the view
            self._worker.publish(f"training the {self.model_name} failed "
                                 f"({type(err).__name__}: {err})")

    def _receive(self, item) -> None:
        """On the main thread: progress, the trained model, or why training failed."""
        if isinstance(item, tuple):
            self._progress = item
        elif isinstance(item, TrainedModel):
            self.trained, self._progress = item, None
        else:
            self._progress, self._failure = None, item
        super().update()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the first-use training to end; True if the model is ready."""
        self._worker.wait(timeout)
        return self.trained is not None

    def _draw_training(self, training: tuple[int, int] | None) -> None:
        if training is None:
            self.progress.layout.visibility = "hidden"
            self.status.value = ""
            return
        self.progress.max, self.progress.value = training[1], training[0]
        self.progress.layout.visibility = "visible"
        self.status.value = (
            f"training the {self.model_name} on first use (once per user; the weights are "
            f"cached in {html.escape(str(self.cache_dir))}) &hellip;")
