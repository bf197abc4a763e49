"""Every function exercise by name, from the problem sets that define them."""

from __future__ import annotations

import types

from . import ps1, ps2, ps3

EXERCISES: types.MappingProxyType = types.MappingProxyType(
    {ex.name: ex for ex in ps1.EXERCISES + ps2.EXERCISES + ps3.EXERCISES})
"""The function exercises by name (ps4's model exercises are checked by their own functions)."""
