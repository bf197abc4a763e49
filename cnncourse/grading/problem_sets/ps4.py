"""Problem set 4, train a small CNN: the data split, the parameter budget and the accuracy.

Students train on images taken from MNIST's training part; the hidden test re-evaluates the
network on MNIST's validation part, which the student never saw. Its two exercises are of
their own kind: ``BuildModel`` checks the network that ``build_model()`` returns (parameter
budget, output shape), ``TrainModel`` the trained network's accuracy; both re-check a recorded
answer outside the student's kernel.
"""

from __future__ import annotations

import base64
import contextlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ... import arithmetic
from ...data import ImageData, load_mnist, normalize
from ...hooks import evaluating
from ..core.compare import CheckFailed
from ..core.exercise import Passed, ProblemSet
from ..core.guards import TimeLimitExceeded, time_limit

# What the checks rely on, bound when this module is imported (before any student code runs);
# PROBLEM_SET (at the end) declares them: the seal watches every reference it names.
_count_parameters = arithmetic.count_parameters

PARAMETER_BUDGET = 20_000
"""At most this many parameters in ps4's network."""

MNIST_TARGET = 0.97
"""Accuracy ps4 asks for on MNIST."""

FALLBACK_TARGET = 0.90
"""Accuracy ps4 asks for on scikit-learn's small digits, used when MNIST is not available."""

N_TRAIN, N_VALID = 6000, 2000

_DATA: dict[str, Any] = {}


def full_data() -> ImageData:
    """The whole data set ps4 draws from (MNIST, or the offline fallback digits), loaded once."""
    if "full" not in _DATA:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fallback's warning is in data.source
            _DATA["full"] = load_mnist()
    return _DATA["full"]


def exercise_data() -> ImageData:
    """ps4's images as an ``ImageData``: up to 6,000 training and 2,000 validation images.

    They are taken from MNIST's training part (``cnncourse.data.load_mnist``); its validation
    part is held out for the hidden test, so the network is graded on images it never saw.
    """
    full = full_data()
    n = len(full.train_x)
    n_valid = min(N_VALID, n // 4)
    n_train = min(N_TRAIN, n - n_valid)
    x, y = full.train_x, full.train_y
    return ImageData(x[:n_train], y[:n_train], x[n_train:n_train + n_valid],
                     y[n_train:n_train + n_valid], source=(
                         f"{n_train:,} training and {n_valid:,} validation images taken from "
                         f"the training part of: {full.source}"))


def accuracy_target(mnist: float = MNIST_TARGET, fallback: float = FALLBACK_TARGET) -> float:
    """``mnist`` (ps4: ``MNIST_TARGET``) on MNIST, ``fallback`` on the offline fallback
    digits."""
    return mnist if full_data().source.startswith("MNIST") else fallback


def graded_images(hidden: bool) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """The images a network is graded on, their labels, and the training mean/std used to
    normalise them (as the Learner does): the validation images, or the held-out ones if
    ``hidden``."""
    if "student" not in _DATA:
        student = exercise_data()
        _DATA["student"] = (student.valid_x, student.valid_y, student.mean, student.std)
    valid_x, valid_y, mean, std = _DATA["student"]
    if hidden:
        full = full_data()
        return full.valid_x, full.valid_y, mean, std
    return valid_x, valid_y, mean, std


def count_parameters(model: nn.Module) -> int:
    """All parameters of ``model``, trainable or not: a frozen weight still counts against the
    budget."""
    return _count_parameters(model, trainable_only=False)


def _predict(model: nn.Module, images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Predicted classes (uint8) of ``model`` for uint8 ``images``, in evaluation mode."""
    __tracebackhide__ = True
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    predictions = []
    with evaluating(model), torch.no_grad():
        for start in range(0, len(images), 500):
            batch = normalize(images[start:start + 500], mean, std).to(device)
            try:
                logits = model(batch)
            except Exception as err:
                first = (str(err).strip().splitlines() or [""])[0][:200]
                raise CheckFailed(f"the network cannot take a batch of images (B, 1, 28, "
                                  f"28): {type(err).__name__}: {first}") from None
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2 \
                    or logits.shape[1] != 10:
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else logits
                raise CheckFailed(f"the network must map a batch of images (B, 1, 28, 28) "
                                  f"to class scores (B, 10), got {shape}")
            predictions.append(logits.argmax(dim=1).to("cpu", torch.uint8))
    return torch.cat(predictions)


def _budget_problem(n: int, budget: int) -> str | None:
    if n > budget:
        return (f"the network has {n:,} parameters, over the budget of {budget:,}: "
                "use fewer channels (a conv layer has out*in*k*k + out parameters)")
    return None


Structure = Callable[[nn.Module], dict]
"""A check of a network's shape beyond its budget (ps6: the global-average-pooling head): it
returns what to record, or raises ``CheckFailed`` saying what is wrong."""


def _graded_network(model: nn.Module, budget: int, structure: Structure | None) -> dict:
    """What to record of ``model``: its parameter count and what ``structure`` found; raises
    ``CheckFailed`` if it is over ``budget`` or ``structure`` refuses it."""
    n = count_parameters(model)
    problem = _budget_problem(n, budget)
    if problem:
        raise CheckFailed(problem)
    return {"parameters": n, **(structure(model) if structure else {})}


def _accuracy_problem(accuracy: float, hidden: bool, target: float) -> str | None:
    if accuracy < target:
        where = "the held-out images" if hidden else "the validation images"
        return (f"accuracy on {where} is {accuracy:.2%}, below the target of {target:.0%}: "
                "train longer, or with a better learning rate")
    return None


def _verify_budget(record: dict, name: str, budget: int) -> str | None:
    n = record.get("parameters")
    if not isinstance(n, int):
        return f"the record of {name} holds no parameter count"
    return _budget_problem(n, budget)


@dataclass(frozen=True)
class BuildModel:
    """``build_model()`` returns a network within the parameter budget, of the right shape."""

    name: str = "build_model"
    student: str = "build_model"
    description: str = ("Check that ``build_model()`` returns a network within the parameter "
                        "budget that maps ``(B, 1, 28, 28)`` images to ``(B, 10)`` class "
                        "scores.")
    budget: int = PARAMETER_BUDGET
    structure: Structure | None = None
    verify_structure: Callable[[dict], str | None] | None = None

    def answers(self, student: Any, seed: int | None, hidden: bool) -> Passed:
        __tracebackhide__ = True
        if not callable(student):
            raise CheckFailed(f"build_model must be a function, got {type(student).__name__}")
        try:
            with contextlib.redirect_stderr(sys.stdout), time_limit(10, f"{self.student}()"):
                model = student()
        except TimeLimitExceeded as err:
            raise CheckFailed(str(err)) from None
        except Exception as err:
            raise CheckFailed(f"{self.student}() raised {type(err).__name__}: {err}") from None
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{self.student}() must return an nn.Module, got "
                              f"{type(model).__name__}")
        _predict(model, torch.zeros(2, 28, 28, dtype=torch.uint8), 0.0, 1.0)
        payload = _graded_network(model, self.budget, self.structure)
        return Passed(payload, f"{self.student}: {payload['parameters']:,} parameters (budget "
                      f"{self.budget:,}), output (B, 10).")

    def verify(self, record: dict, seed: int | None, hidden: bool) -> str | None:
        return _verify_budget(record, self.name, self.budget) or (
            self.verify_structure(record) if self.verify_structure else None)


@dataclass(frozen=True)
class TrainModel:
    """The trained network ``model`` is within the budget and accurate enough."""

    name: str = "train_model"
    student: str = "model"
    description: str = ("Check the trained network: within the parameter budget, and accurate "
                        "enough on the validation images.")
    budget: int = PARAMETER_BUDGET
    targets: tuple[float, float] = (MNIST_TARGET, FALLBACK_TARGET)
    """The accuracy asked for on MNIST and on the offline fallback digits."""
    structure: Structure | None = None
    verify_structure: Callable[[dict], str | None] | None = None

    def answers(self, student: Any, seed: int | None, hidden: bool) -> Passed:
        __tracebackhide__ = True
        if not isinstance(student, nn.Module):
            raise CheckFailed(f"expected the trained network (an nn.Module), got "
                              f"{type(student).__name__}: run the training cell first")
        payload = _graded_network(student, self.budget, self.structure)
        images, labels, mean, std = graded_images(hidden)
        predictions = _predict(student, images, mean, std)
        accuracy = float((predictions.long() == labels).float().mean())
        target = accuracy_target(*self.targets)
        problem = _accuracy_problem(accuracy, hidden, target)
        if problem:
            raise CheckFailed(problem)
        encoded = base64.b64encode(predictions.numpy().tobytes()).decode("ascii")
        return Passed({**payload, "predictions": encoded, "accuracy": accuracy},
                      f"{self.name}: {accuracy:.2%} on the validation images (target "
                      f"{target:.0%}).")

    def verify(self, record: dict, seed: int | None, hidden: bool) -> str | None:
        problem = _verify_budget(record, self.name, self.budget) or (
            self.verify_structure(record) if self.verify_structure else None)
        if problem:
            return problem
        images, labels, _, _ = graded_images(hidden)
        try:
            raw = base64.b64decode(record["predictions"])
            predictions = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()).long()
        except Exception:
            return "the record of train_model holds no readable predictions"
        if len(predictions) != len(labels):
            return "the record of train_model does not hold one prediction per image"
        return _accuracy_problem(float((predictions == labels).float().mean()), hidden,
                                 accuracy_target(*self.targets))


PROBLEM_SET = ProblemSet(
    "ps4_train_a_cnn",
    exercises=(BuildModel(), TrainModel()),
    references=("cnncourse.arithmetic.count_parameters", "cnncourse.data.load_mnist",
                "cnncourse.data.normalize", "cnncourse.hooks.evaluating"),
)
"""Problem set 4: its exercises, and the functions the seal watches."""
