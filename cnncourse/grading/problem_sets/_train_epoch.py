"""Problem set 5's ``train_epoch``: one epoch of the student's own loop against a reference loop.

``TrainEpoch`` is an exercise of its own kind: for each case (an ``Epoch``: a small network,
its batches, its optimizer and its loss, all made from a seed) the student's loop and the
reference loop each train a fresh copy, and must end with the same weights (batch-norm
statistics included) and return the same mean loss. ``ps5`` declares it in its
``PROBLEM_SET``; this module, whose name starts with ``_``, is no problem set of its own.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.compare import Case, CheckFailed, Problem, compare_floats, compare_tensors
from ..core.exercise import Passed, randn, seeded, verify_answers
from ..core.records import decode, encode
from ..core.runner import guarded_call


@dataclass(frozen=True)
class Epoch:
    """One epoch to grade: the network, its batches, its optimizer and its loss, all made
    from ``seed``. ``task`` is ``"kernel"`` (learn ``top_edge``, mean squared error),
    ``"cnn"`` (a small CNN with batch norm, cross-entropy) or ``"linear"`` (cross-entropy);
    ``eval_mode``: the network is handed over in evaluation mode."""

    seed: int
    task: str
    optimizer: str
    lr: float
    n_batches: int
    batch_size: int
    eval_mode: bool = False

    def describe(self) -> str:
        network = {"kernel": "one 3x3 kernel learning top_edge (mean squared error)",
                   "cnn": "a small CNN with batch norm (cross-entropy)",
                   "linear": "a linear classifier (cross-entropy)"}[self.task]
        optimizer = {"sgd": "SGD", "momentum": "SGD with momentum and weight decay",
                     "adam": "Adam"}[self.optimizer]
        return (f"{network}, {self.n_batches} batches of {self.batch_size}, {optimizer} "
                f"with lr={self.lr}"
                + (", handed over in evaluation mode" if self.eval_mode else ""))

    def build(self) -> tuple[nn.Module, list, torch.optim.Optimizer, Callable]:
        """A fresh network, batches, optimizer and loss function: the same on every call."""
        g = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model, loss_func, targets = self._network(g)
        batches = []
        for _ in range(self.n_batches):
            x = randn(g, self.batch_size, 1, 8, 8)
            batches.append((x, targets(x)))
        if self.optimizer == "adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        else:
            momentum, decay = (0.9, 1e-3) if self.optimizer == "momentum" else (0.0, 0.0)
            optimizer = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=momentum,
                                        weight_decay=decay)
        if self.eval_mode:
            model.eval()
        return model, batches, optimizer, loss_func

    def _network(self, g: torch.Generator) -> tuple[nn.Module, Callable, Callable]:
        if self.task == "kernel":
            edge = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
            return (nn.Conv2d(1, 1, 3, bias=False), F.mse_loss,
                    lambda x: F.conv2d(x, edge[None, None]))

        def labels(x: torch.Tensor) -> torch.Tensor:
            return torch.randint(0, 3, (len(x),), generator=g)

        if self.task == "cnn":
            return (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3)),
                    F.cross_entropy, labels)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), F.cross_entropy, labels


def _batch_losses(model: nn.Module, batches: list, optimizer: torch.optim.Optimizer,
                  loss_func: Callable, zero_grad: bool = True, train: bool = True) -> list[float]:
    """One epoch of the reference loop; the loss of each batch. ``zero_grad=False`` and
    ``train=False`` make the usual mistakes, for the hints."""
    if train:
        model.train()
    losses = []
    with torch.enable_grad():
        for xb, yb in batches:
            loss = loss_func(model(xb), yb)
            loss.backward()
            optimizer.step()
            if zero_grad:
                optimizer.zero_grad()
            losses.append(loss.item())
    return losses


def _reference_loop(*args: Any, **mistake: bool) -> float:
    """One epoch of the reference loop; the mean of the batch losses."""
    losses = _batch_losses(*args, **mistake)
    return sum(losses) / len(losses)


def _outcome(epoch: Epoch, loop: Callable, **mistake: bool) -> tuple[Any, dict]:
    """What ``loop`` returns on a fresh build of ``epoch``, and the weights it leaves."""
    model, batches, optimizer, loss_func = epoch.build()
    result = loop(model, batches, optimizer, loss_func, **mistake)
    return result, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _epoch_problem(got: Any, state: dict, loss: float, want: dict) -> Problem | None:
    """What differs between the student's epoch (its answer, the weights it left) and ours."""
    for name, expected in want.items():
        problem = compare_tensors(name, state.get(name), expected, atol=1e-5, rtol=1e-4)
        if problem is not None:
            return Problem(f"after the epoch, the network's {name} differs: {problem.detail}",
                           "the weights after the epoch differ from the reference loop's")
    problem = compare_floats("train_epoch", got, loss, rel=1e-5)
    if problem is not None:
        return Problem(f"the mean loss: {problem.detail}", f"the mean loss: {problem.summary}")
    return None


TRAIN_FORBIDDEN = ("cnncourse.training.Learner",)


@dataclass(frozen=True)
class TrainEpoch:
    """``train_epoch(model, batches, optimizer, loss_func)``: one epoch of the student's own
    loop, run on a copy of the network that the reference loop trains; the two must end with
    the same weights (and batch-norm statistics) and return the same mean loss."""

    name: str = "train_epoch"
    params: tuple[str, ...] = ("model", "batches", "optimizer", "loss_func")
    forbidden: tuple[str, ...] = TRAIN_FORBIDDEN
    instead: str = "write the loop yourself"
    seconds: float = 10.0
    description: str = ("Compare ``train_epoch(model, batches, optimizer, loss_func)`` with a "
                        "reference loop: the same weights after the epoch, the same mean "
                        "loss.")

    @property
    def student(self) -> str:
        return self.name

    def cases(self, seed: int | None) -> list[Epoch]:
        """The visible epochs for ``seed=None``, else the hidden epochs of that seed."""
        if seed is None:
            return [Epoch(0, "kernel", "sgd", 0.1, 4, 8),
                    Epoch(1, "cnn", "momentum", 0.05, 3, 8, eval_mode=True),
                    Epoch(2, "linear", "adam", 0.01, 4, 16), Epoch(3, "cnn", "sgd", 0.1, 2, 4)]
        rng, _ = seeded(seed)
        return [Epoch(rng.randrange(2**31), ("kernel", "cnn", "linear")[i % 3],
                      rng.choice(["sgd", "momentum"] + ["adam"] * (i % 3 == 2)),
                      rng.choice([0.01, 0.05, 0.1]), rng.randint(2, 5),
                      rng.choice([4, 8, 16]), eval_mode=i % 3 == 1 and rng.random() < 0.5)
                for i in range(8)]

    def answers(self, student: Any, seed: int | None, hidden: bool) -> Passed:
        __tracebackhide__ = True
        if hidden and seed is None:
            raise ValueError("seed: hidden tests need a seed (an int) that picks their cases")
        if not callable(student):
            raise CheckFailed(f"train_epoch must be a function, got {type(student).__name__}; "
                              "run the cell that defines train_epoch first")
        epochs = self.cases(seed if hidden else None)
        found = []
        for i, epoch in enumerate(epochs):
            loss, want = _outcome(epoch, _reference_loop)
            model, *rest = epoch.build()
            with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
                warnings.simplefilter("ignore")
                got, problem = guarded_call(self, student, Case((model, *rest), self.params))
            state = {k: v.detach() for k, v in model.state_dict().items()}
            problem = problem or _epoch_problem(got, state, loss, want)
            if problem is not None:
                raise CheckFailed(self._explain(i, len(epochs), epoch, got, state, problem,
                                                hidden))
            found.append({"loss": float(got.item() if isinstance(got, torch.Tensor) else got),
                          "state": {k: encode(v) for k, v in state.items()}})
        return Passed({"answers": found},
                      f"train_epoch passes all {len(found)} visible cases: the same weights "
                      "and mean loss as the reference loop.")

    def _explain(self, i: int, n: int, epoch: Epoch, got: Any, state: dict, problem: Problem,
                 hidden: bool) -> str:
        if hidden:
            return (f"train_epoch fails a hidden test: {problem.summary}. The hidden cases use "
                    "other networks, optimizers and batches than check_train_epoch(): compare "
                    "your loop with the steps in the notebook's text.")
        lines = [f"train_epoch fails visible case {i + 1} of {n}: {problem.detail}",
                 f"  the case: {epoch.describe()}"]
        hint = self._hint(epoch, got, state) if got is not None else None
        return "\n".join(lines + ([f"  {hint}"] if hint else []))

    def _hint(self, epoch: Epoch, got: Any, state: dict) -> str | None:
        """The usual mistake that gives the student's outcome, if one does."""
        start = {k: v.detach().clone() for k, v in epoch.build()[0].state_dict().items()}
        mistakes = [({"zero_grad": False},
                     "hint: the gradients added up from batch to batch: call "
                     "optimizer.zero_grad() after each step (backward adds to .grad)")]
        if epoch.eval_mode:
            mistakes.append(({"train": False},
                             "hint: the network came in evaluation mode: call model.train() "
                             "first, so that batch norm uses each batch's statistics"))
        for mistake, hint in mistakes:
            if _epoch_problem(got, state, *_outcome(epoch, _reference_loop, **mistake)) is None:
                return hint
        if _epoch_problem(0.0, state, 0.0, start) is None:
            return "hint: the weights did not change: call optimizer.step() after backward()"
        losses = _outcome(epoch, _batch_losses)[0]
        for value, hint in ((losses[-1], "you returned the last batch's loss"),
                            (sum(losses), "you returned the sum of the losses")):
            if compare_floats("", got, value, rel=1e-5) is None:
                return f"hint: {hint}; return their mean over the batches"
        return None

    def verify(self, record: dict, seed: int | None, hidden: bool) -> str | None:
        def problem(epoch: Epoch, answer: dict) -> Problem | None:
            state = {k: decode(v) for k, v in answer["state"].items()}
            return _epoch_problem(answer["loss"], state, *_outcome(epoch, _reference_loop))

        return verify_answers(self.name, self.cases(seed if hidden else None), record, problem)
