"""Sandbox overhead per notebook: ``nbgrader autograde`` with and without the grading sandbox.

    python benchmarks/sandbox_overhead.py [--students N] [--rounds R]

In a temporary copy of ``exercises/`` (ps1 only) N students submit the solutions; the class is
graded R times in each mode, alternating (sandbox, then ``CNNCOURSE_NO_SANDBOX=1``), each run a
subprocess as an instructor runs it. An autograde run that finds no submission gives each
mode's start-up (the sandbox's includes its one-off probe). On a busy machine those totals are
noisy, so the kernel itself is also timed: start, run ``import torch``, shut down, R * 3 times
in each mode (median). Prints one JSON line: the best seconds per notebook of each mode
without the start-up, the kernel medians, their differences (what the sandbox costs each
notebook), both start-ups, and the machine's load average.
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


def autograde(course: Path, env: dict, *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", PS1, *args],
                            cwd=course, env=env, capture_output=True, text=True)
    if result.returncode != 0 and "--student=nobody" not in args:
        sys.exit(f"nbgrader autograde failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def kernel_seconds(manager: type, folder: Path, times: int) -> float:
    """Median seconds to start a kernel of ``manager`` in ``folder``, import torch, stop it."""
    import nbformat
    from nbclient import NotebookClient

    runs = []
    for _ in range(times):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
        start = time.perf_counter()
        NotebookClient(nb, kernel_manager_class=manager, timeout=120,
                       resources={"metadata": {"path": str(folder)}}).execute()
        runs.append(time.perf_counter() - start)
    return sorted(runs)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3, help="submissions per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    modes = {"sandbox": env, "no_sandbox": {**env, "CNNCOURSE_NO_SANDBOX": "1"}}
    figures: dict[str, object] = {"students": args.students}
    with tempfile.TemporaryDirectory(prefix="cnncourse-sandbox-") as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(REPO / "exercises" / "source" / PS1, course / "source" / PS1)
        shutil.copy(REPO / "exercises" / "nbgrader_config.py", course)
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", PS1],
                       cwd=course, env=env, capture_output=True, check=True)
        for i in range(args.students):
            folder = course / "submitted" / f"student{i}" / PS1
            folder.mkdir(parents=True)
            shutil.copy(course / "source" / PS1 / f"{PS1}.ipynb", folder)
        best = {}
        for mode, mode_env in modes.items():
            figures[f"{mode}_startup_s"] = round(autograde(course, mode_env, "--student=nobody"), 2)
        for _ in range(args.rounds):
            for mode, mode_env in modes.items():
                seconds = autograde(course, mode_env, "--force")
                per = (seconds - figures[f"{mode}_startup_s"]) / args.students
                best[mode] = min(best.get(mode, per), per)
        from jupyter_client.manager import AsyncKernelManager

        from cnncourse.app.sandbox import SandboxKernelManager

        os.environ["OMP_NUM_THREADS"] = "1"
        kernel = {mode: kernel_seconds(manager, course, 3 * args.rounds) for mode, manager in
                  (("sandbox", SandboxKernelManager), ("no_sandbox", AsyncKernelManager))}
    for mode, seconds in best.items():
        figures[f"{mode}_per_notebook_s"] = round(seconds, 2)
        figures[f"{mode}_kernel_s"] = round(kernel[mode], 2)
    figures["overhead_per_notebook_s"] = round(best["sandbox"] - best["no_sandbox"], 2)
    figures["kernel_overhead_s"] = round(kernel["sandbox"] - kernel["no_sandbox"], 2)
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
