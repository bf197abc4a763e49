"""Inspecting a model: how long ``receptive_field`` and ``shape_table`` take on ResNet-50.

``receptive_field`` traces the model with ``torch.fx`` and walks its graph; ``shape_table``
runs one forward pass on the ``meta`` device under torch's flop counter. Each is run
``--repeats`` times (default 5) on an untrained ResNet-50 (nothing is downloaded) at 224 x 224,
on ``--threads`` torch threads (default 2); median and max in seconds. Target: <= 1 s each.
Wall-clock times include waiting for a busy CPU, so the load average is reported too.

Prints one JSON line. Run from the repository root:

    python benchmarks/inspect_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torchvision.models import resnet50  # noqa: E402

from cnncourse.arithmetic import receptive_field, shape_table  # noqa: E402

TARGET_S = 1.0


def timed(fn, repeats: int) -> dict:
    """Median and max seconds of ``repeats`` calls of ``fn``."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(seconds), 4), "max_s": round(max(seconds), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = resnet50(weights=None)
    fields = timed(lambda: receptive_field(model, input_size=224), args.repeats)
    table = timed(lambda: shape_table(model, (3, 224, 224)), args.repeats)
    layer4 = receptive_field(model, input_size=224, at="layer4")
    rows = shape_table(model, (3, 224, 224))
    print(json.dumps({
        "model": "resnet50", "input": 224, "threads": args.threads, "repeats": args.repeats,
        "receptive_field": fields, "shape_table": table, "target_s": TARGET_S,
        "ok": max(fields["max_s"], table["max_s"]) <= TARGET_S,
        "layer4_rf": layer4.rf, "params": rows.params, "macs": rows.macs,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
