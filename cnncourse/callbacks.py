"""Callbacks: the seams of the training loop.

The ``Learner`` calls, at fixed moments, the method of that name on every callback:

    before_fit -> (before_epoch -> (before_batch -> after_batch)* -> after_epoch)* -> after_fit

A callback reads what it needs from ``self.learner`` (``epoch``, ``step``, ``xb``, ``yb``,
``preds``, ``loss_value``, ``lr``, ``momentum``, ``valid_metrics``) and may call
``self.learner.stop()``. ``before_batch`` may replace ``learner.xb`` (see ``RandomShift``);
``after_batch`` runs after the optimizer step and before the scheduler's, so ``learner.lr`` is
the rate that batch used; ``after_epoch`` runs after validation. Recording, progress bars,
augmentation and activation statistics are callbacks, so the loop itself stays short.
Callbacks run in increasing ``order``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from .data import random_shift

if TYPE_CHECKING:
    from .training import Learner

EVENTS = ("before_fit", "before_epoch", "before_batch", "after_batch", "after_epoch",
          "after_fit")


class Callback:
    """Base class: override any of the ``EVENTS`` methods; ``self.learner`` is set for you."""

    order = 0
    learner: Learner

    def before_fit(self) -> None: ...
    def before_epoch(self) -> None: ...
    def before_batch(self) -> None: ...
    def after_batch(self) -> None: ...
    def after_epoch(self) -> None: ...
    def after_fit(self) -> None: ...


class Recorder(Callback):
    """What happened during the last fit.

    Per step (one batch): ``lrs``, ``moms`` (momentum, or Adam's beta1; ``None`` without one)
    and ``losses``. Per epoch: ``train_loss``, ``train_accuracy``, ``valid_loss``,
    ``valid_accuracy`` and ``epoch_times`` (seconds). ``steps_per_epoch`` places epochs on the
    step axis. Reset at the start of every fit.
    """

    order = -10

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lrs: list[float] = []
        self.moms: list[float | None] = []
        self.losses: list[float] = []
        self.train_loss: list[float] = []
        self.train_accuracy: list[float] = []
        self.valid_loss: list[float] = []
        self.valid_accuracy: list[float] = []
        self.epoch_times: list[float] = []
        self.steps_per_epoch = 0

    def before_fit(self) -> None:
        self.reset()
        self.steps_per_epoch = len(self.learner.train_batches)

    def before_epoch(self) -> None:
        self._start = time.perf_counter()
        self._loss_sum, self._seen = 0.0, 0
        self._correct = torch.zeros((), dtype=torch.int64, device=self.learner.device)

    def after_batch(self) -> None:
        learn = self.learner
        self.lrs.append(learn.lr)
        self.moms.append(learn.momentum)
        self.losses.append(learn.loss_value)
        n = len(learn.yb)
        self._loss_sum += learn.loss_value * n
        self._seen += n
        self._correct += (learn.preds.detach().argmax(dim=1) == learn.yb).sum()

    def after_epoch(self) -> None:
        self.train_loss.append(self._loss_sum / max(self._seen, 1))
        self.train_accuracy.append(self._correct.item() / max(self._seen, 1))
        self.valid_loss.append(self.learner.valid_metrics["loss"])
        self.valid_accuracy.append(self.learner.valid_metrics["accuracy"])
        self.epoch_times.append(time.perf_counter() - self._start)

    @property
    def history(self) -> list[dict[str, float]]:
        """One dict per finished epoch, handy for printing or ``pandas.DataFrame``."""
        return [
            {"epoch": i + 1, "train_loss": tl, "train_accuracy": ta, "valid_loss": vl,
             "valid_accuracy": va, "seconds": s}
            for i, (tl, ta, vl, va, s) in enumerate(zip(
                self.train_loss, self.train_accuracy, self.valid_loss, self.valid_accuracy,
                self.epoch_times, strict=True))
        ]

    def __repr__(self) -> str:
        last = (f", last valid accuracy {self.valid_accuracy[-1]:.4f}"
                if self.valid_accuracy else "")
        return f"Recorder({len(self.losses)} steps, {len(self.valid_loss)} epochs{last})"


class ProgressBar(Callback):
    """A ``tqdm.auto`` bar over all steps (a widget in Jupyter, text in a terminal) and one
    summary line per epoch."""

    order = 10

    def before_fit(self) -> None:
        from tqdm.auto import tqdm

        learn = self.learner
        self.bar = tqdm(total=learn.n_epochs * len(learn.train_batches), unit="batch",
                        leave=True, dynamic_ncols=True)

    def before_epoch(self) -> None:
        self.bar.set_description(f"epoch {self.learner.epoch + 1}/{self.learner.n_epochs}")

    def after_batch(self) -> None:
        self.bar.update(1)
        if self.learner.step % 10 == 0:
            self.bar.set_postfix(loss=f"{self.learner.loss_value:.3f}", refresh=False)

    def after_epoch(self) -> None:
        rec = self.learner.recorder
        self.bar.write(
            f"epoch {self.learner.epoch + 1}: train loss {rec.train_loss[-1]:.4f} "
            f"accuracy {rec.train_accuracy[-1]:.4f} | valid loss {rec.valid_loss[-1]:.4f} "
            f"accuracy {rec.valid_accuracy[-1]:.4f} | {rec.epoch_times[-1]:.1f} s"
        )

    def after_fit(self) -> None:
        if getattr(self, "bar", None) is not None:
            self.bar.close()
            self.bar = None


class StopAfter(Callback):
    """Ask the learner to stop after ``steps`` batches (a small example of a stop request)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def after_batch(self) -> None:
        if self.learner.step + 1 >= self.steps:
            self.learner.stop()


class RandomShift(Callback):
    """Data augmentation: shift each training image by up to ``max_shift`` pixels (a new
    random offset per image and batch; validation images are left alone)."""

    def __init__(self, max_shift: int = 1) -> None:
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
        self.max_shift = max_shift

    def before_batch(self) -> None:
        learn = self.learner
        if learn.model.training:
            batches = learn.train_batches
            black = (0.0 - batches.mean) / batches.std  # a black pixel, normalised
            learn.xb = random_shift(learn.xb, self.max_shift, black, learn.generator)
