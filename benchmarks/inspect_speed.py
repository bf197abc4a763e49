"""Inspecting a model: how long ``receptive_field`` and ``shape_table`` take on ResNet-50, and
how long ModelExplorer takes to show another layer of ResNet-18.

``receptive_field`` traces the model with ``torch.fx`` and walks its graph; ``shape_table``
runs one forward pass on the ``meta`` device under torch's flop counter. Each is run
``--repeats`` times (default 5) on an untrained ResNet-50 (nothing is downloaded) at 224 x 224,
on ``--threads`` torch threads (default 2); median and max in seconds. Target: <= 1 s each.
Then ``--changes`` (default 30) layer changes of a ModelExplorer on ResNet-18 at 224 x 224,
its activations cached for the image (the model ran once before them): time from the value
assignment to the redrawn view, p50 and p95 in ms. Target: p95 <= 100 ms.
Wall-clock times include waiting for a busy CPU, so the load average is reported too.

Prints one JSON line. Run from the repository root:

    python benchmarks/inspect_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torchvision.models import resnet50  # noqa: E402

from cnncourse.arithmetic import receptive_field, shape_table  # noqa: E402

TARGET_S = 1.0
TARGET_LAYER_MS = 100.0


def timed(fn, repeats: int) -> dict:
    """Median and max seconds of ``repeats`` calls of ``fn``."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(seconds), 4), "max_s": round(max(seconds), 4)}


def layer_changes(changes: int, seed: int = 0) -> dict:
    """Milliseconds per layer change of ModelExplorer on ResNet-18 at 224 x 224 (p50, p95)."""
    from cnncourse.explorers import ModelExplorer

    explorer = ModelExplorer()
    with explorer.hold():
        explorer.controls["model"].value = "resnet18"
        explorer.controls["input_size"].value = 224
    layers = len(explorer.scene.rows)
    rng = random.Random(seed)
    ms, cpu_ms = [], []
    for _ in range(changes):
        layer = rng.choice([i for i in range(layers) if i != explorer.controls["layer"].value])
        start, start_cpu = time.perf_counter(), time.thread_time()
        explorer.controls["layer"].value = layer
        ms.append((time.perf_counter() - start) * 1000)
        cpu_ms.append((time.thread_time() - start_cpu) * 1000)
        assert explorer.scene.settings.layer == layer, explorer.message
    p50, p95 = percentiles(ms)
    cpu_p50, cpu_p95 = percentiles(cpu_ms)  # the work itself, without waiting for the CPU
    return {"model": "resnet18", "input": 224, "changes": changes, "layers": layers,
            "p50_ms": p50, "p95_ms": p95, "max_ms": round(max(ms), 2), "cpu_p50_ms": cpu_p50,
            "cpu_p95_ms": cpu_p95, "target_p95_ms": TARGET_LAYER_MS,
            "ok": p95 <= TARGET_LAYER_MS}


def percentiles(ms: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile, rounded."""
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return round(statistics.median(ms), 2), round(p95, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = resnet50(weights=None)
    fields = timed(lambda: receptive_field(model, input_size=224), args.repeats)
    table = timed(lambda: shape_table(model, (3, 224, 224)), args.repeats)
    layer4 = receptive_field(model, input_size=224, at="layer4")
    rows = shape_table(model, (3, 224, 224))
    explorer = layer_changes(args.changes)
    print(json.dumps({
        "model": "resnet50", "input": 224, "threads": args.threads, "repeats": args.repeats,
        "receptive_field": fields, "shape_table": table, "target_s": TARGET_S,
        "ok": max(fields["max_s"], table["max_s"]) <= TARGET_S and explorer["ok"],
        "layer4_rf": layer4.rf, "params": rows.params, "macs": rows.macs,
        "explorer_layer_change": explorer,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
