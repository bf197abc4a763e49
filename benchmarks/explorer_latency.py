"""Explorer latency: the time from a control's value assignment to the redrawn view.

For every explorer in ``cnncourse.explorers.ALL``: ``--changes`` random changes (default 200),
each a random control set to a random value from its own range; p50, p95 and max in ms.
Observers are synchronous, so the assignment returns once the view is redrawn.

Then, while ``TrainingExplorer`` trains and while ``DrawDigitExplorer`` trains its CNN on first
use, widget events (control changes on the training explorer, strokes on the drawing canvas,
and changes on a ``KernelExplorer``) fire every 50 ms; each event's handling time is timed, and
so is how late a 20 ms sleep of the main thread wakes up (time lost waiting for the GIL).
Target: p95 <= 30 ms for every explorer, and no event waiting more than 100 ms during training.
NetworkExplorer is also timed per kind of change (``network_by_control``): a window step and
another map within 30 ms, another layer within 100 ms.
Wall-clock times include waiting for a busy CPU, so the load average is reported, and so is
the main thread's CPU time per change (``cpu_p95_ms``), the work itself.

Prints one JSON line. Run from the repository root:

    CNNCOURSE_DATA=/path/to/mnist python benchmarks/explorer_latency.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnncourse.explorers import ALL, Explorer, control_range  # noqa: E402

TARGET_MS = 30.0
EVENT_LIMIT_MS = 100.0


def random_value(explorer: Explorer, name: str, rng: random.Random):
    """A value the control offers now, or None for free text without examples."""
    spec = control_range(explorer.controls[name])
    if spec.kind == "int":
        return rng.randint(int(spec.low), int(spec.high))
    if spec.kind == "float":
        return rng.uniform(spec.low, spec.high)
    if spec.kind == "log":
        return spec.base ** rng.uniform(spec.low, spec.high)
    if spec.kind in ("choice", "bool"):
        return rng.choice(list(spec.options))
    examples = explorer.examples.get(name)
    return rng.choice(examples) if examples else None


def change_something(explorer: Explorer, rng: random.Random, skip=(),
                     cpu: list | None = None) -> float:
    """Set one random control to a random value; return the seconds the assignment took
    (and append the main thread's CPU seconds to ``cpu``)."""
    names = [n for n in explorer.controls if n not in skip]
    while True:
        name = rng.choice(names)
        value = random_value(explorer, name, rng)
        if value is not None:
            break
    start, start_cpu = time.perf_counter(), time.thread_time()
    explorer.controls[name].value = value
    if cpu is not None:
        cpu.append(time.thread_time() - start_cpu)
    return time.perf_counter() - start


def percentiles(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(p95, 2),
            "max_ms": round(ms[-1], 2)}


def measure_changes(explorer: Explorer, changes: int, rng: random.Random, skip=()) -> dict:
    for _ in range(5):  # warm-up: first calls fill caches
        change_something(explorer, rng, skip)
    cpu: list[float] = []
    times = [change_something(explorer, rng, skip, cpu) for _ in range(changes)]
    result = percentiles(times)
    result["cpu_p95_ms"] = percentiles(cpu)["p95_ms"]  # the work itself, without waiting
    return result


def events_while(busy, fire, seconds: float | None = None) -> dict:
    """Fire events every 50 ms while ``busy()`` holds (or for ``seconds``); time each one and
    how late the main thread wakes from a 20 ms sleep."""
    handled, late = [], []
    start = time.perf_counter()
    while busy() and (seconds is None or time.perf_counter() - start < seconds):
        handled.append(fire())
        before = time.perf_counter()
        time.sleep(0.02)
        late.append(max(time.perf_counter() - before - 0.02, 0.0))
        time.sleep(0.03)
    events = percentiles(handled) if handled else {"n": 0}
    wake = percentiles(late) if late else {"n": 0}
    worst = max(events.get("max_ms", 0.0), wake.get("max_ms", 0.0))
    return {"events": events, "sleep_overshoot": wake, "worst_wait_ms": worst,
            "ok": bool(handled) and worst <= EVENT_LIMIT_MS}


def network_by_control(explorer: Explorer, changes: int, rng: random.Random) -> dict:
    """NetworkExplorer, per kind of change: a step of the window, another map, another layer,
    another digit (the first time: a forward pass). Targets: 30 ms for the first two, 100 ms
    for a layer."""
    c = explorer.controls
    layers = list(c["layer"].options)
    kinds = {
        "position_step": lambda: (c["position"].value + 1) % (c["position"].max + 1),
        "channel": lambda: rng.randint(0, int(c["channel"].max)),
        "layer": lambda: rng.choice([name for name in layers if name != c["layer"].value]),
        "example": lambda: rng.randint(0, int(c["example"].max)),
    }
    controls = {"position_step": "position", "channel": "channel", "layer": "layer",
                "example": "example"}
    result = {}
    for kind, value in kinds.items():
        times, cpu = [], []
        for i in range(changes // 4 + 5):
            if kind != "layer" and i % 10 == 0:  # visit every layer
                c["layer"].value = layers[(i // 10) % len(layers)]
            new = value()
            start, start_cpu = time.perf_counter(), time.thread_time()
            c[controls[kind]].value = new
            if i >= 5:
                cpu.append(time.thread_time() - start_cpu)
                times.append(time.perf_counter() - start)
        result[kind] = percentiles(times)
        result[kind]["cpu_p95_ms"] = percentiles(cpu)["p95_ms"]
    limits = {"position_step": TARGET_MS, "channel": TARGET_MS, "layer": 100.0}
    result["ok"] = all(result[k]["p95_ms"] <= limit for k, limit in limits.items())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--train-seconds", type=float, default=15.0,
                        help="how long TrainingExplorer trains while events are timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="time only this explorer (e.g. "
                        "NetworkExplorer); the training checks then do not run")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    cache = tempfile.TemporaryDirectory(prefix="cnncourse-bench-")
    report: dict = {"benchmark": "explorer_latency", "changes": args.changes,
                    "torch_threads": torch.get_num_threads(),
                    "load_average_1min": round(os.getloadavg()[0], 2), "explorers": {}}
    other = ALL["KernelExplorer"]()

    for name, cls in ALL.items():
        if args.only and name != args.only:
            continue
        if name == "DrawDigitExplorer":
            explorer = cls(cache_dir=cache.name)
            explorer.controls["example"].value = 0  # first use: starts training
            strokes = itertools.count()

            def draw_or_change(explorer=explorer, strokes=strokes):
                if next(strokes) % 2:
                    return change_something(other, rng)
                x = rng.uniform(40, 240)
                start = time.perf_counter()
                explorer.stroke([(x, 40.0), (x + 20, 140.0), (x - 10, 240.0)])
                return time.perf_counter() - start

            during = events_while(lambda e=explorer: not e.wait(0), draw_or_change)
            report["draw_digit_training"] = during
            result = measure_changes(explorer, args.changes, rng)
        elif name == "TrainingExplorer":
            explorer = cls()
            result = measure_changes(explorer, args.changes, rng)
            explorer.controls["epochs"].value = 1
            explorer.controls["max_lr"].value = 0.06
            explorer.train()

            turns = itertools.count()

            def change_training_or_other(explorer=explorer, turns=turns):
                target = explorer if next(turns) % 2 else other
                return change_something(target, rng, skip=("max_lr",))

            during = events_while(lambda e=explorer: e.running, change_training_or_other,
                                  args.train_seconds)
            explorer.stop()
            explorer.wait()
            during["steps_trained"] = explorer.learner.step
            report["training"] = during
        elif name == "NetworkExplorer":  # the lesson CNN: cached weights, else untrained
            explorer = cls(cache_dir=cache.name)
            result = measure_changes(explorer, args.changes, rng)
            report["network_by_control"] = network_by_control(explorer, args.changes, rng)
        elif name == "CamExplorer":  # its GAP CNN trains first (seconds): not timed
            explorer = cls(cache_dir=cache.name)
            explorer.wait(600)
            result = measure_changes(explorer, args.changes, rng)
        elif name == "ModelExplorer":  # another model or size builds and runs it: not timed
            explorer = cls()
            result = measure_changes(explorer, args.changes, rng, skip=("model", "input_size"))
        else:
            explorer = cls()
            result = measure_changes(explorer, args.changes, rng)
        result["ok"] = result["p95_ms"] <= TARGET_MS
        report["explorers"][name] = result

    checks = [report[k]["ok"] for k in ("training", "draw_digit_training", "network_by_control")
              if k in report]
    report["all_ok"] = all(r["ok"] for r in report["explorers"].values()) and all(checks)
    cache.cleanup()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
