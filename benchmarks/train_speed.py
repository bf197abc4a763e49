"""Time to accuracy: how long the lesson recipe and a tutorial loop take to reach 99 %.

    python benchmarks/train_speed.py [--data DIR] [--runs 3] [--threads T] [--target 0.990]
        [--tutorial-runs 1] [--tutorial-epochs 10] [--skip-tutorial]

Both train the same ``simple_cnn`` (``LESSON_DEFAULTS["channels"]``) on the 8,000 / 2,000 MNIST
split and are validated after every epoch; the time to accuracy is the wall time from the
start of the run (data already loaded, model not yet built) to the end of the first validation
at or above ``--target``.

- lesson: ``lesson_learner`` trained with ``fit_one_cycle`` at ``LESSON_DEFAULTS`` (the
  images stay one uint8 tensor; each batch is an index selection normalised in one go and
  shifted as a whole batch).
- tutorial: the textbook loop: a ``Dataset`` that makes a PIL image of each digit and applies
  ``ToTensor()`` and ``Normalize``, a ``DataLoader`` of batch 64, SGD with momentum and
  ``OneCycleLR`` over ``--tutorial-epochs`` (10) epochs, validated after each epoch.

Each run is its own process (``--worker``), so neither warms the other's caches. The lesson
recipe runs ``--runs`` times with seeds 0, 1, ...; its time is their median (a run that never
reaches the target counts as endless). In the same benchmark run, the achieved GFLOP/s of the
lesson's training steps (floating-point operations of one step counted by
``torch.utils.flop_counter``, times the steps, over the time spent in training steps) and the
machine's peak (the best of a few large float32 matrix products at the same thread count) say
how far from the physical limit the training runs.

Threads: ``LESSON_DEFAULTS["threads"]`` unless ``--threads`` (0: torch's own choice). Prints one
JSON line. Data: ``--data``, else ``$CNNCOURSE_DATA``, else ``../shared/data/mnist``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from cnncourse.callbacks import Callback
from cnncourse.data import load_mnist
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS, default_device, lesson_learner

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = {"batch_size": 64, "max_lr": 0.06}  # the textbook MNIST recipe


def default_data_dir() -> Path:
    return Path(os.environ.get("CNNCOURSE_DATA") or REPO.parent / "shared" / "data" / "mnist")


class EpochClock(Callback):
    """Wall time at the end of each epoch's validation, and the time spent in training steps."""

    def __init__(self, start: float) -> None:
        self.start, self.marks, self.step_seconds = start, [], 0.0

    def before_epoch(self) -> None:
        self.epoch_start = time.perf_counter()

    def after_batch(self) -> None:
        self.last_step_end = time.perf_counter()

    def after_epoch(self) -> None:
        self.step_seconds += self.last_step_end - self.epoch_start
        accuracy = self.learner.valid_metrics["accuracy"]
        self.marks.append([round(time.perf_counter() - self.start, 4), accuracy])


def step_flops(model: torch.nn.Module, batch_size: int, device: torch.device) -> int:
    """Floating-point operations of one training step (forward and backward) of ``model``."""
    x = torch.randn(batch_size, 1, 28, 28, device=device)
    y = torch.zeros(batch_size, dtype=torch.int64, device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def lesson_run(data, seed: int, device: torch.device) -> dict:
    start = time.perf_counter()
    clock = EpochClock(start)
    learn = lesson_learner(data, seed=seed, device=device, progress=False, callbacks=[clock],
                           threads=None)  # the threads are set in worker()
    learn.fit_one_cycle(LESSON_DEFAULTS["epochs"], LESSON_DEFAULTS["max_lr"])
    total = time.perf_counter() - start
    flops = step_flops(learn.model, LESSON_DEFAULTS["batch_size"], device) * learn.step
    return {"marks": clock.marks, "total_s": total, "step_s": clock.step_seconds,
            "flops": flops, "steps": learn.step}


class TutorialMNIST(Dataset):
    """The way most tutorials feed MNIST: one PIL image per item, then ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images.numpy(), labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = Image.fromarray(np.ascontiguousarray(self.images[i]))
        return self.transform(image), int(self.labels[i])


def tutorial_run(data, seed: int, device: torch.device, epochs: int) -> dict:
    """The textbook loop, validated after every epoch."""
    start = time.perf_counter()
    to_tensor = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    train_loader = DataLoader(TutorialMNIST(data.train_x, data.train_y, to_tensor),
                              batch_size=TUTORIAL["batch_size"], shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    valid_loader = DataLoader(TutorialMNIST(data.valid_x, data.valid_y, to_tensor),
                              batch_size=1000)
    model = simple_cnn(LESSON_DEFAULTS["channels"], seed=seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=TUTORIAL["max_lr"], momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, TUTORIAL["max_lr"], total_steps=epochs * len(train_loader))
    marks = []
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in valid_loader:
                images, labels = images.to(device), labels.to(device)
                correct += (model(images).argmax(dim=1) == labels).sum().item()
        marks.append([round(time.perf_counter() - start, 4), correct / len(data.valid_y)])
    return {"marks": marks, "total_s": time.perf_counter() - start}


def peak_gflops(size: int = 1024, repeats: int = 5) -> float:
    """The best GFLOP/s of a large float32 matrix product on the CPU: the machine's limit."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def time_to(marks: list, target: float) -> float | None:
    """Seconds to the first validation at or above ``target`` (``None``: never reached)."""
    return next((seconds for seconds, accuracy in marks if accuracy >= target), None)


def median_time(times: list[float | None]) -> float | None:
    """The median of the runs' times, a run that never reached the target counting as
    endless (``None`` when half of the runs or more never reached it)."""
    if not times:
        return None
    median = statistics.median([math.inf if t is None else t for t in times])
    return None if math.isinf(median) else median


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def worker(args: argparse.Namespace) -> None:
    """One run in this process; prints its JSON."""
    set_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    data = load_mnist(args.data or default_data_dir(), download=False)
    if args.worker == "lesson":
        result = lesson_run(data, args.seed, device)
    elif args.worker == "tutorial":
        result = tutorial_run(data, args.seed, device, args.tutorial_epochs)
    else:
        result = {"peak_gflops": peak_gflops()}
    result["data"] = data.source
    print(json.dumps(result))


def spawn(args: argparse.Namespace, kind: str, seed: int = 0) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--seed", str(seed),
               "--threads", str(args.threads), "--tutorial-epochs", str(args.tutorial_epochs)]
    if args.data:
        command += ["--data", str(args.data)]
    if args.device:
        command += ["--device", args.device]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder with MNIST IDX files")
    parser.add_argument("--runs", type=int, default=3, help="runs of the lesson recipe")
    parser.add_argument("--tutorial-runs", type=int, default=1)
    parser.add_argument("--tutorial-epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.990)
    parser.add_argument("--threads", type=int, default=LESSON_DEFAULTS["threads"],
                        help="torch CPU threads for all runs (0: torch's own choice)")
    parser.add_argument("--device", default=None, help="default: CUDA, else MPS, else CPU")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--worker", choices=["lesson", "tutorial", "peak"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    wall, load_before = time.perf_counter(), os.getloadavg()[0]
    lessons = [spawn(args, "lesson", seed) for seed in range(args.runs)]
    tutorials = ([] if args.skip_tutorial else
                 [spawn(args, "tutorial", seed) for seed in range(args.tutorial_runs)])
    peak = spawn(args, "peak")["peak_gflops"]

    lesson_times = [time_to(run["marks"], args.target) for run in lessons]
    tutorial_times = [time_to(run["marks"], args.target) for run in tutorials]
    lesson_s, tutorial_s = median_time(lesson_times), median_time(tutorial_times)
    gflops = sum(r["flops"] for r in lessons) / sum(r["step_s"] for r in lessons) / 1e9
    result = {
        "cnncourse_time_to_990_s": None if lesson_s is None else round(lesson_s, 3),
        "tutorial_time_to_990_s": None if tutorial_s is None else round(tutorial_s, 3),
        "time_to_accuracy_ratio": (round(tutorial_s / lesson_s, 2)
                                   if lesson_s and tutorial_s else None),
        "cnncourse_final_acc": [run["marks"][-1][1] for run in lessons],
        "tutorial_final_acc": [run["marks"][-1][1] for run in tutorials],
        "cnncourse_times_to_990_s": lesson_times,
        "cnncourse_total_s": [round(run["total_s"], 3) for run in lessons],
        "tutorial_total_s": [round(run["total_s"], 3) for run in tutorials],
        "cnncourse_epochs": [[round(t, 3), a] for t, a in lessons[0]["marks"]],
        "tutorial_epochs": tutorials[0]["marks"] if tutorials else [],
        "gflops": round(gflops, 2),
        "peak_gflops": round(peak, 2),
        "fraction_of_peak": round(gflops / peak, 3),
        "target": args.target,
        "recipe": dict(LESSON_DEFAULTS),
        "tutorial_recipe": {**TUTORIAL, "epochs": args.tutorial_epochs},
        "threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "data": lessons[0]["data"],
        "benchmark_wall_s": round(time.perf_counter() - wall, 2),
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
