"""Binder builds the course from binder/: its dependency list must match pyproject.toml's."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(text: str) -> set[str]:
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return {re.sub(r"\s+", "", line) for line in lines if line and not line.startswith("-")}


def test_binder_requirements_equal_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    expected = {re.sub(r"\s+", "", d) for d in pyproject["project"]["dependencies"]}
    listed = requirement_lines((ROOT / "binder" / "requirements.txt").read_text())
    assert listed == expected, (
        f"only in pyproject.toml: {sorted(expected - listed)}; "
        f"only in binder/requirements.txt: {sorted(listed - expected)}")


def test_binder_post_build_installs_the_package():
    post_build = (ROOT / "binder" / "postBuild")
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps ." in post_build.read_text()
