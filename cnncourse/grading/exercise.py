"""What an exercise is: one function to write, its cases, its reference, what it may not use.

Each problem set (``ps1``, ``ps2``, ``ps3``) describes its functions with ``Exercise``; the
visible cases are fixed, the hidden ones come from a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .compare import Case, Problem

VISIBLE_SEED = 0
"""Seed of the random part of the visible cases (hidden tests use other seeds)."""


@dataclass(frozen=True)
class Exercise:
    """One function to write: how to call it, what it must equal, what it may not use."""

    name: str
    params: tuple[str, ...]
    visible: Callable[[], list[Case]]
    hidden: Callable[[int], list[Case]]
    reference: Callable[..., Any]
    compare: Callable[[str, Any, Any], Problem | None]
    forbidden: tuple[str, ...] = ()
    seconds: float = 5.0
    hint: Callable[[Case, Any], str | None] | None = None

    def cases(self, seed: int | None) -> list[Case]:
        """The visible cases for ``seed=None``, else the hidden cases of that seed."""
        return self.visible() if seed is None else self.hidden(seed)


def _gen(seed: int) -> tuple[random.Random, torch.Generator]:
    return random.Random(seed), torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=g)
