"""Errors shared by the app layer (the ``cnncourse`` command and the instructor tools)."""

from __future__ import annotations


class CommandError(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""


__all__ = ["CommandError"]
