"""Grading a class serially and in parallel, and where the time of one notebook goes.

    python benchmarks/grade_class.py [--students 12] [--jobs 2] [--repeats 3]

Two identical temporary ps1 courses get the same class: half correct, a quarter untouched,
a quarter partly right. One is graded with ``cnncourse exercises grade --jobs 1`` (one
``nbgrader autograde`` run), the other with ``--jobs N``, each a subprocess timed from start to
end as an instructor runs it (start-up included), every notebook in the sandbox. Then one
correct notebook is run ``--repeats`` times in the grading sandbox with nbclient, timing its
phases: the kernel's start (bubblewrap and ipykernel, until it answers), the first cell (the
imports: torch, ``cnncourse.grading``, the seal), the solution cells, the test cells and the
kernel's shutdown (medians). What one serial notebook costs beyond those is nbgrader's own work
(copying, the gradebook, the answers' re-check, writing) and a share of the start-up.

Prints one JSON line: seconds in all and per notebook each way, ``speedup`` (serial over
parallel), each way when the first autograded notebook was written and the seconds per notebook
after it (the start-up apart), whether both gradebooks hold the same scores, the phases
(``phase_*_s``), the cores and the load average before and after (other work on the machine
slows the parallel run most).
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PS1 = "ps1_convolutions"
WRONG = "def conv_output_size(n, kernel_size, stride, padding):\n    return n + 1\n"


def environment() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def make_course(root: Path, students: int) -> None:
    import nbformat

    root.mkdir()
    shutil.copy(REPO / "exercises" / "nbgrader_config.py", root)
    shutil.copytree(REPO / "exercises" / "source" / PS1, root / "source" / PS1)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", PS1], cwd=root,
                   env=environment(), capture_output=True, check=True)
    source = root / "source" / PS1 / f"{PS1}.ipynb"
    release = root / "release" / PS1 / f"{PS1}.ipynb"
    for n in range(students):
        folder = root / "submitted" / f"student{n:03d}" / PS1
        folder.mkdir(parents=True)
        kind = n % 4  # 0, 1: correct; 2: untouched; 3: one function wrong
        if kind == 3:
            nb = nbformat.read(source, as_version=4)
            found = [c for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_output_size"]
            found[0].source = WRONG
            nbformat.write(nb, folder / f"{PS1}.ipynb")
        else:
            shutil.copy(release if kind == 2 else source, folder / f"{PS1}.ipynb")


def grade(course: Path, jobs: int) -> dict[str, float]:
    """Seconds to grade the class with ``--jobs jobs``; when the first autograded notebook was
    written, and the seconds per notebook after it (from the files' times)."""
    began, start = time.time(), time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cnncourse.app.cli", "exercises", "grade",
                             PS1, "--jobs", str(jobs), "--course", str(course)],
                            env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"grading with --jobs {jobs} failed:\n{result.stderr[-3000:]}")
    written = sorted(p.stat().st_mtime - began
                     for p in course.glob(f"autograded/*/{PS1}/{PS1}.ipynb"))
    return {"s": seconds, "first_notebook_s": written[0],
            "per_notebook_after_first_s": (written[-1] - written[0]) / (len(written) - 1)}


def scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student_id: s.score for s in gb.assignment_submissions(PS1)}


def phases(notebook: Path, folder: Path) -> dict[str, float]:
    """Seconds of each phase of one run of ``notebook`` in the grading sandbox."""
    import nbformat
    from nbclient import NotebookClient

    from cnncourse.app.sandbox import SandboxKernelManager

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, kernel_manager_class=SandboxKernelManager, timeout=600,
                            shutdown_kernel="immediate",  # as exercises/nbgrader_config.py
                            resources={"metadata": {"path": str(folder)}})
    spent = {"kernel_start": 0.0, "imports": 0.0, "solution_cells": 0.0, "test_cells": 0.0}
    start = time.perf_counter()
    with client.setup_kernel():
        spent["kernel_start"] = time.perf_counter() - start
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            kind = ("imports" if meta.get("grade_id") == "setup" else
                    "test_cells" if meta.get("grade") else "solution_cells")
            began = time.perf_counter()
            client.execute_cell(cell, index)
            spent[kind] += time.perf_counter() - began
        ended = time.perf_counter()
    spent["kernel_shutdown"] = time.perf_counter() - ended
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12, help="submissions in the class")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the phase timing")
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS="1", NBGRADER_EXECUTION="autograde")
    figures: dict[str, object] = {"students": args.students, "jobs": args.jobs,
                                  "cores": len(os.sched_getaffinity(0)),
                                  "load_average_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="cnncourse-class-") as tmp:
        serial, parallel = Path(tmp) / "serial", Path(tmp) / "parallel"
        make_course(serial, args.students)
        make_course(parallel, args.students)
        timed = {"serial": grade(serial, 1), "parallel": grade(parallel, args.jobs)}
        figures["scores_agree"] = scores(serial) == scores(parallel)
        runs = [phases(serial / "source" / PS1 / f"{PS1}.ipynb", serial / "source" / PS1)
                for _ in range(args.repeats)]
    serial_s, parallel_s = timed["serial"]["s"], timed["parallel"]["s"]
    figures["serial_s"] = round(serial_s, 1)
    figures["parallel_s"] = round(parallel_s, 1)
    figures["serial_per_notebook_s"] = round(serial_s / args.students, 2)
    figures["parallel_per_notebook_s"] = round(parallel_s / args.students, 2)
    figures["speedup"] = round(serial_s / parallel_s, 2)
    for mode, seconds in timed.items():  # the start-up (to the first notebook), and the rest
        figures[f"{mode}_first_notebook_s"] = round(seconds["first_notebook_s"], 1)
        figures[f"{mode}_per_notebook_after_first_s"] = round(
            seconds["per_notebook_after_first_s"], 2)
    median = {name: sorted(run[name] for run in runs)[len(runs) // 2] for name in runs[0]}
    for name, seconds in median.items():
        figures[f"phase_{name}_s"] = round(seconds, 2)
    figures["phase_nbgrader_and_startup_share_s"] = round(
        serial_s / args.students - sum(median.values()), 2)
    figures["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
