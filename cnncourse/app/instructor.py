"""Instructor commands for the graded exercises: ``cnncourse exercises``, run with nbgrader.

    cnncourse exercises release  [ASSIGNMENT ...]    student versions into release/
    cnncourse exercises grade    [ASSIGNMENT ...]    autograde everything in submitted/
                                 [--jobs N]          N at a time (default: the cores)
    cnncourse exercises feedback [ASSIGNMENT ...]    feedback HTML into feedback/
    cnncourse exercises report   [--to FILE]         a CSV of every score, and one for an LMS

Each runs nbgrader in the course folder (``exercises/`` of a clone, or ``--course DIR``), so
``nbgrader_config.py`` there applies. nbgrader's own log goes to the terminal; problems end in
one line that says what to do. The steps the course adds to nbgrader are in
``preprocessors``; ``grade`` runs every notebook in a sandbox (``sandbox``), several at once
(``parallel``); ``report``'s file for an LMS is written by ``lms``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CommandError
from .options import whole_number
from .parallel import Outcome, Workers, default_jobs, grade_class

CONFIG_FILE = "nbgrader_config.py"


# ---------------------------------------------------------------------------------------------
# Where the course is, and running nbgrader there
# ---------------------------------------------------------------------------------------------


def find_course(course: str | None = None, cwd: Path | None = None) -> Path:
    """The nbgrader course folder: ``course`` if given, else the current folder if it holds
    ``nbgrader_config.py``, else ``./exercises``, else the ``exercises/`` of this clone."""
    here = Path.cwd() if cwd is None else cwd
    if course is not None:
        folder = Path(course).expanduser()
        if not (folder / CONFIG_FILE).is_file():
            raise CommandError(f"{folder} is not an nbgrader course (no {CONFIG_FILE} in it); "
                               "pass the folder that holds it with --course")
        return folder
    package_clone = Path(__file__).resolve().parents[2] / "exercises"
    for folder in (here, here / "exercises", package_clone):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise CommandError(f"no nbgrader course in {here}: run from the repository root or pass "
                       "--course DIR (the folder with nbgrader_config.py)")


def source_assignments(course: Path) -> list[str]:
    """Assignment names: the folders of ``source/``."""
    source = course / "source"
    return sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []


def _assignments(course: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """The assignments to process, and the ids to give nbgrader: ``*`` (one run) for all."""
    known = source_assignments(course)
    if not known:
        raise CommandError(f"{course / 'source'} holds no assignment; put each assignment's "
                           "notebooks in source/<assignment>/")
    for name in wanted:
        if name not in known:
            raise CommandError(f"unknown assignment {name!r}; choose from {', '.join(known)}")
    return (wanted, wanted) if wanted else (known, ["*"])


def nbgrader_env(sandbox: bool = True) -> dict[str, str]:
    """The environment nbgrader runs in. The environment's ``bin`` folder goes first on
    ``PATH``: nbgrader runs the ``alembic`` command from there when it creates its database.
    ``sandbox=False`` sets ``CNNCOURSE_NO_SANDBOX=1``: the course's config then runs notebooks
    unconfined."""
    env = dict(os.environ)
    if not sandbox:
        env["CNNCOURSE_NO_SANDBOX"] = "1"
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_nbgrader(course: Path, *args: str, sandbox: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` with this Python in ``course`` (in ``nbgrader_env(sandbox)``);
    its log is captured and returned."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          env=nbgrader_env(sandbox), capture_output=True, text=True)


def _echo(result: subprocess.CompletedProcess, verbose: bool) -> None:
    if verbose:
        sys.stderr.write(result.stdout + result.stderr)


def _last_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if "ERROR" in line or "Error" in line]
    return (lines[-1] if lines else f"nbgrader exited with code {result.returncode}").strip()


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------


def _run_each(course: Path, command: str, ids: list[str], doing: str, verbose: bool) -> None:
    """Run ``nbgrader COMMAND ID --force`` for each assignment id; stop at the first failure
    with one line saying what could not be done."""
    for assignment_id in ids:
        result = run_nbgrader(course, command, assignment_id, "--force")
        _echo(result, verbose)
        if result.returncode != 0:
            what = "the assignments" if assignment_id == "*" else assignment_id
            raise CommandError(f"could not {doing} {what}: {_last_error(result)} (run with "
                               "--verbose for nbgrader's log)")


def cmd_release(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    names, ids = _assignments(course, args.assignments)
    _run_each(course, "generate_assignment", ids, "release", args.verbose)
    for name in names:
        print(f"released {name}: {course / 'release' / name}")
    return 0


def check_submission(path: Path) -> str | None:
    """``None`` if ``path`` is a readable notebook, else why not, in one sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return f"{path.name} cannot be read ({err})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return f"{path.name} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return f"{path.name} is JSON but not a notebook (it has no list of cells)"
    return None


@dataclass(frozen=True)
class Score:
    student: str
    score: float
    max_score: float


def gradebook_scores(course: Path, assignment: str) -> list[Score]:
    """The total score of every graded submission of ``assignment``, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    db = course / "gradebook.db"
    if not db.is_file():
        return []
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return []
        return sorted((Score(s.student_id, s.score, s.max_score) for s in submissions),
                      key=lambda s: s.student)


def cmd_grade(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    names, ids = _assignments(course, args.assignments)
    for name in names:
        if not (course / "release" / name).is_dir():
            raise CommandError(f"{name} is not released yet: run 'cnncourse exercises release "
                               f"{name}' first, then grade")
    submissions = {name: sorted((course / "submitted").glob(f"*/{name}")) for name in names}
    if not any(submissions.values()):
        print(f"nothing to grade: put submissions in {course / 'submitted'}/<student>/"
              "<assignment>/")
        return 0
    pairs = [(name, folder.parent.name) for name, folders in submissions.items()
             for folder in folders]
    jobs = min(args.jobs, len(pairs))
    # The workers start now: their imports overlap the checks below.
    with Workers(course, nbgrader_env(not args.no_sandbox), jobs if jobs > 1 else 0) as workers:
        if args.no_sandbox:
            print("cnncourse exercises: warning: --no-sandbox: student code runs with your "
                  "rights and can read and change the course folder (gradebook included)",
                  file=sys.stderr)
        else:
            from .sandbox import problem  # jupyter_client and nbgrader: only when grading

            why = problem()
            if why:
                raise CommandError(f"{why}; or grade without it: --no-sandbox")
        broken = {}
        for name, folders in submissions.items():
            for folder in folders:
                for notebook in sorted(folder.glob("*.ipynb")):
                    problem = check_submission(notebook)
                    if problem:
                        broken[folder.parent.name, name] = problem
        start = time.perf_counter()
        if jobs > 1:
            failed = _grade_in_parallel(workers, pairs, jobs, broken, args)
        else:
            failed = _grade_serially(course, submissions, ids, broken, args)
    graded = len(pairs) - len(failed)
    print(f"graded {graded} of {len(pairs)} submissions in {time.perf_counter() - start:.0f} s"
          f" ({jobs} at a time)")
    for line in failed:
        print(f"cnncourse exercises: error: {line}", file=sys.stderr)
    return 1 if failed else 0


def _resubmit(student: str, name: str, why: str) -> str:
    return (f"student {student}, {name}: {why}; ask them to submit the notebook again (the "
            "others were graded)")


def _grade_serially(course: Path, submissions: dict[str, list[Path]], ids: list[str],
                    broken: dict, args: argparse.Namespace) -> list[str]:
    """One ``nbgrader autograde`` per assignment id; the scores printed after each run."""
    results = [run_nbgrader(course, "autograde", assignment_id, "--force",
                            sandbox=not args.no_sandbox) for assignment_id in ids]
    for result in results:
        _echo(result, args.verbose)
    failed = []
    for name, folders in submissions.items():
        graded = {s.student: s for s in gradebook_scores(course, name)}
        for folder in folders:
            student = folder.parent.name
            if (student, name) in broken:
                failed.append(_resubmit(student, name, broken[student, name]))
            elif student in graded and (course / "autograded" / student / name).is_dir():
                s = graded[student]
                print(f"{name}: {student} {s.score:g} / {s.max_score:g}")
            else:
                failed.append(f"student {student}, {name}: nbgrader could not grade it "
                              f"({_last_error(results[-1])}); rerun with --verbose for the "
                              "log")
    return failed


def _grade_in_parallel(workers: Workers, pairs: list[tuple[str, str]], jobs: int,
                       broken: dict, args: argparse.Namespace) -> list[str]:
    """``jobs`` submissions at a time (``parallel``); each score printed as it is saved."""
    course, failed = workers.course, []

    def done(outcome: Outcome) -> None:
        name, student = outcome.assignment, outcome.student
        if args.verbose:
            sys.stderr.write(outcome.log)
        graded = outcome.problem is None and (course / "autograded" / student / name).is_dir()
        score = next((s for s in gradebook_scores(course, name) if s.student == student), None)
        if graded and score is not None:
            print(f"{name}: {student} {score.score:g} / {score.max_score:g}", flush=True)
            return
        print(f"{name}: {student} not graded (see below)", flush=True)
        if (student, name) in broken:
            failed.append(_resubmit(student, name, broken[student, name]))
        else:
            failed.append(f"student {student}, {name}: {outcome.problem or 'no score saved'}; "
                          "rerun with --verbose for the log")

    grade_class(workers, pairs, jobs, done)
    return failed


def cmd_feedback(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    names, ids = _assignments(course, args.assignments)
    graded = [name for name in names if list((course / "autograded").glob(f"*/{name}"))]
    if not graded or (args.assignments and graded != names):
        missing = sorted(set(names) - set(graded))[0]
        raise CommandError(f"{missing} has no graded submission yet: run 'cnncourse "
                           f"exercises grade {missing}' first")
    _run_each(course, "generate_feedback", ids, "generate feedback for", args.verbose)
    for name in graded:
        print(f"feedback for {name}: {course / 'feedback'}/<student>/{name}/*.html")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    target = Path(args.to).expanduser().resolve() if args.to else course / "grades.csv"
    lms = (Path(args.lms).expanduser().resolve() if args.lms
           else target.with_name(f"{target.stem}_lms.csv"))
    if not (course / "gradebook.db").is_file():
        raise CommandError("nothing graded yet: run 'cnncourse exercises grade' first")
    for path, option in ((target, "--to"), (lms, "--lms")):
        if not path.parent.is_dir():
            raise CommandError(f"folder {path.parent} does not exist; choose another {option}")
    result = run_nbgrader(course, "export", "--to", str(target))
    _echo(result, args.verbose)
    if result.returncode != 0 or not target.is_file():
        raise CommandError(f"could not export the scores: {_last_error(result)}")
    for name in source_assignments(course):
        scores = gradebook_scores(course, name)
        if scores:
            mean = sum(s.score for s in scores) / len(scores)
            print(f"{name}: {len(scores)} graded, mean {mean:.1f} / {scores[0].max_score:g}")
    from .lms import write_lms_csv

    students = write_lms_csv(course / "gradebook.db", lms)
    print(f"scores of every student and assignment: {target}")
    print(f"one row per student, one column per assignment (for an LMS): {lms} ({students} "
          "students)")
    return 0


_jobs = whole_number("--jobs", 1, "one at a time")


def add_exercises_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``exercises release|grade|feedback|report`` to the ``cnncourse`` command line."""
    parser = subparsers.add_parser(
        "exercises", help="instructor commands for the graded exercises (nbgrader)",
        description="Instructor commands for the nbgrader exercises. They run nbgrader in the "
                    "course folder: exercises/ of a clone, or --course DIR.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    commands = {
        "release": (cmd_release, "generate the student versions into release/"),
        "grade": (cmd_grade, "autograde every submission in submitted/<student>/<assignment>/"),
        "feedback": (cmd_feedback, "write feedback HTML for every graded submission"),
        "report": (cmd_report, "export every score to CSV files (nbgrader's, and one for an "
                               "LMS)"),
    }
    for action, (func, help_text) in commands.items():
        sub = actions.add_parser(action, help=help_text, description=help_text[0].upper()
                                 + help_text[1:] + ".")
        if action != "report":
            sub.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                             help="assignments to process (default: all in source/)")
        else:
            sub.add_argument("--to", metavar="FILE", help="nbgrader's CSV export, one row "
                             "per student and assignment (default: grades.csv in the course "
                             "folder)")
            sub.add_argument("--lms", metavar="FILE", help="the CSV for an LMS gradebook, one "
                             "row per student (default: beside --to, NAME_lms.csv)")
        if action == "grade":
            sub.add_argument("--no-sandbox", action="store_true",
                             help="run the notebooks unconfined (only for code you trust)")
            sub.add_argument("--jobs", type=_jobs, default=default_jobs(), metavar="N",
                             help="grade N submissions at a time (default: the cores, "
                                  f"{default_jobs()} here)")
        sub.add_argument("--course", metavar="DIR", help="the nbgrader course folder")
        sub.add_argument("--verbose", action="store_true", help="show nbgrader's log")
        sub.set_defaults(func=func)

    def missing(args: argparse.Namespace) -> int:
        raise CommandError("choose an action: release, grade, feedback or report")

    parser.set_defaults(func=missing)
    return parser
