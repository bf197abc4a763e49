"""The written-out 1-cycle schedule against torch's OneCycleLR, step by step."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from cnncourse.schedules import one_cycle, phase_ends

from .strategies import torch_one_cycle


def phase_has_length_zero(total_steps, pct_start, three_phase):
    ends = [pct_start * total_steps - 1, total_steps - 1]
    if three_phase:
        ends.insert(1, 2 * pct_start * total_steps - 2)
    starts = [0.0] + ends[:-1]
    return any(e == s for e, s in zip(ends, starts, strict=True))


@given(total_steps=st.integers(1, 300), max_lr=st.floats(1e-4, 10.0),
       pct_start=st.floats(0.0, 1.0), div_factor=st.floats(1.0, 100.0),
       final_div_factor=st.floats(1.0, 1e5), base_momentum=st.floats(0.5, 0.9),
       extra_momentum=st.floats(0.0, 0.09), anneal_strategy=st.sampled_from(["cos", "linear"]),
       three_phase=st.booleans())
def test_one_cycle_equals_torch_onecyclelr(total_steps, max_lr, pct_start, div_factor,
                                           final_div_factor, base_momentum, extra_momentum,
                                           anneal_strategy, three_phase):
    # torch divides by zero where a phase has no steps; outside that, the numbers must agree.
    assume(not phase_has_length_zero(total_steps, pct_start, three_phase))
    kw = dict(max_lr=max_lr, pct_start=pct_start, div_factor=div_factor,
              final_div_factor=final_div_factor, base_momentum=base_momentum,
              max_momentum=base_momentum + extra_momentum, anneal_strategy=anneal_strategy,
              three_phase=three_phase)
    lrs, moms = one_cycle(total_steps, **kw)
    expected_lrs, expected_moms = torch_one_cycle(total_steps, **kw)
    assert len(lrs) == len(moms) == total_steps
    for step, (a, b) in enumerate(zip(lrs, expected_lrs, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300), f"lr at step {step}: {a} {b}"
    for step, (a, b) in enumerate(zip(moms, expected_moms, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-9), f"momentum at step {step}: {a} {b}"


def test_one_cycle_shape_warms_up_then_anneals():
    lrs, moms = one_cycle(100, max_lr=0.1)
    peak = lrs.index(max(lrs))
    assert peak == 29  # 30 % of 100 steps, counted from 0
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[peak] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert moms[0] == pytest.approx(0.95) and moms[peak] == pytest.approx(0.85)
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1], strict=True))
    assert all(a >= b for a, b in zip(lrs[peak:-1], lrs[peak + 1:], strict=True))


def test_a_phase_of_length_zero_is_handled_where_torch_divides_by_zero():
    lrs, _ = one_cycle(10, 1.0, pct_start=0.1)
    assert lrs[0] == pytest.approx(1.0) and lrs[-1] == pytest.approx(1.0 / 25 / 1e4)


@pytest.mark.parametrize("kw, parameter", [
    (dict(total_steps=0, max_lr=0.1), "total_steps"),
    (dict(total_steps=2.5, max_lr=0.1), "total_steps"),
    (dict(total_steps=10, max_lr=0), "max_lr"),
    (dict(total_steps=10, max_lr=0.1, pct_start=1.5), "pct_start"),
    (dict(total_steps=10, max_lr=0.1, div_factor=0), "div_factor"),
    (dict(total_steps=10, max_lr=0.1, final_div_factor=-1), "final_div_factor"),
    (dict(total_steps=10, max_lr=0.1, base_momentum=1.5), "base_momentum"),
    (dict(total_steps=10, max_lr=0.1, max_momentum="high"), "max_momentum"),
    (dict(total_steps=10, max_lr=0.1, anneal_strategy="exp"), "anneal_strategy"),
    (dict(total_steps=10, max_lr=float("nan")), "max_lr"),
])
def test_invalid_input_names_the_parameter(kw, parameter):
    with pytest.raises(ValueError, match=parameter):
        one_cycle(**kw)


@pytest.mark.parametrize("total, pct, three", [(100, 0.3, False), (300, 0.25, True),
                                               (7, 0.5, True), (10, 0.0, False)])
def test_phase_ends_are_where_torch_ends_its_phases(total, pct, three):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=total, pct_start=pct,
                                                three_phase=three)
    torch_ends = [phase["end_step"] for phase in sched._schedule_phases]  # torch's own record
    assert phase_ends(total, pct, three) + [total - 1] == pytest.approx(torch_ends)
