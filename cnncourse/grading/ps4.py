"""Problem set 4, train a small CNN: the data split, the parameter budget and the accuracy.

Students train on images taken from MNIST's training part; the hidden test re-evaluates the
network on MNIST's validation part, which the student never saw. The checks students call
(``check_build_model``, ``check_train_model``) are in ``checks``; here are the measures they
use and ``MODEL_CHECKS``, which re-check a recorded answer outside the student's kernel.
"""

from __future__ import annotations

import base64
import types
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import arithmetic
from ..hooks import evaluating
from .compare import CheckFailed

PARAMETER_BUDGET = 20_000
"""At most this many parameters in ps4's network."""

MNIST_TARGET = 0.97
"""Accuracy ps4 asks for on MNIST."""

FALLBACK_TARGET = 0.90
"""Accuracy ps4 asks for on scikit-learn's small digits, used when MNIST is not available."""

N_TRAIN, N_VALID = 6000, 2000

_DATA: dict[str, Any] = {}


def _full_data() -> Any:
    if "full" not in _DATA:
        from ..data import load_mnist

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fallback's warning is in data.source
            _DATA["full"] = load_mnist()
    return _DATA["full"]


def exercise_data() -> Any:
    """ps4's images as an ``ImageData``: up to 6,000 training and 2,000 validation images.

    They are taken from MNIST's training part (``cnncourse.data.load_mnist``); its validation
    part is held out for the hidden test, so the network is graded on images it never saw.
    """
    from ..data import ImageData

    full = _full_data()
    n = len(full.train_x)
    n_valid = min(N_VALID, n // 4)
    n_train = min(N_TRAIN, n - n_valid)
    x, y = full.train_x, full.train_y
    return ImageData(x[:n_train], y[:n_train], x[n_train:n_train + n_valid],
                     y[n_train:n_train + n_valid], source=(
                         f"{n_train:,} training and {n_valid:,} validation images taken from "
                         f"the training part of: {full.source}"))


def accuracy_target() -> float:
    """``MNIST_TARGET`` on MNIST, ``FALLBACK_TARGET`` on the offline fallback digits."""
    return MNIST_TARGET if _full_data().source.startswith("MNIST") else FALLBACK_TARGET


def _split_images(hidden: bool) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Images, labels and the training mean/std used to normalise them (as the Learner does)."""
    if "student" not in _DATA:
        student = exercise_data()
        _DATA["student"] = (student.valid_x, student.valid_y, student.mean, student.std)
    valid_x, valid_y, mean, std = _DATA["student"]
    if hidden:
        full = _full_data()
        return full.valid_x, full.valid_y, mean, std
    return valid_x, valid_y, mean, std


def count_parameters(model: nn.Module) -> int:
    """All parameters of ``model``, trainable or not: a frozen weight still counts against the
    budget."""
    return arithmetic.count_parameters(model, trainable_only=False)


def _predict(model: nn.Module, images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Predicted classes (uint8) of ``model`` for uint8 ``images``, in evaluation mode."""
    __tracebackhide__ = True
    from ..data import normalize

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


def _budget_problem(n: int) -> str | None:
    if n > PARAMETER_BUDGET:
        return (f"the network has {n:,} parameters, over the budget of {PARAMETER_BUDGET:,}: "
                "use fewer channels (a conv layer has out*in*k*k + out parameters)")
    return None


def _accuracy_problem(accuracy: float, where: str) -> str | None:
    target = accuracy_target()
    if accuracy < target:
        return (f"accuracy on {where} is {accuracy:.2%}, below the target of {target:.0%}: "
                "train longer, or with a better learning rate")
    return None


def _model_answers(model: Any, hidden: bool) -> dict:
    __tracebackhide__ = True
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"expected the trained network (an nn.Module), got "
                          f"{type(model).__name__}: run the training cell first")
    n = count_parameters(model)
    problem = _budget_problem(n)
    if problem:
        raise CheckFailed(problem)
    images, labels, mean, std = _split_images(hidden)
    predictions = _predict(model, images, mean, std)
    accuracy = float((predictions.long() == labels).float().mean())
    where = "the held-out images" if hidden else "the validation images"
    problem = _accuracy_problem(accuracy, where)
    if problem:
        raise CheckFailed(problem)
    encoded = base64.b64encode(predictions.numpy().tobytes()).decode("ascii")
    return {"parameters": n, "predictions": encoded, "accuracy": accuracy}


def _verify_build_model(record: dict, hidden: bool) -> str | None:
    n = record.get("parameters")
    if not isinstance(n, int):
        return "the record of build_model holds no parameter count"
    return _budget_problem(n)


def _verify_train_model(record: dict, hidden: bool) -> str | None:
    problem = _verify_build_model(record, hidden)
    if problem:
        return problem
    images, labels, _, _ = _split_images(hidden)
    try:
        raw = base64.b64decode(record["predictions"])
        predictions = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()).long()
    except Exception:
        return "the record of train_model holds no readable predictions"
    if len(predictions) != len(labels):
        return "the record of train_model does not hold one prediction per image"
    accuracy = float((predictions == labels).float().mean())
    where = "the held-out images" if hidden else "the validation images"
    return _accuracy_problem(accuracy, where)


MODEL_CHECKS: types.MappingProxyType = types.MappingProxyType({
    "build_model": _verify_build_model,
    "train_model": _verify_train_model,
})
"""ps4's checks, by the function they grade: record -> problem or ``None``."""
