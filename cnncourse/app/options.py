"""Argument types shared by the ``cnncourse`` command's options."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(option: str, least: int, meaning: str,
                 unit: str = "") -> Callable[[str], int]:
    """An argparse type for ``option``: a whole number, ``least`` or more (``least`` means
    ``meaning``); a wrong value gets one line that says what would work."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a whole number{unit}, "
                                             f"got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{option} must be {least} ({meaning}) or more, "
                                             f"got {value}")
        return value

    return parse
