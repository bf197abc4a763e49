"""Callbacks: the seams of the training loop.

The ``Learner`` calls, at fixed moments, the method of that name on every callback:

    before_fit -> (before_epoch -> (before_batch -> after_loss -> after_batch)*
                   -> after_epoch)* -> after_fit

A callback reads what it needs from ``self.learner`` (``epoch``, ``step``, ``xb``, ``yb``,
``preds``, ``loss_value``, ``lr``, ``momentum``, ``valid_metrics``) and may call
``self.learner.stop()``. ``before_batch`` may replace ``learner.xb`` (see ``RandomShift`` and
``RandomAffine``); ``after_loss`` runs before the backward pass (``DivergenceCheck`` raises there);
``after_batch`` runs after the optimizer step, so ``learner.lr`` is still the rate that batch
used until ``Scheduler``, the last callback, steps the schedule; ``after_epoch`` runs after
validation. ``after_fit`` always runs, even when training stopped with an exception.
Callbacks run in increasing ``order``.

Everything beyond forward, loss, backward and step is a callback: recording, the progress bar,
augmentation, activation statistics, the learning-rate schedule, the divergence check, torch's
settings while training and the learning-rate finder. So the loop itself stays short.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

import torch

from .augment import check_affine_ranges, random_affine
from .data import Batches, random_shift

EVENTS = ("before_fit", "before_epoch", "before_batch", "after_loss", "after_batch",
          "after_epoch", "after_fit")


class LearnerState(Protocol):
    """What callbacks may read and call on the learner (``cnncourse.training.Learner``)."""

    model: torch.nn.Module
    device: torch.device
    generator: torch.Generator
    train_batches: Batches
    epoch: int
    step: int
    n_epochs: int
    xb: torch.Tensor
    yb: torch.Tensor
    preds: torch.Tensor
    loss_value: float
    valid_metrics: dict[str, float]
    recorder: Recorder

    @property
    def lr(self) -> float: ...
    @property
    def momentum(self) -> float | None: ...
    def stop(self) -> None: ...


class TrainingDiverged(FloatingPointError):
    """The loss became NaN, infinite or far too large; ``step``, ``lr`` and ``loss`` say where."""

    def __init__(self, message: str, step: int, lr: float, loss: float) -> None:
        super().__init__(message)
        self.step, self.lr, self.loss = step, lr, loss


class Callback:
    """Base class: override any of the ``EVENTS`` methods; ``self.learner`` is set for you."""

    order = 0
    learner: LearnerState

    def before_fit(self) -> None: ...
    def before_epoch(self) -> None: ...
    def before_batch(self) -> None: ...
    def after_loss(self) -> None: ...
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
    random offset per image and batch; validation images are left alone). ``lesson_learner``
    adds ``RandomShift(1)``; lesson 19 shows what it does and why."""

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


class RandomAffine(Callback):
    """Data augmentation: rotate each training image by up to ``degrees`` either way, shift it
    by up to ``translate`` times its width and height, and scale it by a factor from
    ``scale[0]`` to ``scale[1]``; every image of every batch gets its own random amounts,
    drawn from the learner's generator (see ``cnncourse.augment``). The uncovered border is
    black, as in the digits; validation images are left alone."""

    def __init__(self, degrees: float = 0.0, translate: float = 0.0,
                 scale: tuple[float, float] = (1.0, 1.0)) -> None:
        self.degrees, self.translate, self.scale = check_affine_ranges(degrees, translate, scale)

    def before_batch(self) -> None:
        learn = self.learner
        if learn.model.training:
            batches = learn.train_batches
            black = (0.0 - batches.mean) / batches.std  # a black pixel, normalised
            learn.xb = random_affine(learn.xb, self.degrees, self.translate, self.scale, black,
                                     learn.generator)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees:g}, translate={self.translate:g}, "
                f"scale={self.scale})")


# -- the features of every fit, added by the Learner ----------------------------------------------


class Scheduler(Callback):
    """Step a torch learning-rate scheduler (``OneCycleLR``, ``ExponentialLR``, ...) after
    every batch, once every other callback has seen the rate that batch used."""

    order = 100

    def __init__(self, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.scheduler = scheduler

    def after_batch(self) -> None:
        self.scheduler.step()


class DivergenceCheck(Callback):
    """Stop training with ``TrainingDiverged`` when the loss is not finite, or when it is more
    than ``factor`` times the first batch's loss (``factor=None``: only when not finite).
    ``hint`` is the setting the message suggests instead, e.g. ``"max_lr=0.006"``."""

    def __init__(self, factor: float | None = 100.0, hint: str = "a lower learning rate") -> None:
        self.factor, self.hint = factor, hint

    def before_fit(self) -> None:
        self.first_loss: float | None = None

    def after_loss(self) -> None:
        loss = self.learner.loss_value
        if self.first_loss is None:
            self.first_loss = loss
        if not math.isfinite(loss):
            raise self._diverged(str(loss))
        if self.factor is not None and loss > self.factor * max(self.first_loss, 1e-3):
            raise self._diverged(f"{loss:.3g}, over {self.factor:g} times the first batch's "
                                 f"{self.first_loss:.3g},")

    def _diverged(self, what: str) -> TrainingDiverged:
        learn = self.learner
        return TrainingDiverged(
            f"the loss became {what} at step {learn.step} (epoch {learn.epoch + 1}) "
            f"with learning rate {learn.lr:.3g}: training diverged, the learning rate is too "
            f"high. Try a lower one, e.g. {self.hint}, and rebuild the model first (its "
            f"weights are probably ruined). learner.recorder keeps the history so far.",
            step=learn.step, lr=learn.lr, loss=learn.loss_value)


class TorchSettings(Callback):
    """Torch's settings while training, put back afterwards.

    - ``seed``: seeds torch's global generator at the start of every fit (dropout and any
      other random op then repeat);
    - on the CPU, the model uses the channels-last memory layout, which makes convolutions
      faster, and torch uses ``threads`` threads (``None``: leave the count alone). The thread
      count is process-wide state, so it is only changed when training runs on the main
      thread; a fit in a background thread leaves it as it is.
    """

    order = -20

    def __init__(self, seed: int | None = None, threads: int | None = None) -> None:
        self.seed, self.threads = seed, threads
        self.threads_before: int | None = None

    def before_fit(self) -> None:
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self.threads_before = None
        if self.learner.device.type != "cpu":
            return
        self.learner.model.to(memory_format=torch.channels_last)
        if self.threads is not None and threading.current_thread() is threading.main_thread():
            self.threads_before = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def after_fit(self) -> None:
        self.learner.model.to(memory_format=torch.contiguous_format)  # the usual layout
        if self.threads_before is not None:
            torch.set_num_threads(self.threads_before)


class LRFinder(Callback):
    """Records (learning rate, smoothed loss) per batch; stops after ``num_it`` batches or when
    the loss grows past four times the best one. ``Learner.lr_find`` uses it."""

    def __init__(self, num_it: int, beta: float = 0.9) -> None:
        self.num_it, self.beta = num_it, beta
        self.lrs: list[float] = []
        self.smoothed: list[float] = []
        self._avg = 0.0

    def after_batch(self) -> None:
        learn = self.learner
        self._avg = self.beta * self._avg + (1 - self.beta) * learn.loss_value
        smooth = self._avg / (1 - self.beta ** (len(self.lrs) + 1))  # bias-corrected average
        self.lrs.append(learn.lr)
        self.smoothed.append(smooth)
        if len(self.lrs) >= self.num_it or smooth > 4 * min(self.smoothed):
            learn.stop()
