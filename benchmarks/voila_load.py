"""Ten students open one dashboard at once: time to first widget and memory per kernel.

    python benchmarks/voila_load.py [--dashboard conv_arithmetic] [--sessions 10]

Starts one Voila server on 127.0.0.1 (a free port) for one dashboard, opens that many headless
Chromium pages at the same moment (each gets its own kernel), and measures, per page, the
seconds from the request to the first rendered widget. It then repeats the run with Voila's
pre-heated kernels (a pool of kernels that has already run the notebook) and reports the gain.
Everything stays on loopback; the run is bounded by --timeout per phase. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen

import psutil

from cnncourse.app.serve import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
WIDGET = ".jupyter-widgets.widget-container, .widget-box, .widget-vbox"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def kernels_of(server: subprocess.Popen) -> list[psutil.Process]:
    children = psutil.Process(server.pid).children(recursive=True)
    return [p for p in children if "ipykernel" in " ".join(p.cmdline())]


def wait_until_idle(server: subprocess.Popen, count: int, timeout: float) -> float:
    """Wait until ``count`` kernels exist and have stopped computing; return the seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        kernels = kernels_of(server)
        if len(kernels) >= count:
            busy = sum(k.cpu_percent(interval=0.5) for k in kernels)
            if busy < 5:
                break
        else:
            time.sleep(1)
    return time.monotonic() - start


async def open_pages(url: str, sessions: int, timeout_s: float) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ.get("CNNCOURSE_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_FLAGS)
        contexts = [await browser.new_context() for _ in range(sessions)]
        pages = [await c.new_page() for c in contexts]

        async def one(page) -> float:
            start = time.monotonic()
            await page.goto(url, timeout=timeout_s * 1000)
            await page.wait_for_selector(WIDGET, timeout=timeout_s * 1000)
            return time.monotonic() - start

        times = await asyncio.gather(*(one(p) for p in pages))
        await browser.close()
        return list(times)


@contextmanager
def voila_server(notebook: Path, extra_args: list[str] = ()) -> Iterator[tuple[Popen, str]]:
    """A Voila server for one notebook on a free loopback port: (process, url); stopped after."""
    port = free_port(0)
    args = [str(BIN / "voila"), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            *extra_args, str(notebook)]
    log = tempfile.NamedTemporaryFile(prefix="voila-load-", suffix=".log", delete=False)
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=notebook.parent,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        yield server, f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        os.unlink(log.name)


def run_phase(notebook: Path, sessions: int, preheat: bool, timeout: float) -> dict:
    extra = ["--preheat_kernel=True", f"--pool_size={sessions}"] if preheat else []
    with voila_server(notebook, extra) as (server, url):
        warmup_s = wait_until_idle(server, sessions, timeout) if preheat else 0.0
        times = asyncio.run(open_pages(url, sessions, timeout))
        kernels = kernels_of(server)
        rss = [k.memory_info().rss / 2**20 for k in kernels]
        return {
            "first_widget_p50_s": round(statistics.median(times), 2),
            "first_widget_p95_s": round(percentile(times, 0.95), 2),
            "first_widget_max_s": round(max(times), 2),
            "kernels": len(kernels),
            "kernel_rss_mib_mean": round(statistics.mean(rss), 1) if rss else None,
            "pool_warmup_s": round(warmup_s, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dashboard", default="conv_arithmetic")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 20:
        parser.error("--sessions must be between 1 and 20")
    notebook = ROOT / "lessons" / "dashboards" / f"{args.dashboard}.ipynb"
    if not notebook.exists():
        parser.error(f"no dashboard {args.dashboard!r} in {notebook.parent}")
    start = time.monotonic()
    cold = run_phase(notebook, args.sessions, preheat=False, timeout=args.timeout)
    warm = run_phase(notebook, args.sessions, preheat=True, timeout=args.timeout)
    print(json.dumps({
        "dashboard": args.dashboard,
        "sessions": args.sessions,
        "cores": os.cpu_count(),
        "cold": cold,
        "preheated": warm,
        "preheat_gain_p50": round(cold["first_widget_p50_s"] / warm["first_widget_p50_s"], 1),
        "total_s": round(time.monotonic() - start, 1),
    }))


if __name__ == "__main__":
    main()
