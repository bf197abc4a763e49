"""The grading sandbox: what a kernel inside it can reach, the seeds drawn at grading time, and
the one-line refusal where no sandbox can be made (the full nbgrader run is in
``test_sandbox_grading``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnncourse.app.preprocessors import checks_in, draw_seeds
from cnncourse.app.sandbox import bwrap_command, problem

REPO = Path(__file__).resolve().parent.parent
needs_bwrap = pytest.mark.skipif(problem() is not None, reason=str(problem()))

HIDDEN = """# Hidden tests of conv2d (5 points) run when your notebook is graded.
### BEGIN HIDDEN TESTS
from cnncourse import grading

grading.hidden_check("conv2d", conv2d, seed=319857)
grading.check_conv2d(conv2d)
grading.hidden_check("pool2d", pool2d, 11)
### END HIDDEN TESTS
"""


def test_draw_seeds_replaces_every_hidden_seed_and_nothing_else():
    drawn = iter([123456789, 42])
    out = draw_seeds(HIDDEN, lambda n: next(drawn))
    assert "319857" not in out and ", 11)" not in out
    assert out.replace("123456789", "319857").replace("pool2d, 42", "pool2d, 11") == HIDDEN
    assert [(c.name, c.hidden, c.seed) for c in checks_in(out)] == [
        ("conv2d", True, 123456789), ("conv2d", False, None), ("pool2d", True, 42)]


def test_drawn_seeds_differ_between_gradings_and_bad_source_is_kept():
    seeds = {checks_in(draw_seeds(HIDDEN))[0].seed for _ in range(5)}
    assert len(seeds) == 5 and 319857 not in seeds
    assert draw_seeds("def broken(:\n    seed=3") == "def broken(:\n    seed=3"


PROBE = """
import json, os, resource, socket
seen = {"uid": os.getuid(), "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
        "secret": os.environ.get("CNNCOURSE_TEST_SECRET"),
        "limits": [resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
                   for n in ("AS", "CPU", "NPROC", "FSIZE")]}
for name, path in [("repo", REPO), ("home", os.path.expanduser("~root"))]:
    seen[name] = os.path.exists(path) and sorted(os.listdir(path))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    seen["network"] = "open"
except OSError as err:
    seen["network"] = type(err).__name__
print(json.dumps(seen))
"""


@needs_bwrap
def test_a_kernel_in_the_sandbox_sees_only_its_copy_and_its_limits(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "notebook.ipynb").write_text("{}")
    connection = tmp_path / "kernel.json"
    connection.write_text("{}")
    limits = {"memory": 3 * 2**30, "cpu_seconds": 77, "processes": 99, "disk": 5 * 2**20}
    code = PROBE.replace("REPO", repr(str(REPO)))
    cmd = bwrap_command(str(folder), str(connection), limits, [sys.executable, "-c", code],
                        root=os.getuid() == 0)
    env = {**os.environ, "CNNCOURSE_TEST_SECRET": "token"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["uid"] != 0 and seen["cwd"] == "/tmp/work"
    assert "notebook.ipynb" in seen["files"] and seen["secret"] is None
    assert seen["limits"] == [3 * 2**30, 77, 99, 5 * 2**20]
    assert set(seen["repo"]) <= {"cnncourse", ".venv"}  # not exercises/, tests/, ...
    assert seen["home"] in (False, [], [".pyenv"])
    assert seen["network"] == "OSError"
    assert (folder / "notebook.ipynb").read_text() == "{}"  # the kernel worked on a copy


def tiny_course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(REPO / "exercises" / "source", course / "source")
    shutil.copy(REPO / "exercises" / "nbgrader_config.py", course)
    (course / "release" / "ps1_convolutions").mkdir(parents=True)
    submitted = course / "submitted" / "someone" / "ps1_convolutions"
    submitted.mkdir(parents=True)
    (submitted / "ps1_convolutions.ipynb").write_text('{"cells": []}')
    return course


def without_bwrap() -> dict[str, str]:
    """The environment with only this Python's folder on PATH, where bwrap is not."""
    return {**os.environ, "PATH": os.path.dirname(sys.executable)}


@pytest.mark.skipif(shutil.which("bwrap", path=os.path.dirname(sys.executable)) is not None,
                    reason="bwrap next to this Python")
def test_grading_without_bwrap_refuses_in_one_line(tmp_path):
    course = tiny_course(tmp_path)
    grade = subprocess.run([sys.executable, "-m", "cnncourse.app.cli", "exercises", "grade",
                            "ps1_convolutions", "--course", str(course)],
                           capture_output=True, text=True, env=without_bwrap())
    assert grade.returncode != 0
    assert grade.stderr.count("\n") == 1
    assert "bwrap is not installed" in grade.stderr and "apt-get install bubblewrap" in \
        grade.stderr and "--no-sandbox" in grade.stderr
    assert not (course / "gradebook.db").exists()
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "ps1_convolutions"],
                           cwd=course, capture_output=True, text=True, env=without_bwrap())
    assert plain.returncode != 0
    assert "bwrap is not installed" in plain.stderr and "CNNCOURSE_NO_SANDBOX=1" in plain.stderr
    assert not (course / "autograded").exists()


def test_no_sandbox_warns(tmp_path):
    course = tiny_course(tmp_path)
    shutil.rmtree(course / "submitted")
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "ps1_convolutions"],
                           cwd=course, capture_output=True, text=True,
                           env={**without_bwrap(), "CNNCOURSE_NO_SANDBOX": "1"})
    assert "CNNCOURSE_NO_SANDBOX=1: student code runs unconfined" in plain.stderr
