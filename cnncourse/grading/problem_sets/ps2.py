"""Problem set 2, pooling and receptive fields: ``pool2d`` and ``receptive_field``.

Their cases, their references (``F.max_pool2d``/``F.avg_pool2d`` and the jump/rf recurrence),
a hint for a common mistake, and the torch pooling functions ``pool2d`` may not use.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ... import arithmetic
from ..core.compare import Case, compare_ints, compare_tensors
from ..core.exercise import VISIBLE_SEED, FunctionExercise, ProblemSet, randn, seeded

# The references, bound when this module is imported: the notebook's first cell imports it
# before any student code runs, so replacing torch's functions later does not change them.
# PROBLEM_SET (at the end) declares them: the seal watches every reference it names.
_max_pool2d = F.max_pool2d
_avg_pool2d = F.avg_pool2d
_receptive_field = arithmetic.receptive_field

# ps2: pool2d ----------------------------------------------------------------------------------

_POOL_PARAMS = ("x", "kernel_size", "stride", "mode")


def _pool_case(g: torch.Generator, n: int, c: int, h: int, w: int, k: int, s: int,
               mode: str) -> Case:
    return Case((randn(g, n, c, h, w), k, s, mode), _POOL_PARAMS)


def _pool2d_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    return [_pool_case(g, 1, 1, 4, 4, 2, 2, "max"), _pool_case(g, 2, 3, 6, 6, 3, 3, "avg"),
            _pool_case(g, 1, 2, 7, 7, 3, 2, "max"), _pool_case(g, 1, 1, 5, 6, 2, 1, "avg")]


def _pool2d_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    for i in range(10):
        h, w = rng.randint(1, 10), rng.randint(1, 10)
        k = rng.randint(1, min(h, w, 4))
        cases.append(_pool_case(g, rng.randint(1, 2), rng.randint(1, 3), h, w, k,
                                rng.randint(1, 3), ("max", "avg")[i % 2]))
    return cases


def _pool2d_reference(x: torch.Tensor, kernel_size: int, stride: int, mode: str) -> torch.Tensor:
    pool = _max_pool2d if mode == "max" else _avg_pool2d
    return pool(x, kernel_size, stride)


POOL_FORBIDDEN = (
    "torch.nn.functional.max_pool2d", "torch.nn.functional.max_pool2d_with_indices",
    "torch.nn.functional.avg_pool2d", "torch.nn.functional.lp_pool2d",
    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.fractional_max_pool2d", "torch.max_pool2d", "torch.nn.MaxPool2d",
    "torch.nn.AvgPool2d", "torch.nn.AdaptiveAvgPool2d", "torch.nn.AdaptiveMaxPool2d",
    "cnncourse.pooling.pool2d", "cnncourse.pooling.global_avg_pool",
)

# ps2: receptive_field -------------------------------------------------------------------------


def _rf_visible() -> list[Case]:
    stacks = [[(3, 1, 1)], [(3, 1, 1), (3, 1, 1)], [(2, 2, 0), (3, 1, 0)],
              [(5, 2, 2), (3, 2, 1), (3, 2, 1), (3, 2, 1), (3, 2, 1)]]
    return [Case((stack,), ("layers",)) for stack in stacks]


def _rf_hidden(seed: int) -> list[Case]:
    rng, _ = seeded(seed)
    cases = []
    for _ in range(10):
        layers = [(rng.randint(1, 7), rng.randint(1, 3), rng.randint(0, 3))
                  for _ in range(rng.randint(1, 6))]
        cases.append(Case((layers,), ("layers",)))
    return cases


def _rf_reference(layers: list[tuple[int, int, int]]) -> int:
    return int(_receptive_field(layers)[-1].rf)


def _rf_hint(case: Case, got: Any) -> str | None:
    layers = case.args[0]
    if isinstance(got, int) and got == 1 + sum(k - 1 for k, _, _ in layers) and any(
            s > 1 for _, s, _ in layers[:-1]):
        return ("hint: your answer ignores the strides; each layer adds (kernel - 1) times "
                "the jump, the product of the strides of the layers below it")
    return None


PROBLEM_SET = ProblemSet(
    "ps2_pooling_and_receptive_fields",
    exercises=(
        FunctionExercise(
            "pool2d", _POOL_PARAMS, _pool2d_visible, _pool2d_hidden, _pool2d_reference,
            compare_tensors, forbidden=POOL_FORBIDDEN,
            description="Compare ``pool2d(x, kernel_size, stride, mode)`` with "
                        "``F.max_pool2d``/``avg_pool2d``."),
        FunctionExercise(
            "receptive_field", ("layers",), _rf_visible, _rf_hidden, _rf_reference,
            compare_ints, forbidden=("cnncourse.arithmetic.receptive_field",), hint=_rf_hint,
            description="Compare ``receptive_field(layers)`` with the jump/rf recurrence."),
    ),
    references=("torch.nn.functional.max_pool2d", "torch.nn.functional.avg_pool2d",
                "cnncourse.arithmetic.receptive_field"),
)
"""Problem set 2: its exercises, and the references the seal watches."""
