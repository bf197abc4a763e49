"""Training speed: cnncourse's in-memory Learner against a tutorial-style DataLoader loop.

    python benchmarks/train_speed.py [--data DIR] [--epochs N] [--threads T]
        [--max-lr LR] [--batch-size B] [--channels 8,16,32,64] [--seed S] [--skip-tutorial]

Both runs train the same ``simple_cnn`` (same seed, so the same initial weights) with the same
1-cycle schedule, batch size, epochs and augmentation (a random shift of up to one pixel), all
from ``training.LESSON_DEFAULTS``; what differs is the data path:

- cnncourse: the images stay one uint8 tensor; each batch is an index selection turned into
  normalised floats in one go (``data.Batches``), shifted as a whole batch (``RandomShift``);
  on a CPU the Learner also switches the model to the channels-last memory layout.
- tutorial: a torchvision-style ``Dataset`` that makes a PIL image of every digit and applies
  ``RandomCrop(28, padding=1)``, ``ToTensor()`` and ``Normalize`` to it, batched by a
  ``DataLoader`` (no worker processes, as in the PyTorch MNIST example on a CPU). It drops the
  last incomplete batch so that both runs take the same number of optimizer steps.

A third run trains the lesson CNN without batch norm on the same budget (``no_bn_acc``).
``*_data_s_per_epoch`` time the data paths alone (one pass over the training images, no model).

Threads: by default ``LESSON_DEFAULTS["threads"]`` (one) CPU thread for every run. On a
machine whose cores are shared with other work, more threads than free cores make PyTorch's CPU
kernels wait on each other and slow down many times over; ``--threads 0`` keeps PyTorch's own
choice. ``cnncourse_cpu_s`` is the CPU time of the cnncourse training: with one thread, about
its wall time on an idle machine.

Prints one JSON line. Data: ``--data``, else ``$CNNCOURSE_DATA``, else ``../shared/data/mnist``
next to the repository (the 10,000 MNIST test images: 8,000 to train, 2,000 to validate).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cnncourse.data import Batches, load_mnist, random_shift
from cnncourse.models import simple_cnn
from cnncourse.training import LESSON_DEFAULTS, TrainingDiverged, default_device, lesson_learner

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    return Path(os.environ.get("CNNCOURSE_DATA") or REPO.parent / "shared" / "data" / "mnist")


def run_cnncourse(data, settings: dict, device: torch.device, batchnorm: bool = True,
                  ) -> tuple[float, float, str, float]:
    """Seconds for the whole training (Learner built, fit, validated), accuracy, status, and
    the CPU seconds it used (with one thread: its wall time on an otherwise idle machine)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    learn = lesson_learner(data, batchnorm=batchnorm, seed=settings["seed"],
                           channels=settings["channels"], batch_size=settings["batch_size"],
                           device=device, progress=False, threads=None)  # set in main()
    try:
        learn.fit_one_cycle(settings["epochs"], settings["max_lr"])
    except TrainingDiverged:
        pass
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    accuracy = (learn.recorder.valid_accuracy[-1] if learn.status == "finished"
                else learn.validate()["accuracy"])
    return seconds, accuracy, learn.status, cpu_seconds


class TutorialMNIST(Dataset):
    """The way most tutorials feed MNIST: one PIL image per item, then ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images.numpy(), labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = Image.fromarray(np.ascontiguousarray(self.images[i]))
        return self.transform(image), int(self.labels[i])


def tutorial_loaders(data, settings: dict) -> tuple[DataLoader, DataLoader]:
    """The tutorial's data path: PIL image -> RandomCrop -> ToTensor -> Normalize, per image."""
    to_tensor = [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    shift = LESSON_DEFAULTS["max_shift"]
    augment = [transforms.RandomCrop(28, padding=shift)] if shift else []
    train_loader = DataLoader(TutorialMNIST(data.train_x, data.train_y,
                                            transforms.Compose(augment + to_tensor)),
                              batch_size=settings["batch_size"], shuffle=True,
                              drop_last=True,
                              generator=torch.Generator().manual_seed(settings["seed"]))
    valid_loader = DataLoader(TutorialMNIST(data.valid_x, data.valid_y,
                                            transforms.Compose(to_tensor)),
                              batch_size=1000)
    return train_loader, valid_loader


def data_pass_seconds(data, settings: dict) -> tuple[float, float]:
    """One epoch of training batches, without a model: cnncourse's path, then the tutorial's."""
    generator = torch.Generator().manual_seed(settings["seed"])
    batches = Batches(data.train_x, data.train_y, settings["batch_size"], data.mean, data.std,
                      shuffle=True, generator=generator)
    black = -data.mean / data.std
    start = time.perf_counter()
    for images, _ in batches:
        random_shift(images, LESSON_DEFAULTS["max_shift"], black, generator)
    ours = time.perf_counter() - start
    train_loader, _ = tutorial_loaders(data, settings)
    start = time.perf_counter()
    for _ in train_loader:
        pass
    return ours, time.perf_counter() - start


def run_tutorial(data, settings: dict, device: torch.device) -> tuple[float, float]:
    """Seconds and final validation accuracy of the tutorial-style loop."""
    epochs, max_lr, seed = settings["epochs"], settings["max_lr"], settings["seed"]
    torch.manual_seed(seed)  # RandomCrop draws from torch's global generator
    start = time.perf_counter()
    train_loader, valid_loader = tutorial_loaders(data, settings)
    model = simple_cnn(settings["channels"], seed=seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=max_lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr, total_steps=epochs * len(train_loader))
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in valid_loader:
                images, labels = images.to(device), labels.to(device)
                correct += (model(images).argmax(dim=1) == labels).sum().item()
        accuracy = correct / len(valid_loader.dataset)
    return time.perf_counter() - start, accuracy


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder with MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=LESSON_DEFAULTS["epochs"])
    parser.add_argument("--max-lr", type=float, default=LESSON_DEFAULTS["max_lr"])
    parser.add_argument("--threads", type=int, default=LESSON_DEFAULTS["threads"],
                        help="torch CPU threads for all runs (0: torch's own choice)")
    parser.add_argument("--batch-size", type=int, default=LESSON_DEFAULTS["batch_size"])
    parser.add_argument("--channels", default=",".join(map(str, LESSON_DEFAULTS["channels"])),
                        help="comma-separated, e.g. 8,16,32,64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default: CUDA, else MPS, else CPU")
    parser.add_argument("--skip-tutorial", action="store_true",
                        help="only the cnncourse runs (for tuning the lesson settings)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    settings = {"channels": tuple(int(c) for c in args.channels.split(",")),
                "batch_size": args.batch_size, "epochs": args.epochs, "max_lr": args.max_lr,
                "seed": args.seed}
    wall = time.perf_counter()
    load_before = os.getloadavg()[0]  # other processes sharing the CPU slow every figure
    data = load_mnist(args.data or default_data_dir(), download=False)
    ours_s, ours_acc, _, ours_cpu_s = run_cnncourse(data, settings, device)
    if args.skip_tutorial:
        tutorial_s, tutorial_acc = float("nan"), float("nan")
    else:
        tutorial_s, tutorial_acc = run_tutorial(data, settings, device)
    _, no_bn_acc, no_bn_status, _ = run_cnncourse(data, settings, device, batchnorm=False)
    ours_data_s, tutorial_data_s = data_pass_seconds(data, settings)
    epochs = args.epochs
    result = {
        "cnncourse_s_per_epoch": round(ours_s / epochs, 4),
        "tutorial_s_per_epoch": round(tutorial_s / epochs, 4),
        "speedup": round(tutorial_s / ours_s, 2),
        "cnncourse_valid_acc": round(ours_acc, 4),
        "tutorial_valid_acc": round(tutorial_acc, 4),
        "total_s": round(ours_s, 3),
        "cnncourse_cpu_s": round(ours_cpu_s, 3),
        "cnncourse_data_s_per_epoch": round(ours_data_s, 4),
        "tutorial_data_s_per_epoch": round(tutorial_data_s, 4),
        "bn_acc": round(ours_acc, 4),
        "no_bn_acc": round(no_bn_acc, 4),
        "no_bn_status": no_bn_status,
        "settings": settings,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "torch": torch.__version__,
        "data": data.source,
        "benchmark_wall_s": round(time.perf_counter() - wall, 2),
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
