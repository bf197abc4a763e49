"""The Learner: a short training loop for image classifiers, with callbacks as its seams.

    learn = Learner(simple_cnn(seed=0), load_mnist(), seed=0)
    learn.fit_one_cycle(5, max_lr=0.06)    # torch's OneCycleLR, SGD with momentum
    learn.validate()                       # {"loss": ..., "accuracy": ...}
    learn.recorder.lrs, learn.recorder.valid_accuracy

Faults, and what happens:

- a loss that is NaN or infinite, or more than ``divergence_factor`` (default 100) times the
  first batch's loss (the learning rate is too high) stops training at once with
  ``TrainingDiverged``, whose message names the step and learning rate and suggests a lower
  one; ``learn.recorder`` keeps the history up to that step and ``learn.status`` is
  ``"diverged"``.
- ``learn.stop()`` (from a callback, a button, another thread) or Ctrl-C / the notebook's
  interrupt button ends training after the current batch; model and history are kept and
  ``learn.status`` is ``"stopped"`` or ``"interrupted"``.
- wrong data shapes, labels out of range, an empty dataset, a model whose output does not fit:
  ``ValueError`` when the Learner is built, saying what was expected.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, OneCycleLR

from ._checks import first_line
from .callbacks import (
    Callback,
    DivergenceCheck,
    LRFinder,
    ProgressBar,
    RandomShift,
    Recorder,
    Scheduler,
    TorchSettings,
    TrainingDiverged,
)
from .data import Batches, check_images_labels
from .hooks import evaluating

# The settings the lessons and explorers train with, chosen on
# the 8,000 / 2,000 MNIST split: about 99.1 % validation accuracy (seeds 0-3: 0.9905-0.992)
# in a few seconds on a laptop CPU. Without the one-pixel shifts it is about 98.8 %.
LESSON_DEFAULTS = {
    "channels": (8, 16, 32, 64),  # simple_cnn's default, as in the fastai chapter
    "batch_size": 64,
    "epochs": 5,
    "max_lr": 0.06,
    "max_shift": 1,  # data augmentation: RandomShift(1)
    "threads": 1,  # CPU threads while training: see Learner's ``threads``
}


def default_device() -> torch.device:
    """CUDA if available, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def sgd_momentum(params, lr: float) -> torch.optim.Optimizer:
    """The default optimizer: SGD with momentum 0.9 (``fit_one_cycle`` cycles the momentum)."""
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


@dataclass
class LRFinderResult:
    """Learning rates tried by ``lr_find``, their (smoothed) losses and a suggestion."""

    lrs: list[float]
    losses: list[float]
    suggestion: float


def _positive_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number such as 0.01, got {value!r}")
    return float(value)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Learner:
    """Train ``model`` on ``data`` (anything with uint8 ``train_x, valid_x`` and int64
    ``train_y, valid_y``, such as ``load_mnist()``).

    - ``loss_func(preds, labels)``: the mean loss over a batch.
    - ``opt_func(params, lr)``: builds the optimizer; default SGD with momentum 0.9, or e.g.
      ``functools.partial(torch.optim.AdamW, weight_decay=0.01)``.
    - ``device``: default CUDA, else MPS, else CPU.
    - ``seed``: repeatable batch order (and any other random op during ``fit``); build the
      model with ``simple_cnn(seed=...)`` for repeatable weights too.
    - ``progress=False`` hides the progress bar.
    - ``divergence_factor``: training stops with ``TrainingDiverged`` when the loss is not
      finite or exceeds this many times the first batch's loss (``None``: only when not finite).
    - ``threads``: CPU threads torch may use while training on the CPU (``None``: torch's
      default, one per core). A model as small as the lesson CNN gains little from several,
      and on a machine whose cores are busy with other work 1 thread avoids a many-fold
      slow-down (threads waiting for each other).
    """

    def __init__(self, model: nn.Module, data, batch_size: int = 128,
                 loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
                 device: torch.device | str | None = None, callbacks: Iterable[Callback] = (),
                 seed: int | None = None, progress: bool = True,
                 opt_func: Callable[..., torch.optim.Optimizer] = sgd_momentum,
                 valid_batch_size: int | None = None,
                 divergence_factor: float | None = 100.0,
                 threads: int | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
        for name in ("train_x", "train_y", "valid_x", "valid_y"):
            if not hasattr(data, name):
                raise ValueError(f"data must have train_x, train_y, valid_x and valid_y (as "
                                 f"load_mnist() returns), but it has no {name}")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.n_classes = int(getattr(data, "n_classes", 10))
        check_images_labels(data.train_x, data.train_y, "data.train_x", "data.train_y",
                            self.n_classes)
        check_images_labels(data.valid_x, data.valid_y, "data.valid_x", "data.valid_y",
                            self.n_classes)
        self.device = torch.device(device) if device is not None else default_device()
        self.model, self.data, self.loss_func, self.opt_func = model, data, loss_func, opt_func
        self.model.to(self.device)
        self.seed, self.divergence_factor = seed, divergence_factor
        self.threads = None if threads is None else _positive_int(threads, "threads")
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        mean, std = self._pixel_stats(data)
        self.train_batches = Batches(data.train_x, data.train_y, self.batch_size, mean, std,
                                     shuffle=True, device=self.device, generator=self.generator)
        self.valid_batches = Batches(data.valid_x, data.valid_y,
                                     valid_batch_size or 4 * self.batch_size, mean, std,
                                     device=self.device)
        self._check_model()
        self.recorder = Recorder()
        self.callbacks: list[Callback] = [self.recorder]
        if progress:
            self.callbacks.append(ProgressBar())
        self.callbacks.extend(callbacks)
        self.opt: torch.optim.Optimizer | None = None
        self.status = "new"
        self.epoch = self.step = self.n_epochs = 0
        self.valid_metrics: dict[str, float] = {}
        self._stop_requested = False

    @staticmethod
    def _pixel_stats(data) -> tuple[float, float]:
        if hasattr(data, "mean") and hasattr(data, "std"):
            return float(data.mean), float(data.std)
        pixels = data.train_x.float() / 255
        return pixels.mean().item(), pixels.std().item() or 1.0

    def _check_model(self) -> None:
        """One forward pass on two validation images, to fail early with a clear message."""
        xb, _ = next(iter(self.valid_batches))
        try:
            with evaluating(self.model), torch.no_grad():
                out = self.model(xb[:2])
        except RuntimeError as err:
            raise ValueError(
                f"the model cannot take images of shape {tuple(xb.shape[1:])} (C, H, W): "
                f"{first_line(err)}") from None
        if out.dim() != 2 or out.shape[1] != self.n_classes:
            raise ValueError(
                f"the model must output one score per class, shape [N, {self.n_classes}], "
                f"but it outputs {tuple(out.shape)}")

    # -- state read by callbacks ----------------------------------------------------------------

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"] if self.opt is not None else float("nan")

    @property
    def momentum(self) -> float | None:
        """SGD's momentum or Adam's beta1 in use now (``None`` if the optimizer has neither)."""
        group = self.opt.param_groups[0] if self.opt is not None else {}
        if "betas" in group:
            return group["betas"][0]
        return group.get("momentum")

    def stop(self) -> None:
        """Ask training to end after the current batch."""
        self._stop_requested = True

    def add_callback(self, callback: Callback) -> Callback:
        self.callbacks.append(callback)
        return callback

    # -- training -------------------------------------------------------------------------------

    def fit(self, epochs: int, lr: float) -> None:
        """Train for ``epochs`` passes over the training images at the constant rate ``lr``."""
        epochs, lr = _positive_int(epochs, "epochs"), _positive_number(lr, "lr")
        opt = self.opt_func(self.model.parameters(), lr=lr)
        self._fit(epochs, opt, [*self.callbacks, *self._standard(f"lr={lr / 10:.3g}")])

    def fit_one_cycle(self, epochs: int, max_lr: float, **kwargs) -> None:
        """Train with the 1-cycle policy: torch's ``OneCycleLR`` warms the learning rate up to
        ``max_lr`` and anneals it while the momentum does the opposite (if the optimizer has
        one). ``kwargs`` go to ``OneCycleLR`` (``pct_start``, ``div_factor``, ...)."""
        epochs, max_lr = _positive_int(epochs, "epochs"), _positive_number(max_lr, "max_lr")
        for taken in ("total_steps", "epochs", "steps_per_epoch", "max_lr", "optimizer"):
            if taken in kwargs:
                raise ValueError(f"{taken} is set by fit_one_cycle itself; leave it out")
        opt = self.opt_func(self.model.parameters(), lr=max_lr)
        group = opt.param_groups[0]
        kwargs.setdefault("cycle_momentum", "momentum" in group or "betas" in group)
        try:
            sched = OneCycleLR(opt, max_lr, total_steps=epochs * len(self.train_batches),
                               **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"fit_one_cycle: {err}") from None
        self._fit(epochs, opt, [*self.callbacks, *self._standard(f"max_lr={max_lr / 10:.3g}"),
                                Scheduler(sched)])

    def _standard(self, hint: str) -> list[Callback]:
        """The callbacks of every fit: torch's settings and the divergence check."""
        return [TorchSettings(self.seed, self.threads),
                DivergenceCheck(self.divergence_factor, hint)]

    def _fit(self, epochs: int, opt: torch.optim.Optimizer, callbacks: Sequence[Callback],
             ) -> None:
        self.opt, self.n_epochs = opt, epochs
        self.step, self.status, self._stop_requested = 0, "running", False
        self._active = sorted(callbacks, key=lambda c: c.order)
        for cb in self._active:
            cb.learner = self
        try:
            self._call("before_fit")
            for self.epoch in range(epochs):
                self._one_epoch()
                if self._stop_requested:
                    break
            self.status = "stopped" if self._stop_requested else "finished"
        except KeyboardInterrupt:
            self.status = "interrupted"
            warnings.warn(f"training interrupted at step {self.step}; the model and the "
                          "history so far are kept", stacklevel=3)
        except TrainingDiverged:
            self.status = "diverged"
            raise
        finally:
            self.model.eval()
            self._call("after_fit")

    def _one_epoch(self) -> None:
        self.model.train()
        self._call("before_epoch")
        for xb, yb in self.train_batches:
            self.xb, self.yb = xb, yb
            self._one_batch()
            if self._stop_requested:
                return
        self.valid_metrics = self.validate()
        self._call("after_epoch")

    def _one_batch(self) -> None:
        self._call("before_batch")
        self.preds = self.model(self.xb)
        self.loss = self.loss_func(self.preds, self.yb)
        self.loss_value = self.loss.item()
        self._call("after_loss")
        self.loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self._call("after_batch")
        self.step += 1

    def _call(self, event: str) -> None:
        for cb in self._active:
            getattr(cb, event)()

    # -- evaluation -----------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss and accuracy on the validation images, in eval mode (batch norm uses its
        running statistics); the model is put back in the mode it was in."""
        loss_sum, correct, n = 0.0, 0, 0
        with evaluating(self.model):
            for xb, yb in self.valid_batches:
                preds = self.model(xb)
                loss_sum += self.loss_func(preds, yb).item() * len(yb)
                correct += (preds.argmax(dim=1) == yb).sum().item()
                n += len(yb)
        return {"loss": loss_sum / n, "accuracy": correct / n}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[N, n_classes]`` for uint8 images ``[N, H, W]`` (or one
        ``[H, W]`` image, giving ``[1, n_classes]``), normalised like the training images."""
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            raise ValueError("images must be a uint8 tensor [N, H, W] or [H, W] (pixels 0-255)")
        if images.dim() == 2:
            images = images.unsqueeze(0)
        batches = Batches(images, torch.zeros(len(images), dtype=torch.int64),
                          self.valid_batches.batch_size, self.train_batches.mean,
                          self.train_batches.std, device=self.device)
        with evaluating(self.model):
            return torch.cat([self.model(xb).softmax(dim=1).cpu() for xb, _ in batches])

    # -- learning-rate finder -------------------------------------------------------------------

    def lr_find(self, start_lr: float = 1e-6, end_lr: float = 10.0, num_it: int = 100,
                ) -> LRFinderResult:
        """Raise the learning rate exponentially from ``start_lr`` to ``end_lr`` over ``num_it``
        batches, stop when the loss shoots up, then put the weights back as they were.

        The suggestion is the rule of thumb "a tenth of the rate with the lowest smoothed loss".
        """
        start_lr = _positive_number(start_lr, "start_lr")
        end_lr = _positive_number(end_lr, "end_lr")
        num_it = _positive_int(num_it, "num_it")
        if end_lr <= start_lr:
            raise ValueError(f"end_lr ({end_lr}) must be larger than start_lr ({start_lr})")
        saved_model = copy.deepcopy(self.model.state_dict())
        saved_rng, saved_status = self.generator.get_state(), self.status
        finder = LRFinder(num_it)
        opt = self.opt_func(self.model.parameters(), lr=start_lr)
        gamma = (end_lr / start_lr) ** (1 / max(num_it - 1, 1))
        callbacks = [finder, Scheduler(ExponentialLR(opt, gamma)),
                     *self._standard("a smaller end_lr")]
        try:
            self._fit(math.ceil(num_it / len(self.train_batches)), opt, callbacks)
        except TrainingDiverged:
            pass  # the expected end of the search
        finally:
            self.model.load_state_dict(saved_model)
            self.generator.set_state(saved_rng)
            self.status = saved_status
        lrs, losses = finder.lrs, finder.smoothed
        if not losses:
            return LRFinderResult([], [], start_lr)
        best = min(range(len(losses)), key=losses.__getitem__)
        return LRFinderResult(lrs, losses, lrs[best] / 10)


def lesson_learner(data, batchnorm: bool = True, seed: int | None = 0,
                   channels: tuple[int, ...] | None = None, **kwargs) -> Learner:
    """The lessons' set-up: ``simple_cnn`` with ``LESSON_DEFAULTS["channels"]`` (and batch
    norm or not) in a ``Learner`` with ``LESSON_DEFAULTS["batch_size"]``, ``["threads"]`` and
    ``RandomShift(LESSON_DEFAULTS["max_shift"])``. Train it with
    ``learn.fit_one_cycle(LESSON_DEFAULTS["epochs"], LESSON_DEFAULTS["max_lr"])``.
    ``kwargs`` go to the ``Learner`` (``progress``, ``callbacks``, ``device``, ...)."""
    from .models import simple_cnn

    channels = LESSON_DEFAULTS["channels"] if channels is None else channels
    model = simple_cnn(channels, batchnorm=batchnorm, seed=seed)
    kwargs.setdefault("batch_size", LESSON_DEFAULTS["batch_size"])
    kwargs.setdefault("threads", LESSON_DEFAULTS["threads"])
    callbacks = [RandomShift(LESSON_DEFAULTS["max_shift"]), *kwargs.pop("callbacks", ())]
    return Learner(model, data, seed=seed, callbacks=callbacks, **kwargs)


__all__ = ["LESSON_DEFAULTS", "LRFinderResult", "Learner", "TrainingDiverged", "default_device",
           "lesson_learner", "sgd_momentum"]
