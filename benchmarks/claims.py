"""The lessons' claims, run after run: does every sentence that states an outcome hold?

    python benchmarks/claims.py [--data DIR] [--seeds 5] [--threads 1 2]

Executes the lessons whose text states the outcomes of trainings (07, 09, 12, 14, 15, 16, 17)
in a real kernel, with seeds ``0 .. seeds-1`` (injected after each lesson's ``parameters``
cell), for each thread count, on MNIST from ``--data`` (skipped when absent) and on the
offline fallback. Prints one JSON line: per lesson claim, data set and thread count, the
numbers per seed and whether the claim held (or was not checked: stated for MNIST only);
``all_held``; the versions; and the wall time of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
LESSONS = ["07_why_cnns.ipynb", "09_why_nonlinearity.ipynb", "12_learning_a_kernel.ipynb",
           "14_one_cycle_training.ipynb", "15_batch_size_momentum_weight_decay.ipynb",
           "16_batch_normalization.ipynb", "17_loss_functions.ipynb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CNNCOURSE_DATA", str(DEFAULT_DATA)),
                        help="folder with MNIST's IDX files")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 (default 5)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lessons", nargs="+", default=LESSONS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from cnncourse.claims import notebook_claims, run_notebook

    settings = [("offline", None)]
    if Path(args.data).is_dir():
        settings.insert(0, ("mnist", str(Path(args.data).resolve())))
    rows, runs = [], []
    with tempfile.TemporaryDirectory() as work:
        empty = Path(work) / "no-mnist"
        empty.mkdir()
        for lesson in args.lessons:
            for data, folder in settings:
                os.environ["CNNCOURSE_DATA"] = folder or str(empty)
                for threads in args.threads:
                    start = time.perf_counter()
                    nb = run_notebook(REPO / "lessons" / lesson, threads=threads,
                                      seeds=range(args.seeds), offline=folder is None,
                                      workdir=work, allow_errors=True)
                    runs.append({"lesson": lesson, "data": data, "threads": threads,
                                 "seconds": round(time.perf_counter() - start, 1)})
                    for record in notebook_claims(nb):
                        rows.append({"lesson": lesson[:2], "data": data, "threads": threads,
                                     "claim": record["text"], "held": record["held"],
                                     "checked": record.get("checked", True),
                                     "per_seed": record["numbers"]})
    print(json.dumps({"seeds": list(range(args.seeds)), "torch": torch.__version__,
                      "claims_checked": sum(r["checked"] for r in rows),
                      "claims_not_applicable": sum(not r["checked"] for r in rows),
                      "all_held": all(r["held"] for r in rows),
                      "claims": rows, "runs": runs}))


if __name__ == "__main__":
    main()
