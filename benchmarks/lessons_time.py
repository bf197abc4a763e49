"""The whole course, executed: every lesson and dashboard notebook top to bottom, as
``tests/test_lessons.py`` runs them, and how long that takes on this machine's cores.

    python benchmarks/lessons_time.py [--data DIR] [--jobs 2] [--offline] [--only PREFIX ...]

Each notebook runs in its own fresh kernel (``cnncourse.claims.run_notebook``, in a temporary
folder), ``--jobs`` of them at a time, each kernel with one torch thread (``OMP_NUM_THREADS=1``),
so that ``--jobs 2`` keeps both cores of a 2-core machine busy. Notebooks are started longest
first (the order of a previous run's times is not needed: the lessons that train come first).
Prints one JSON line: ``wall_s`` (start to last notebook's end), ``sum_s`` (the notebooks' own
times added up: the wall time of ``--jobs 1``), ``slowest`` (the eight longest, in seconds),
``notebooks``, ``jobs``, the data set, whether every notebook ran, and the load average
(other work on the machine slows every kernel down).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LESSONS = REPO / "lessons"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
# The lessons that train networks (the longest): started first, so none is left for last.
TRAINING_FIRST = ("14_", "16_", "19_", "18_", "07_", "17_", "20_", "13_", "15_", "12_")


def notebooks(only: list[str] | None) -> list[Path]:
    paths = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")) + sorted(
        (LESSONS / "dashboards").glob("*.ipynb"))
    if only:
        paths = [p for p in paths if p.name.startswith(tuple(only))]

    def rank(path: Path) -> int:
        starts = [i for i, prefix in enumerate(TRAINING_FIRST) if path.name.startswith(prefix)]
        return starts[0] if starts and path.parent == LESSONS else len(TRAINING_FIRST)

    return sorted(paths, key=rank)


def run_one(path: str, offline: bool) -> tuple[str, float, str]:
    """Run one notebook; its name, seconds, and '' or the error's first line."""
    from cnncourse.claims import run_notebook

    start = time.perf_counter()
    error = ""
    with tempfile.TemporaryDirectory(prefix="cnncourse-lesson-") as workdir:
        try:
            run_notebook(path, offline=offline, workdir=workdir)
        except Exception as err:  # a failing cell: reported, the others still run
            error = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
    return str(Path(path).relative_to(LESSONS)), time.perf_counter() - start, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CNNCOURSE_DATA", str(DEFAULT_DATA)),
                        help="folder with MNIST's IDX files")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at a time (default 2)")
    parser.add_argument("--offline", action="store_true",
                        help="run on the offline fallback, with the kernels' network cut off")
    parser.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                        help="only the notebooks whose names start with these")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    empty = tempfile.mkdtemp(prefix="cnncourse-no-mnist-")
    use_mnist = not args.offline and Path(args.data).is_dir()
    os.environ["CNNCOURSE_DATA"] = args.data if use_mnist else empty
    paths = notebooks(args.only)
    times: dict[str, float] = {}
    errors: dict[str, str] = {}
    begin = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, str(p), args.offline) for p in paths]
        for future in as_completed(futures):
            name, seconds, error = future.result()
            times[name] = round(seconds, 2)
            if error:
                errors[name] = error
                print(f"{name}: {error}", file=sys.stderr)
    wall = time.perf_counter() - begin
    os.rmdir(empty)
    slowest = dict(sorted(times.items(), key=lambda kv: -kv[1])[:8])
    print(json.dumps({
        "wall_s": round(wall, 1), "sum_s": round(sum(times.values()), 1),
        "notebooks": len(times), "jobs": args.jobs, "slowest": slowest,
        "data": "MNIST" if use_mnist else "offline fallback", "all_ran": not errors,
        "errors": errors, "load_average_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
