"""Problem set 6, design a CNN under a budget: at most 5,000 parameters and a
global-average-pooling head.

The data, the held-out images and the accuracy check are ps4's (``ps4.exercise_data``,
``ps4.TrainModel``); what is new is the budget and the head. ``gap_head`` reads the network's
graph with ``torch.fx``: every path from the image to the class scores must pass through a
global average (``nn.AdaptiveAvgPool2d(1)``, ``x.mean(dim=(2, 3))``, ...) of a map of at least
2x2 positions, so no layer after it sees where in the image a feature was. The written
ablation is graded by hand in nbgrader; nothing here checks it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ...hooks import evaluating
from ..core.compare import CheckFailed
from ..core.exercise import ProblemSet
from .ps4 import BuildModel, TrainModel

_adaptive_avg_pool2d, _avg_pool2d, _mean = F.adaptive_avg_pool2d, F.avg_pool2d, torch.mean
_symbolic_trace = fx.symbolic_trace

PARAMETER_BUDGET = 5_000
"""At most this many parameters in ps6's network."""

MNIST_TARGET = 0.96
"""Accuracy ps6 asks for on MNIST (measured: see the module's tests and exercises/README.md)."""

FALLBACK_TARGET = 0.85
"""Accuracy ps6 asks for on scikit-learn's small digits, used when MNIST is not available."""

MIN_POOLED = 2
"""The map that global average pooling averages is at least this many positions high and
wide: averaging a 1x1 map would leave a network that sees positions all the way."""

_HOW = ("end the body with nn.AdaptiveAvgPool2d(1) and nn.Flatten() (or x.mean(dim=(2, 3)) "
        "in your own forward), so that only the average of each channel reaches the class "
        "scores")


def _averages(node: fx.Node, model: nn.Module) -> bool:
    """Whether ``node`` is an average pool or a mean."""
    if node.op == "call_module":
        return isinstance(model.get_submodule(str(node.target)),
                          nn.AdaptiveAvgPool2d | nn.AvgPool2d)
    if node.op == "call_function":
        return node.target in (_adaptive_avg_pool2d, _avg_pool2d, _mean)
    return node.op == "call_method" and node.target == "mean"


def _shape(node: fx.Node | object) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if hasattr(meta, "shape") else None


def _pooled_size(node: fx.Node, model: nn.Module) -> tuple[int, int] | None:
    """The (height, width) that ``node`` averages away entirely, if it is a global average of
    an (N, C, H, W) map (its output keeps N and C and has one position or none)."""
    if not _averages(node, model) or not node.args:
        return None
    before, after = _shape(node.args[0]), _shape(node)
    if before is None or after is None or len(before) != 4 or after[:2] != before[:2]:
        return None
    left = 1
    for size in after[2:]:
        left *= size
    return (before[2], before[3]) if left == 1 else None


def gap_head(model: nn.Module) -> dict:
    """``{"pooled": [height, width]}``, the smallest map the network averages globally, if
    every path from the input to the output passes through a global average pool; else
    ``CheckFailed`` saying what to change."""
    __tracebackhide__ = True
    try:
        with evaluating(model), torch.no_grad():
            traced = _symbolic_trace(model)
            ShapeProp(traced).propagate(torch.zeros(2, 1, 28, 28))
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise CheckFailed(f"torch.fx cannot follow the network to find its head "
                          f"({type(err).__name__}: {first}): build it from layers "
                          "(nn.Sequential) without if/for on the data in forward") from None
    pools = {node: size for node in traced.graph.nodes
             if (size := _pooled_size(node, traced)) is not None}
    if not pools:
        raise CheckFailed(f"no global average pooling found: {_HOW}")
    reached = [n for n in traced.graph.nodes if n.op == "placeholder"][:1]
    seen = set(reached)
    while reached:
        for user in reached.pop().users:
            if user not in seen and user not in pools:
                seen.add(user)
                reached.append(user)
    if any(n.op == "output" for n in seen):
        raise CheckFailed(f"part of the class scores bypasses global average pooling (a "
                          f"Flatten or Linear over the whole map, or another pool): {_HOW}")
    height, width = min(pools.values())
    problem = _pooled_problem([height, width])
    if problem:
        raise CheckFailed(problem)
    return {"pooled": [height, width]}


def _pooled_problem(pooled: object) -> str | None:
    if not (isinstance(pooled, list) and len(pooled) == 2
            and all(isinstance(s, int) for s in pooled)):
        return "the record holds no size of the globally pooled map"
    if min(pooled) < MIN_POOLED:
        return (f"global average pooling averages a {pooled[0]}x{pooled[1]} map: the body "
                f"must end with a map of at least {MIN_POOLED}x{MIN_POOLED} positions (use "
                "fewer stride-2 layers or pools), or the average is no average")
    return None


def verify_gap(record: dict) -> str | None:
    """The re-check of a recorded head: ``None`` if it is a global average of a large enough
    map."""
    return _pooled_problem(record.get("pooled"))


PROBLEM_SET = ProblemSet(
    "ps6_design_a_cnn",
    exercises=(
        BuildModel("build_gap_model", "build_gap_model", (
            "Check that ``build_gap_model()`` returns a network of at most 5,000 parameters "
            "with a global-average-pooling head that maps ``(B, 1, 28, 28)`` images to "
            "``(B, 10)`` class scores."), PARAMETER_BUDGET, gap_head, verify_gap),
        TrainModel("train_gap_model", "model", (
            "Check the trained network: at most 5,000 parameters, a global-average-pooling "
            "head, and accurate enough on the validation images."), PARAMETER_BUDGET,
            (MNIST_TARGET, FALLBACK_TARGET), gap_head, verify_gap),
    ),
    references=("torch.nn.functional.adaptive_avg_pool2d", "torch.nn.functional.avg_pool2d",
                "torch.mean", "torch.fx.symbolic_trace", "cnncourse.hooks.evaluating"),
)
"""Problem set 6: its exercises, and the functions the seal watches."""
