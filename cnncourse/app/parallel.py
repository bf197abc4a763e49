"""Grading a class in parallel: ``cnncourse exercises grade --jobs N``.

nbgrader's gradebook is one SQLite file, and ``nbgrader autograde`` writes it from start to
end of every submission (the student, the submission, then each grade as its cell is scored).
Several autograde runs on one file would contend for SQLite's one write lock (a writer waits
for its timeout, then fails with "database is locked"), and two that add the same student at
once would collide on the row. So no worker ever opens the gradebook:

* **One snapshot.** Before any work starts, the gradebook is copied (SQLite's backup, a
  consistent copy) into a temporary folder outside the course.
* **A private gradebook per submission.** Each (assignment, student) gets its own copy of the
  snapshot. A worker grades it with nbgrader's own ``autograde`` command, run in the worker's
  process (``nbgrader autograde A --student S --force --db <the copy>``), in the course
  folder, each kernel in the sandbox. The notebook it writes, ``autograded/S/A/``, belongs to
  that submission alone.
* **One writer.** As each submission finishes, the parent process copies that student's rows
  of that assignment (the student, the submission, its notebooks, grades and comments; every
  column that is not a key) from the private copy into the course's gradebook, in its main
  thread, one submission after another. The snapshot held the same rows as the gradebook, so
  the result is what a serial ``nbgrader autograde`` writes for that student, failures included
  (nbgrader records a submission even when its notebook cannot be run).

Workers are long-lived processes (``python -m cnncourse.app.parallel COURSE``), each importing
nbgrader and torch once and taking one submission at a time from the parent: a fresh Python for
every student would spend seconds on imports. ``Workers`` starts them before the command's own
checks (the sandbox probe), so that those imports overlap. A notebook that loops is stopped by
nbgrader's cell timeout, one that kills its kernel is nbgrader's error; either way only that
worker is busy meanwhile. A worker that dies (killed, out of memory) is reported for the
submission it had, its half-written ``autograded/`` folder removed, and a new worker takes the
next one. Each submission's nbgrader log goes to its own file; the parent shows the last error
line of a failure, or every log with ``--verbose``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def default_jobs() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Outcome:
    """How the grading of one submission went: ``problem`` is ``None`` when it was graded."""

    assignment: str
    student: str
    problem: str | None
    seconds: float
    log: str


# ---------------------------------------------------------------------------------------------
# The gradebook: a snapshot for the workers, and the one writer
# ---------------------------------------------------------------------------------------------


def snapshot(db: Path, target: Path) -> None:
    """A consistent copy of the SQLite file ``db`` in ``target`` (SQLite's online backup)."""
    source, copy = sqlite3.connect(db), sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        source.close()
        copy.close()


def _values(row, model) -> dict:
    """Every column of ``row`` that is not a key (the ids and the links between tables)."""
    return {c.name: getattr(row, c.name) for c in model.__table__.columns
            if not c.primary_key and not c.foreign_keys}


def merge_submission(gradebook: Path, private: Path, assignment: str, student: str) -> bool:
    """Copy ``student``'s submission of ``assignment`` from the gradebook file ``private``
    into ``gradebook``: the student, the submission, and every notebook, grade and comment in
    it. ``False`` when ``private`` holds no such submission (nbgrader never got that far)."""
    from nbgrader.api import (
        Comment,
        Grade,
        Gradebook,
        MissingEntry,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )
    from sqlalchemy.exc import SAWarning

    with Gradebook(f"sqlite:///{private}") as theirs:
        try:
            submission = theirs.find_submission(assignment, student)
        except MissingEntry:
            return False
        person = _values(submission.student, Student)
        handed_in = _values(submission, SubmittedAssignment)
        notebooks = [(nb.name, _values(nb, SubmittedNotebook),
                      [(g.name, _values(g, Grade)) for g in nb.grades],
                      [(c.name, _values(c, Comment)) for c in nb.comments])
                     for nb in submission.notebooks]
    with Gradebook(f"sqlite:///{gradebook}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own, serial runs print it too
        gb.update_or_create_student(student, **person)
        gb.update_or_create_submission(assignment, student, **handed_in)
        for name, values, grades, comments in notebooks:
            rows = [(gb.find_submission_notebook(name, assignment, student), values)]
            rows += [(gb.find_grade(cell, name, assignment, student), v) for cell, v in grades]
            rows += [(gb.find_comment(cell, name, assignment, student), v)
                     for cell, v in comments]
            for row, values in rows:
                for column, value in values.items():
                    setattr(row, column, value)
        gb.db.commit()
    return True


# ---------------------------------------------------------------------------------------------
# The parent: workers, the queue of submissions, the one writer
# ---------------------------------------------------------------------------------------------


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Worker:
    """One grading process, fed one submission at a time over its stdin."""

    def __init__(self, course: Path, env: dict[str, str], log: Path) -> None:
        with open(log, "ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(course)], cwd=course, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                start_new_session=True)  # its own group: stopped with its kernels

    def grade(self, task: dict) -> dict | None:
        """The worker's reply to ``task``; ``None`` if it died first."""
        try:
            self.process.stdin.write(json.dumps(task) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (OSError, ValueError):
            line = ""
        return json.loads(line) if line else None

    def ended(self) -> str:
        return _how_it_ended(self.process.wait())

    def stop(self, now: bool = False) -> None:
        if self.process.poll() is None and not now:
            self.process.stdin.close()  # end of input: it finishes and exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _last_error(log: Path) -> str:
    """The line of ``log`` that says best what went wrong: the last exception, else the last
    error line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Exit): ", line)]
    errors = [line for line in lines if "ERROR" in line and "see the the above" not in line]
    found = raised or errors or lines or ["no log"]
    return re.sub(r"^[\w.]+\.(?=\w+: )", "", found[-1])  # DeadKernelError, not nbclient...


class Workers:
    """Grading processes for ``course``: ``jobs`` of them started at once, so that their
    seconds of imports overlap whatever the caller does next; ``take()`` hands out one of
    those, or starts a new one. A context manager: on leaving, no worker is left running."""

    def __init__(self, course: Path, env: dict[str, str], jobs: int) -> None:
        self.course, self.env = course, env
        self._folder = tempfile.TemporaryDirectory(prefix="cnncourse-grade-")
        self.scratch = Path(self._folder.name)  # snapshots, private gradebooks, logs
        self._lock = threading.Lock()
        self._started: list[Worker] = []
        self._ready: queue.Queue = queue.Queue()
        for _ in range(jobs):
            self._ready.put(self._start())

    def _start(self) -> Worker:
        with self._lock:
            worker = Worker(self.course, self.env, self.scratch / f"worker{len(self._started)}.log")
            self._started.append(worker)
        return worker

    def take(self) -> Worker:
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            return self._start()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            for worker in self._started:
                worker.stop(now=True)
        self._folder.cleanup()


def grade_class(workers: Workers, submissions: list[tuple[str, str]], jobs: int,
                done: Callable[[Outcome], None]) -> list[Outcome]:
    """Grade every ``(assignment, student)`` of ``submissions``, ``jobs`` at a time.

    ``done(outcome)`` is called in the calling thread as each submission is written into
    the gradebook; the outcomes come back in the order they finished."""
    course, scratch = workers.course, workers.scratch
    gradebook = course / "gradebook.db"
    for student in {student for _, student in submissions}:  # no two workers make one folder
        (course / "autograded" / student).mkdir(parents=True, exist_ok=True)
    snapshot(gradebook, scratch / "snapshot.db")
    todo: queue.Queue = queue.Queue()
    for index, (assignment, student) in enumerate(submissions):
        todo.put({"assignment": assignment, "student": student,
                  "db": str(scratch / f"{index}.db"), "log": str(scratch / f"{index}.log")})
    finished: queue.Queue = queue.Queue()
    stopping = threading.Event()

    def slot() -> None:
        worker = None
        while not stopping.is_set():
            try:
                task = todo.get_nowait()
            except queue.Empty:
                break
            shutil.copyfile(scratch / "snapshot.db", task["db"])
            worker = worker or workers.take()
            start = time.perf_counter()
            reply = worker.grade(task)
            if reply is None:  # nbgrader never finished: no half-made notebook is kept
                reply = {"ok": False, "problem": f"its grading process died "
                         f"({worker.ended()}) ({_last_error(Path(task['log']))})"}
                shutil.rmtree(course / "autograded" / task["student"] / task["assignment"],
                              ignore_errors=True)
                worker = None
            finished.put((task, reply, time.perf_counter() - start))
        if worker is not None:
            worker.stop()

    threads = [threading.Thread(target=slot, daemon=True) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    outcomes = []
    try:
        for _ in submissions:
            task, reply, seconds = finished.get()
            merge_submission(gradebook, Path(task["db"]), task["assignment"], task["student"])
            log = Path(task["log"])
            outcome = Outcome(task["assignment"], task["student"],
                              None if reply["ok"] else reply["problem"], seconds,
                              log.read_text(errors="replace") if log.is_file() else "")
            outcomes.append(outcome)
            done(outcome)
        for thread in threads:
            thread.join()
    finally:  # Ctrl-C or an error here: no slot takes another submission
        stopping.set()
    return outcomes


# ---------------------------------------------------------------------------------------------
# The worker: ``python -m cnncourse.app.parallel COURSE``
# ---------------------------------------------------------------------------------------------


def autograde(assignment: str, student: str, db: str) -> str | None:
    """Run ``nbgrader autograde ASSIGNMENT --student STUDENT --force --db DB`` in this process
    (the course folder is the current one); ``None`` if it succeeded, else what went wrong."""
    from jupyter_core.application import NoStart
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.apps.nbgraderapp import NbGraderApp

    for app_class in (NbGraderApp, AutogradeApp):
        app_class.clear_instance()
    app = NbGraderApp.instance()
    try:
        app.initialize(["autograde", assignment, f"--student={student}", "--force",
                        f"--db=sqlite:///{db}"])
        app.start()
    except NoStart:  # how jupyter's apps end after running their subcommand
        pass
    except SystemExit as stop:
        if stop.code not in (0, None):
            return f"nbgrader could not grade it (exit code {stop.code})"
    except Exception as err:  # nbgrader's own error: the log has its traceback
        import traceback

        traceback.print_exc()
        return f"nbgrader could not grade it ({type(err).__name__}: {err})"
    return None


def _serve(course: str) -> None:
    os.chdir(course)
    replies = os.fdopen(os.dup(1), "w", buffering=1)  # the one channel back to the parent
    os.dup2(2, 1)  # a stray print goes to the log, never into the replies
    # The seconds of imports, once per worker: nbgrader, and torch for VerifyAnswers' checks.
    import nbgrader.apps  # noqa: F401

    import cnncourse.grading  # noqa: F401

    for line in sys.stdin:
        task = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(2)
        log = os.open(task["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            why = autograde(task["assignment"], task["student"], task["db"])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.dup2(saved, 2)
            os.close(saved)
            os.close(log)
        if why and why.startswith("nbgrader could not grade it (exit"):
            why = f"nbgrader could not grade it ({_last_error(Path(task['log']))})"
        replies.write(json.dumps({"ok": why is None, "problem": why}) + "\n")


if __name__ == "__main__":
    _serve(sys.argv[1])
