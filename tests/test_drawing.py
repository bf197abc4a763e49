"""cnncourse.drawing: a drawing becomes an MNIST-style digit."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cnncourse.drawing import prepare_drawing


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    image = image.float()
    return float((ys * image).sum() / image.sum()), float((xs * image).sum() / image.sum())


def _bar(side: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
    drawing = torch.zeros(side, side, dtype=torch.uint8)
    drawing[top:top + height, left:left + width] = 255
    return drawing


def test_a_tall_stroke_fills_20_rows_and_sits_at_the_centre_of_mass():
    prepared = prepare_drawing(_bar(280, 30, 200, 100, 10))  # small, far in a corner
    image = prepared.image
    assert image.shape == (28, 28) and image.dtype == torch.uint8
    rows, cols = torch.nonzero(image > 25, as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 == 20
    assert int(cols.max() - cols.min()) + 1 == 2  # the aspect ratio is kept: 100 x 10 -> 20 x 2
    row, col = _centre_of_mass(image)
    assert row == pytest.approx(13.5, abs=0.5) and col == pytest.approx(13.5, abs=0.5)


@given(top=st.integers(0, 200), left=st.integers(0, 200), height=st.integers(3, 79),
       width=st.integers(3, 79))
def test_the_frame_maps_back_onto_the_ink(top, left, height, width):
    prepared = prepare_drawing(_bar(280, top, left, height, width))
    rows, cols = torch.nonzero(prepared.image > 0, as_tuple=True)
    assert int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1 == 20
    x, y = prepared.to_drawing(float(cols.min()), float(rows.min()))
    assert x == pytest.approx(left, abs=1 / prepared.scale + 1)
    assert y == pytest.approx(top, abs=1 / prepared.scale + 1)
    x, y = prepared.to_drawing(float(cols.max() + 1), float(rows.max() + 1))
    assert x == pytest.approx(left + width, abs=1 / prepared.scale + 1)
    assert y == pytest.approx(top + height, abs=1 / prepared.scale + 1)


def test_no_ink_no_digit_and_a_clear_message_for_a_wrong_drawing():
    assert prepare_drawing(torch.zeros(280, 280, dtype=torch.uint8)) is None
    assert prepare_drawing(_bar(280, 5, 5, 1, 3)) is None  # 3 pixels: a speck, not a digit
    with pytest.raises(ValueError, match="drawing must be a 2-d tensor"):
        prepare_drawing(torch.zeros(1, 280, 280, dtype=torch.uint8))
