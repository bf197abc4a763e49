"""The 1-cycle learning-rate and momentum schedule (Smith, "Super-Convergence"), written out.

Training starts at a low learning rate (warm-up), climbs to ``max_lr`` while momentum falls,
then anneals the learning rate to almost zero while momentum climbs back. The warm-up keeps
the first, chaotic steps small; the high middle explores; the low end settles into a minimum.
``torch.optim.lr_scheduler.OneCycleLR`` gives the same numbers, step by step.
"""

from __future__ import annotations

import math


def anneal_cos(start: float, end: float, pct: float) -> float:
    """Go from ``start`` to ``end`` along half a cosine as ``pct`` goes from 0 to 1."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    """Go from ``start`` to ``end`` in a straight line as ``pct`` goes from 0 to 1."""
    return start + (end - start) * pct


ANNEALERS = {"cos": anneal_cos, "linear": anneal_linear}


def _check_number(value: float, name: str, low: float, high: float = math.inf,
                  low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < low or (low_open and value == low) or value > high:
        lower = f"> {low}" if low_open else f">= {low}"
        upper = "" if high == math.inf else f" and <= {high}"
        raise ValueError(f"{name} must be {lower}{upper}, got {value}")
    return float(value)


def phase_ends(total_steps: int, pct_start: float = 0.3, three_phase: bool = False,
               ) -> list[float]:
    """The steps at which the warm-up (and, with ``three_phase``, the way back down) ends,
    counted as torch's ``OneCycleLR`` counts them: the last step of each phase but the final
    one, which ends at ``total_steps - 1``. They need not be whole numbers."""
    ends = [pct_start * total_steps - 1]
    if three_phase:
        ends.append(2 * pct_start * total_steps - 2)
    return ends


def one_cycle(total_steps: int, max_lr: float, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4, base_momentum: float = 0.85,
              max_momentum: float = 0.95, anneal_strategy: str = "cos",
              three_phase: bool = False) -> tuple[list[float], list[float]]:
    """Learning rate and momentum for each of ``total_steps`` steps of a 1-cycle schedule.

    The learning rate starts at ``max_lr / div_factor``, peaks at ``max_lr`` after
    ``pct_start`` of the steps and ends at ``max_lr / div_factor / final_div_factor``; momentum
    moves the opposite way between ``max_momentum`` and ``base_momentum``. With
    ``three_phase=True`` the learning rate first comes back down to its start symmetrically,
    and only a final phase anneals it to the minimum (momentum stays high there).
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
    max_lr = _check_number(max_lr, "max_lr", 0.0, low_open=True)
    pct_start = _check_number(pct_start, "pct_start", 0.0, 1.0)
    div_factor = _check_number(div_factor, "div_factor", 0.0, low_open=True)
    final_div_factor = _check_number(final_div_factor, "final_div_factor", 0.0, low_open=True)
    base_momentum = _check_number(base_momentum, "base_momentum", 0.0, 1.0)
    max_momentum = _check_number(max_momentum, "max_momentum", 0.0, 1.0)
    if anneal_strategy not in ANNEALERS:
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    anneal = ANNEALERS[anneal_strategy]

    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    ends = [*phase_ends(total_steps, pct_start, three_phase), total_steps - 1]
    # Each phase: (last step of the phase, lr from, lr to, momentum from, momentum to).
    if three_phase:
        phases = [
            (ends[0], initial_lr, max_lr, max_momentum, base_momentum),
            (ends[1], max_lr, initial_lr, base_momentum, max_momentum),
            (ends[2], initial_lr, min_lr, max_momentum, max_momentum),
        ]
    else:
        phases = [
            (ends[0], initial_lr, max_lr, max_momentum, base_momentum),
            (ends[1], max_lr, min_lr, base_momentum, max_momentum),
        ]

    lrs, moms = [], []
    for step in range(total_steps):
        phase_start = 0.0
        for i, (phase_end, lr_from, lr_to, mom_from, mom_to) in enumerate(phases):
            if step <= phase_end or i == len(phases) - 1:
                length = phase_end - phase_start
                # A phase of length zero is already over: it sits at its end value.
                pct = (step - phase_start) / length if length != 0 else 1.0
                lrs.append(anneal(lr_from, lr_to, pct))
                moms.append(anneal(mom_from, mom_to, pct))
                break
            phase_start = phase_end
    return lrs, moms


__all__ = ["anneal_cos", "anneal_linear", "one_cycle", "phase_ends"]
