"""The arithmetic of convolutions and pools, gathered in one place for the lessons.

Each name lives in its own module and is importable from here too:

- ``cnncourse.sizes``: output sizes and the formulas behind them (``conv_output_size``,
  ``pool_output_size``, ``same_padding``, ...);
- ``cnncourse.receptive``: receptive fields of a model or a list of layers
  (``receptive_field``) and the input region of one unit (``unit_region``);
- ``cnncourse.shapes``: a real forward pass, layer by layer (``shape_table``,
  ``count_parameters``).
"""

from __future__ import annotations

from .receptive import ReceptiveField, Region, receptive_field, unit_region
from .shapes import ShapeRow, count_parameters, shape_table
from .sizes import (
    IntOrPair,
    conv_output_formula,
    conv_output_size,
    conv_transpose_output_formula,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
    same_padding,
)

__all__ = [
    "IntOrPair",
    "ReceptiveField",
    "Region",
    "ShapeRow",
    "conv_output_formula",
    "conv_output_size",
    "conv_transpose_output_formula",
    "conv_transpose_output_size",
    "count_parameters",
    "effective_kernel_size",
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "shape_table",
    "unit_region",
]
