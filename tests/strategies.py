"""Hypothesis strategies shared by the engine tests: conv settings, tensors and layer stacks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import assume
from hypothesis import strategies as st

sizes = st.integers(1, 12)
kernels = st.integers(1, 5)
strides = st.integers(1, 4)
paddings = st.integers(0, 3)
dilations = st.integers(1, 3)


@dataclass(frozen=True)
class ConvCase:
    """One convolution: input batch and channels, spatial sizes and hyper-parameters (pairs)."""

    n: int
    c_in: int
    c_out: int
    hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    def valid(self) -> bool:
        return all(
            h + 2 * p - (d * (k - 1) + 1) >= 0
            for h, k, p, d in zip(self.hw, self.kernel, self.padding, self.dilation, strict=True)
        )


def pairs(values: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, int]]:
    """Square pairs most of the time, sometimes rectangular ones."""
    return st.one_of(values.map(lambda v: (v, v)), st.tuples(values, values))


@st.composite
def conv_cases(draw, max_size: int = 10, max_channels: int = 3, valid: bool = True) -> ConvCase:
    case = ConvCase(
        n=draw(st.integers(1, 2)), c_in=draw(st.integers(1, max_channels)),
        c_out=draw(st.integers(1, max_channels)), hw=draw(pairs(st.integers(1, max_size))),
        kernel=draw(pairs(kernels)), stride=draw(pairs(strides)), padding=draw(pairs(paddings)),
        dilation=draw(pairs(dilations)),
    )
    if valid:
        assume(case.valid())
    return case


def tensors(shape, seed: int) -> torch.Tensor:
    """A reproducible random float tensor (hypothesis draws the seed, torch the numbers)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


seeds = st.integers(0, 2**31 - 1)

layer_stacks = st.lists(
    st.tuples(kernels, strides, st.integers(0, 2), dilations), min_size=1, max_size=6
)


def assert_close_tensor(actual: torch.Tensor, expected: torch.Tensor, case=None,
                        atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert equal shapes and values; the failure shows the case and the largest difference."""
    assert actual.shape == expected.shape, (
        f"shape {tuple(actual.shape)} != expected {tuple(expected.shape)} for {case}")
    if not torch.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True):
        diff = (actual - expected).abs().nan_to_num(0).max().item()
        raise AssertionError(f"values differ by up to {diff:.3g} for {case}")


def torch_one_cycle(total_steps: int, **kw) -> tuple[list[float], list[float]]:
    """The learning rate and momentum torch's OneCycleLR sets, step by step, on a
    one-parameter SGD: the reference every 1-cycle test compares with."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, total_steps=total_steps, **kw)
    lrs, moms = [], []
    for _ in range(total_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        moms.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return lrs, moms
