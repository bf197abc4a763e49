"""The runs of TrainingExplorer: frozen snapshots, published from the training thread."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cnncourse.callbacks import Callback
from cnncourse.hooks import ActivationStats

REFRESH_S = 0.3  # a running run is published at most this often


@dataclass(frozen=True)
class LayerTrace:
    """Activation statistics of one block over a run: per batch, the mean, the standard
    deviation and (``hist``, ``[bins, batches]``) the histogram of |activation|."""

    name: str
    means: tuple[float, ...]
    stds: tuple[float, ...]
    hist: np.ndarray = field(compare=False, repr=False)


@dataclass(frozen=True)
class Run:
    """A snapshot of one training run: what it has recorded so far."""

    label: str
    steps_per_epoch: int
    total_steps: int
    n_epochs: int
    status: str = "running"  # then "finished", "stopped", "diverged", "interrupted", "failed"
    epoch: int = 0  # the epoch under way (0-based)
    losses: tuple[float, ...] = ()
    valid_accuracy: tuple[float, ...] = ()
    lrs: tuple[float, ...] = ()
    stats: tuple[LayerTrace, ...] = ()
    note: str = ""  # why it ended early, if it did

    @property
    def steps(self) -> int:
        return len(self.losses)


class Snapshots(Callback):
    """In the training thread: publishes a ``Run`` snapshot a few times a second."""

    order = 5  # after the Recorder

    def __init__(self, learner, publish, run: Run) -> None:
        self.learner, self.publish, self.run = learner, publish, run
        self._last = 0.0

    def snapshot(self, **changes) -> Run:
        rec, learn = self.learner.recorder, self.learner
        return Run(self.run.label, self.run.steps_per_epoch, self.run.total_steps,
                   self.run.n_epochs, epoch=learn.epoch, losses=tuple(rec.losses),
                   valid_accuracy=tuple(rec.valid_accuracy), lrs=tuple(rec.lrs), **changes)

    def after_batch(self) -> None:
        now = time.perf_counter()
        if now - self._last >= REFRESH_S:
            self._last = now
            self.publish(self.snapshot())

    def after_epoch(self) -> None:
        self.publish(self.snapshot())


def traces(stats: ActivationStats) -> tuple[LayerTrace, ...]:
    return tuple(LayerTrace(layer.name, tuple(layer.means), tuple(layer.stds),
                            layer.hist_matrix().numpy()) for layer in stats)
