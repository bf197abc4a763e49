"""Parallel grading against serial grading, through the real nbgrader, gradebook and sandbox.

Two identical courses get the same twelve ps1 submissions: three correct, two untouched, two
partly right, one whose notebook hangs (a cell that sleeps until nbgrader's cell timeout),
two that kill their own kernel (``os._exit`` and a segfault), one that is not JSON, and one
whose grading process the test kills with SIGKILL while it runs (in the parallel run only; in
the serial one it just hangs). One course is graded by ``cnncourse exercises grade --jobs 1``
(one ``nbgrader autograde``), the other by ``--jobs 4``; every grade, comment and total in the
two gradebooks must agree. ``cnncourse exercises report`` then writes the CSV for an LMS,
read back here and compared with the gradebook. A last test merges a changed private
gradebook into a graded one, no kernel involved, and checks only that student changed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

from cnncourse.app.lms import PEOPLE  # noqa: E402
from cnncourse.app.parallel import merge_submission, snapshot  # noqa: E402
from cnncourse.app.sandbox import problem  # noqa: E402
from tests.test_exercises_nbgrader import (  # noqa: E402
    EXERCISES,
    WRONG_PS1,
    cell,
    environment,
    insert_after_setup,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(problem() is not None, reason=str(problem()))]

PS1 = "ps1_convolutions"
CELL_TIMEOUT = 40  # the hanging cells wait this long; ps1's own cells need a few seconds
SLEEP = "import time\ntime.sleep(10**6)"
HANGS, KILLED = "a_hangs", "z_killed"  # the first submission handed out, and the last
CRASHES = {"b_exits": "import os\nos._exit(3)", "b_segfaults": "import ctypes\nctypes.string_at(0)"}
NOT_JSON = "not_json"


def build_course(root: Path) -> Path:
    root.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    shutil.copytree(EXERCISES / "source" / PS1, root / "source" / PS1)
    cli(root, "release", PS1)
    source = nbformat.read(root / "source" / PS1 / f"{PS1}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / PS1 / f"{PS1}.ipynb", as_version=4)

    def submit(student: str, nb) -> None:
        folder = root / "submitted" / student / PS1
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{PS1}.ipynb")

    def solutions():
        return nbformat.from_dict(json.loads(json.dumps(source)))

    for n in range(3):
        submit(f"correct{n}", solutions())
    for n in range(2):
        submit(f"untouched{n}", release)
    for n, wrong in enumerate(("conv_output_size", "conv2d")):
        nb = solutions()
        cell(nb, wrong).source = WRONG_PS1[wrong]
        submit(f"partly{n}", nb)
    for student, code in {HANGS: SLEEP, KILLED: SLEEP, **CRASHES}.items():
        nb = solutions()
        insert_after_setup(nb, code)
        submit(student, nb)
    folder = root / "submitted" / NOT_JSON / PS1
    folder.mkdir(parents=True)
    text = (root / "source" / PS1 / f"{PS1}.ipynb").read_text()
    (folder / f"{PS1}.ipynb").write_text(text[: len(text) // 3])
    return root


def cli(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**environment(), "CNNCOURSE_CELL_TIMEOUT": str(CELL_TIMEOUT)}
    result = subprocess.run([sys.executable, "-m", "cnncourse.app.cli", "exercises", *args,
                             "--course", str(course)], cwd=course, env=env,
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def kill_the_worker_of(course: Path, student: str, stop: threading.Event, killed: list) -> None:
    """Wait for the sandbox of ``student``'s kernel (a bwrap working in its autograded
    folder), then SIGKILL its parent, the grading worker, as the out-of-memory killer would."""
    folder = os.path.realpath(course / "autograded" / student / PS1)
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            try:
                if not proc.name.isdigit() or os.readlink(proc / "cwd") != folder:
                    continue
                if (proc / "comm").read_text().strip() != "bwrap":
                    continue
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (Path("/proc") / str(parent) / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if b"cnncourse.app.parallel" in command:
                os.kill(parent, signal.SIGKILL)
                killed.append(parent)
                return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("parallel")
    serial, parallel = build_course(base / "serial"), build_course(base / "parallel")
    logs = {"serial": cli(serial, "grade", PS1, "--jobs", "1", check=False)}
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_the_worker_of, args=(parallel, KILLED, stop, killed))
    killer.start()
    try:
        logs["parallel"] = cli(parallel, "grade", PS1, "--jobs", "4", check=False)
    finally:
        stop.set()
        killer.join()
    logs["report"] = cli(parallel, "report", "--to", str(base / "export.csv"))
    return {"serial": serial, "parallel": parallel, "logs": logs, "killed": killed,
            "lms": base / "export_lms.csv"}


def gradebook_rows(course: Path) -> dict[str, dict]:
    """student -> total and every grade and comment of their ps1 submission."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        found = {}
        for submission in gb.assignment_submissions(PS1):
            notebook = submission.notebooks[0]
            found[submission.student_id] = {
                "score": submission.score,
                "grades": {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade)
                           for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments}}
        return found


STUDENTS = sorted(["correct0", "correct1", "correct2", "untouched0", "untouched1", "partly0",
                   "partly1", HANGS, KILLED, *CRASHES, NOT_JSON])


def test_twelve_submissions_of_every_kind():
    assert len(STUDENTS) == 12


def test_every_grade_equals_the_serial_runs(graded):
    serial, parallel = gradebook_rows(graded["serial"]), gradebook_rows(graded["parallel"])
    assert sorted(serial) == sorted(parallel) == STUDENTS  # nothing missing
    for student in STUDENTS:
        if student != KILLED:
            assert parallel[student] == serial[student], student
    assert serial["correct0"]["score"] == 16 and serial["untouched0"]["score"] == 0
    assert 0 < serial["partly0"]["score"] < 16 and 0 < serial["partly1"]["score"] < 16
    assert serial[HANGS]["score"] == 16  # the sleeping cell was interrupted, the rest graded


def test_the_printed_scores_are_the_gradebooks(graded):
    for mode in ("serial", "parallel"):
        printed = dict(re.findall(rf"^{PS1}: (\S+) ([\d.]+) / 16$",
                                  graded["logs"][mode].stdout, re.M))
        rows = gradebook_rows(graded[mode])
        assert {s: float(v) for s, v in printed.items()} == {
            s: rows[s]["score"] for s in printed}
        assert set(printed) == set(STUDENTS) - {*CRASHES, NOT_JSON} - (
            {KILLED} if mode == "parallel" else set())
        assert f"graded {len(printed)} of 12 submissions" in graded["logs"][mode].stdout


def errors_of(log: subprocess.CompletedProcess) -> dict[str, str]:
    """student -> the error line printed for them."""
    return {line.split(",")[0].split()[-1]: line for line in log.stderr.splitlines()
            if line.startswith("cnncourse exercises: error: student ")}


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_failures_are_reported_for_their_student_alone(graded, mode):
    log, course = graded["logs"][mode], graded[mode]
    errors = errors_of(log)
    assert log.returncode == 1
    failing = {*CRASHES, NOT_JSON} | ({KILLED} if mode == "parallel" else set())
    assert set(errors) == failing, log.stderr[-3000:]
    assert "is not valid JSON" in errors[NOT_JSON]
    for student in failing:
        assert not (course / "autograded" / student / PS1).exists(), student
    if mode == "parallel":
        for student in CRASHES:
            assert "DeadKernelError: Kernel died" in errors[student]


def test_a_worker_that_dies_is_reported_for_its_student(graded):
    assert len(graded["killed"]) == 1, "the test found no worker grading z_killed to kill"
    assert "its grading process died (killed by SIGKILL)" in errors_of(
        graded["logs"]["parallel"])[KILLED]


def test_the_hanging_notebook_does_not_hold_up_the_others(graded):
    """It is handed out first and sleeps the whole cell timeout: meanwhile the other workers
    finish several submissions (in the serial run nothing can finish before it)."""
    lines = [line.split()[1] for line in graded["logs"]["parallel"].stdout.splitlines()
             if line.startswith(f"{PS1}: ")]
    assert sorted(lines) == STUDENTS
    assert lines.index(HANGS) >= 3, lines


def test_the_lms_csv_has_one_row_per_student_and_the_gradebooks_scores(graded):
    with open(graded["lms"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [*PEOPLE, PS1, "total", "max_total"]
    gradebook = gradebook_rows(graded["parallel"])
    assert [r["student_id"] for r in rows] == STUDENTS
    for row in rows:
        assert float(row[PS1]) == float(row["total"]) == gradebook[row["student_id"]]["score"]
        assert float(row["max_total"]) == 16
    assert str(graded["lms"]) in graded["logs"]["report"].stdout


def test_merging_a_private_gradebook_changes_that_student_alone(graded, tmp_path):
    """The one writer's step, on the real gradebook: a private copy in which one grade and
    one comment of ``partly0`` were changed is merged into the graded gradebook."""
    main, private = tmp_path / "main.db", tmp_path / "private.db"
    snapshot(graded["parallel"] / "gradebook.db", main)
    shutil.copyfile(main, private)
    with Gradebook(f"sqlite:///{private}") as gb:
        grade = gb.find_grade("conv2d_hidden", PS1, PS1, "partly0")
        grade.manual_score = 1.5
        gb.find_comment("conv2d", PS1, PS1, "partly0").manual_comment = "see me"
        gb.db.commit()

    def rows_of(db: Path) -> dict:
        copy = tmp_path / "course"
        copy.mkdir(exist_ok=True)
        shutil.copyfile(db, copy / "gradebook.db")
        return gradebook_rows(copy)

    before = rows_of(main)
    assert merge_submission(main, private, PS1, "partly0")
    after = rows_of(main)
    assert {s: r for s, r in after.items() if s != "partly0"} == {
        s: r for s, r in before.items() if s != "partly0"}
    assert after["partly0"]["grades"]["conv2d_hidden"][1] == 1.5
    with sqlite3.connect(main) as db:
        comments = [r[0] for r in db.execute("SELECT manual_comment FROM comment")]
    assert comments.count("see me") == 1
    assert not merge_submission(main, private, PS1, "nobody")


def test_jobs_must_be_a_positive_whole_number(tmp_path):
    for value, message in (("0", "1 (one at a time) or more"), ("two", "whole number")):
        result = subprocess.run([sys.executable, "-m", "cnncourse.app.cli", "exercises",
                                 "grade", "--jobs", value], capture_output=True, text=True)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
