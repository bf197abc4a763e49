"""Problem set 3, batch norm and the 1-cycle schedule: ``batch_norm_train``, ``one_cycle_lr``.

Their cases, their references (``F.batch_norm(training=True)`` and the course's written-out
``OneCycleLR``), hints for common mistakes, and the torch functions they may not use.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ... import schedules
from ..core.compare import Case, compare_floats, compare_tensors
from ..core.exercise import VISIBLE_SEED, FunctionExercise, ProblemSet, randn, seeded

# The references, bound when this module is imported: the notebook's first cell imports it
# before any student code runs, so replacing torch's functions later does not change them.
# PROBLEM_SET (at the end) declares them: the seal watches every reference it names.
_batch_norm = F.batch_norm
_one_cycle = schedules.one_cycle

# ps3: batch_norm_train ------------------------------------------------------------------------

_BN_PARAMS = ("x", "gamma", "beta", "eps")


def _bn_case(g: torch.Generator, n: int, c: int, h: int, w: int, eps: float,
             plain: bool = False) -> Case:
    x = randn(g, n, c, h, w) * 3 + 1
    gamma = torch.ones(c) if plain else randn(g, c)
    beta = torch.zeros(c) if plain else randn(g, c)
    return Case((x, gamma, beta, eps), _BN_PARAMS)


def _bn_visible() -> list[Case]:
    _, g = seeded(VISIBLE_SEED)
    return [_bn_case(g, 4, 1, 2, 2, 1e-5, plain=True), _bn_case(g, 2, 3, 4, 4, 1e-5),
            _bn_case(g, 8, 2, 1, 1, 1e-3)]


def _bn_hidden(seed: int) -> list[Case]:
    rng, g = seeded(seed)
    cases = []
    while len(cases) < 8:
        n, h, w = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 5)
        if n * h * w >= 2:
            cases.append(_bn_case(g, n, rng.randint(1, 4), h, w, rng.choice([1e-5, 1e-3, 0.1])))
    return cases


def _bn_reference(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                  eps: float) -> torch.Tensor:
    return _batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def _bn_hint(case: Case, got: Any) -> str | None:
    x, gamma, beta, eps = case.args
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=True)
    unbiased = (x - mean) / torch.sqrt(var + eps) * gamma[None, :, None, None] \
        + beta[None, :, None, None]
    if x[:, 0].numel() > 1 and compare_tensors("", got, unbiased) is None:
        return ("hint: you normalised with the unbiased variance (torch.var's default); batch "
                "norm divides by N*H*W: use x.var(..., unbiased=False)")
    return None


BN_FORBIDDEN = (
    "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
    "torch.nn.functional.instance_norm", "torch.nn.functional.layer_norm",
    "torch.nn.functional.group_norm", "torch.nn.BatchNorm2d", "torch.nn.LazyBatchNorm2d",
    "cnncourse.norm.batch_norm",
)

# ps3: one_cycle_lr ----------------------------------------------------------------------------

_ONE_CYCLE_PARAMS = ("step", "total_steps", "max_lr", "pct_start", "div_factor",
                     "final_div_factor")


def _one_cycle_visible() -> list[Case]:
    rows = [(0, 100, 0.1, 0.3, 25.0, 1e4), (29, 100, 0.1, 0.3, 25.0, 1e4),
            (15, 100, 0.1, 0.3, 25.0, 1e4), (99, 100, 0.1, 0.3, 25.0, 1e4),
            (50, 100, 1.0, 0.25, 10.0, 100.0), (5, 20, 0.5, 0.5, 25.0, 1e4)]
    return [Case(row, _ONE_CYCLE_PARAMS) for row in rows]


def _one_cycle_hidden(seed: int) -> list[Case]:
    rng, _ = seeded(seed)
    cases = []
    for i in range(12):
        total = rng.randint(20, 300)  # so that the warm-up has at least two steps
        pct = rng.choice([0.1, 0.2, 0.25, 0.3, 0.4, 0.5])
        peak = int(pct * total) - 1
        step = (0, total - 1, peak, peak + 1)[i] if i < 4 else rng.randrange(total)
        cases.append(Case((step, total, rng.choice([0.01, 0.05, 0.1, 0.3, 1.0]), pct,
                           rng.choice([10.0, 25.0, 100.0]), rng.choice([100.0, 1e4])),
                          _ONE_CYCLE_PARAMS))
    return cases


def _one_cycle_reference(step: int, total_steps: int, max_lr: float, pct_start: float,
                         div_factor: float, final_div_factor: float) -> float:
    """The learning rate at ``step`` of the course's written-out ``OneCycleLR`` (cosine, two
    phases), which the engine's tests hold equal to torch's."""
    lrs, _ = _one_cycle(total_steps, max_lr, pct_start=pct_start, div_factor=div_factor,
                        final_div_factor=final_div_factor)
    return lrs[step]


def _one_cycle_hint(case: Case, got: Any) -> str | None:
    step, total, *_ = case.args
    if step > 0 and step < total - 1 and compare_floats(
            "", got, _one_cycle_reference(step + 1, total, *case.args[2:])) is None:
        return ("hint: your schedule is one step ahead: step 0 must give the starting rate "
                "max_lr / div_factor")
    return None


ONE_CYCLE_FORBIDDEN = ("torch.optim.lr_scheduler.OneCycleLR", "cnncourse.schedules.one_cycle")

PROBLEM_SET = ProblemSet(
    "ps3_batchnorm_and_one_cycle",
    exercises=(
        FunctionExercise(
            "batch_norm_train", _BN_PARAMS, _bn_visible, _bn_hidden, _bn_reference,
            compare_tensors, forbidden=BN_FORBIDDEN, hint=_bn_hint,
            description="Compare ``batch_norm_train(x, gamma, beta, eps)`` with "
                        "``F.batch_norm(training=True)``."),
        FunctionExercise(
            "one_cycle_lr", _ONE_CYCLE_PARAMS, _one_cycle_visible, _one_cycle_hidden,
            _one_cycle_reference, compare_floats, forbidden=ONE_CYCLE_FORBIDDEN,
            hint=_one_cycle_hint,
            description="Compare ``one_cycle_lr(step, total_steps, ...)`` with torch's "
                        "``OneCycleLR``."),
    ),
    references=("torch.nn.functional.batch_norm", "cnncourse.schedules.one_cycle"),
)
"""Problem set 3: its exercises, and the references the seal watches."""
