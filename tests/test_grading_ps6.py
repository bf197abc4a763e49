"""Problem set 6's checks, without nbgrader: the 5,000-parameter budget, the
global-average-pooling head read with torch.fx, the accuracy target, and the records that
the autograder re-checks.

The solution comes from the source notebook (``tests.test_grading.solutions``); nbgrader grades
it, trained, with the cheating cases in test_exercises_nbgrader.py.
"""

from __future__ import annotations

import base64

import pytest
import torch
from torch import nn

from cnncourse import grading
from cnncourse.grading.problem_sets import ps4, ps6
from cnncourse.models import conv_block, gap_cnn, simple_cnn

from .test_grading import recorded, solutions

PS6 = solutions("ps6_design_a_cnn")
build_gap_model = PS6["build_gap_model"]


def target() -> str:
    """The accuracy target as the checks print it: 96% on MNIST, 85% on the fallback."""
    return f"{grading.accuracy_target(ps6.MNIST_TARGET, ps6.FALLBACK_TARGET):.0%}"


def encoded(predictions: torch.Tensor) -> str:
    return base64.b64encode(predictions.to(torch.uint8).numpy().tobytes()).decode()


class MeanHead(nn.Module):
    """A body, ``x.mean(dim=(2, 3))`` in forward, then a linear layer: a GAP head too."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(1, 8, 3), conv_block(8, 16, 3))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


class Bypass(nn.Module):
    """Global average pooling, plus a linear layer over a whole (pooled) map added to it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(1, 8, 3), conv_block(8, 10, 3))
        self.side = nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3)) + self.side(x)


class Branching(nn.Module):
    """A forward that looks at the data: torch.fx cannot follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.net = gap_cnn((8, 16, 16), seed=0)

    def forward(self, x):
        return self.net(x) if x.sum() > 0 else -self.net(x)


def test_the_solution_fits_the_budget_and_has_a_gap_head(capsys):
    grading.seal()
    grading.check_build_gap_model(build_gap_model)
    out = capsys.readouterr().out
    assert "parameters (budget 5,000)" in out
    assert ps6.gap_head(build_gap_model()) == {"pooled": [7, 7]}
    assert grading.count_parameters(build_gap_model()) <= ps6.PARAMETER_BUDGET == 5_000


@pytest.mark.parametrize("build, pooled", [
    (lambda: gap_cnn((8, 16, 16), seed=0), [7, 7]),  # a 1x1 classifier conv, then the pool
    (MeanHead, [7, 7]),  # a mean in forward, then a linear layer
    (lambda: simple_cnn((4, 8, 16), seed=0), [2, 2]),  # three stride-2 blocks, then the pool
])
def test_other_gap_heads_pass(build, pooled):
    assert ps6.gap_head(build()) == {"pooled": pooled}
    grading.check_build_gap_model(build)


@pytest.mark.parametrize("build, message", [
    (lambda: gap_cnn((16, 32, 64), seed=0), "24,314 parameters, over the budget of 5,000"),
    (lambda: simple_cnn((4, 8, 8, 8), seed=0), "no global average pooling found"),
    (lambda: nn.Sequential(conv_block(1, 8, 3), conv_block(8, 10, 3), nn.AdaptiveMaxPool2d(1),
                           nn.Flatten()), "no global average pooling found"),
    (lambda: nn.Sequential(conv_block(1, 8, 3), conv_block(8, 10, 3), nn.AdaptiveAvgPool2d(2),
                           nn.Flatten(), nn.Linear(40, 10)), "no global average pooling found"),
    (Bypass, "part of the class scores bypasses global average pooling"),
    (lambda: nn.Sequential(*simple_cnn((4, 8, 8, 8), seed=0)[:-1], nn.AdaptiveAvgPool2d(1),
                           nn.Flatten()), r"averages a 1x1 map"),
    (Branching, "torch.fx cannot follow the network"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 5)), r"class scores \(B, 10\)"),
])
def test_a_network_without_a_gap_head_or_over_the_budget_fails(build, message):
    with pytest.raises(grading.CheckFailed, match=message):
        grading.check_build_gap_model(build)


def test_the_trained_network_is_checked_again_for_its_head():
    """A head swapped after ``build_gap_model()`` (in the training function) is caught by
    the accuracy checks too."""
    model = build_gap_model()
    model[-2] = nn.AdaptiveMaxPool2d(1)
    for check in (grading.check_train_gap_model, lambda m: grading.hidden_check(
            "train_gap_model", m)):
        with pytest.raises(grading.CheckFailed, match="no global average pooling found"):
            check(model)


def test_an_untrained_network_fails_the_accuracy_target():
    with pytest.raises(grading.CheckFailed, match=f"below the target of {target()}") as err:
        grading.check_train_gap_model(build_gap_model())
    assert "validation images" in str(err.value)
    with pytest.raises(grading.CheckFailed, match="held-out images"):
        grading.hidden_check("train_gap_model", build_gap_model())
    assert ps6.MNIST_TARGET == 0.96 and ps6.FALLBACK_TARGET == 0.85


def test_ps6_records_are_verified_outside_the_notebook(monkeypatch):
    [record] = recorded(monkeypatch, lambda: grading.check_build_gap_model(build_gap_model))
    assert (record["parameters"], record["pooled"]) == (4_866, [7, 7])
    assert grading.verify("build_gap_model", record) is None
    assert "over the budget of 5,000" in grading.verify(
        "build_gap_model", {**record, "parameters": 5_001})
    assert "averages a 1x1 map" in grading.verify("build_gap_model",
                                                  {**record, "pooled": [1, 1]})
    assert "no size of the globally pooled map" in grading.verify(
        "build_gap_model", {"parameters": 10})
    _, labels, _, _ = ps4.graded_images(hidden=True)
    trained = {"parameters": 4_866, "pooled": [7, 7], "predictions": encoded(labels)}
    assert grading.verify("train_gap_model", trained, hidden=True) is None
    assert "global average pooling averages a 1x1 map" in grading.verify(
        "train_gap_model", {**trained, "pooled": [1, 1]}, hidden=True)
    assert f"below the target of {target()}" in grading.verify(
        "train_gap_model", {**trained, "predictions": encoded(labels * 0)}, hidden=True)
