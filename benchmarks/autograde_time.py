"""Autograde time per notebook: how long nbgrader takes to grade one submission of each exercise.

    python benchmarks/autograde_time.py [--data DIR] [--only ps1 ps2 ...]

In a temporary copy of ``exercises/`` it generates the student versions, submits the solutions
as one student, and times ``nbgrader autograde <assignment>`` for each assignment, run as a
subprocess as an instructor runs it (kernel start, the notebook, the re-check of the answers).
An autograde run that finds no submission gives nbgrader's own start-up time. Prints one JSON
line: seconds per assignment (``<assignment>_s``), ``nbgrader_startup_s``,
``mean_per_notebook_s`` (without the start-up; this is what each extra student costs),
``total_s``, whether every notebook got full marks, and the machine's load average (other
work slows grading down). For each assignment, where its time goes (``<assignment>_breakdown``,
read from the cell timings nbclient records in the graded notebook): ``first_cell_s`` (the
imports: torch, cnncourse.grading), ``other_cells_s`` (the student's code and the tests),
and ``rest_s``: nbgrader's own start-up, the sandbox and kernel start, and saving the results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"


def nbgrader(course: Path, env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True)
    return time.perf_counter() - start, result


def _cell_seconds(cell: dict) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except KeyError:
        return 0.0
    return (end - start).total_seconds()


def breakdown(graded: Path, total: float) -> dict[str, float]:
    """Seconds of the first code cell, of the other cells, and of everything else."""
    cells = [c for c in json.loads(graded.read_text())["cells"] if c["cell_type"] == "code"]
    first = _cell_seconds(cells[0]) if cells else 0.0
    others = sum(_cell_seconds(c) for c in cells[1:])
    return {"first_cell_s": round(first, 2), "other_cells_s": round(others, 2),
            "rest_s": round(total - first - others, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CNNCOURSE_DATA", str(DEFAULT_DATA)),
                        help="MNIST folder for ps4 (default: $CNNCOURSE_DATA or "
                             "../shared/data/mnist)")
    parser.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                        help="grade only the assignments whose names start with these "
                             "(e.g. --only ps1 ps2 ps3)")
    args = parser.parse_args()
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if Path(args.data).is_dir():
        env["CNNCOURSE_DATA"] = args.data
    begin = time.perf_counter()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="cnncourse-autograde-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        shutil.copy(REPO / "exercises" / "nbgrader_config.py", course)
        shutil.copytree(REPO / "exercises" / "source", course / "source")
        _, result = nbgrader(course, env, "generate_assignment", "*", "--force")
        if result.returncode != 0:
            sys.exit(f"nbgrader generate_assignment failed:\n{result.stderr[-2000:]}")
        assignments = sorted(p.name for p in (course / "source").iterdir() if p.is_dir()
                             and (args.only is None or p.name.startswith(tuple(args.only))))
        if not assignments:
            sys.exit(f"no assignment starts with {args.only}")
        for name in assignments:
            folder = course / "submitted" / "solutions" / name
            folder.mkdir(parents=True)
            shutil.copy(course / "source" / name / f"{name}.ipynb", folder)
        startup, _ = nbgrader(course, env, "autograde", assignments[0], "--student=nobody")
        figures["nbgrader_startup_s"] = round(startup, 2)
        per_notebook = []
        for name in assignments:
            seconds, result = nbgrader(course, env, "autograde", name, "--force")
            if result.returncode != 0:
                sys.exit(f"nbgrader autograde {name} failed:\n{result.stderr[-2000:]}")
            figures[f"{name}_s"] = round(seconds, 2)
            graded = course / "autograded" / "solutions" / name / f"{name}.ipynb"
            figures[f"{name}_breakdown"] = breakdown(graded, seconds)
            per_notebook.append(seconds - startup)
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            full = all(s.score == s.max_score for name in assignments
                       for s in gb.assignment_submissions(name))
    figures["mean_per_notebook_s"] = round(sum(per_notebook) / len(per_notebook), 2)
    figures["total_s"] = round(time.perf_counter() - begin, 2)
    figures["all_full_marks"] = full
    figures["data"] = "MNIST" if "CNNCOURSE_DATA" in env else "offline fallback or download"
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
