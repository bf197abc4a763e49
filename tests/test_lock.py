"""The pinned environment: requirements.lock agrees with pyproject.toml, Binder installs exactly
the lock, and the environment running these tests is the lock."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def locked(text: str) -> list[tuple[str, str, Marker | None]]:
    """(name, version, marker) for every ``name==version [; marker]`` line of a lock."""
    pins = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"the lock pins exact versions, not {line!r}"
        pins.append((canonicalize_name(requirement.name), spec.version, requirement.marker))
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["hub"]]


def test_the_lock_pins_the_torch_pair_every_machine_is_served():
    versions = {name: version for name, version, _ in locked(LOCK.read_text())}
    assert versions["torch"] == "2.14.1" and versions["torchvision"] == "0.29.1", versions


def test_every_locked_version_satisfies_pyproject_ranges():
    pins = locked(LOCK.read_text())
    names = {name for name, _, _ in pins}
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        if requirement.marker is None or requirement.marker.evaluate():
            assert name in names, f"{name} is in pyproject.toml but not in the lock: make lock"
        for pinned, version, _ in pins:
            if pinned == name:
                assert requirement.specifier.contains(version, prereleases=True), (
                    f"the lock pins {name}=={version}, outside pyproject.toml's "
                    f"{requirement}: run make lock")


def test_binder_installs_exactly_the_lock():
    assert (ROOT / "binder" / "requirements.txt").read_text() == LOCK.read_text(), (
        "binder/requirements.txt differs from requirements.lock: run make lock")
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps ." in post_build.read_text()
    # Binder runs the Python that CI tests the lock on.
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


LEFT_OUT = ("rfc3987-syntax", "lark")  # the Makefile's NO_EMIT, and why


def test_the_lock_leaves_out_the_slow_optional_iri_checker():
    names = {name for name, _, _ in locked(LOCK.read_text())}
    assert not names & set(LEFT_OUT), f"{sorted(names & set(LEFT_OUT))}: see NO_EMIT in Makefile"
    makefile = (ROOT / "Makefile").read_text()
    assert all(f"--no-emit-package {name}" in makefile for name in LEFT_OUT)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert f"pip uninstall -y -q {' '.join(LEFT_OUT)}" in post_build


def test_jupyter_tools_start_without_building_the_iri_grammar():
    """nbformat (so nbgrader, nbclient, Voila) imports jsonschema, which imports
    rfc3987_syntax whenever it is installed."""
    code = "import sys, nbformat, nbgrader.apps; print('rfc3987_syntax' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_make_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-deps -r $(LOCK)" in makefile and "LOCK := requirements.lock" in makefile


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="checks the project's .venv (made by make test); this is another "
                           "environment")
def test_the_running_environment_is_the_lock():
    wrong = []
    for name, version, marker in locked(LOCK.read_text()):
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != version:
            wrong.append(f"{name}: locked {version}, installed {installed}")
    names = {name for name, _, _ in locked(LOCK.read_text())} | {"cnncourse", "pip"}
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    # only site-packages itself: setuptools puts its vendored copies on sys.path when imported
    extra = sorted(canonicalize_name(d.metadata["Name"]) for d in metadata.distributions(path=site)
                   if canonicalize_name(d.metadata["Name"]) not in names)
    assert not wrong and not extra, f"differs from the lock: {wrong}; not in it: {extra}"
