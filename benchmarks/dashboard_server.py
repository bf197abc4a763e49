"""What one dashboard session costs the server: CPU seconds and memory to first widget.

    python benchmarks/dashboard_server.py [--dashboard conv_arithmetic] [--sequential 4] [--burst 4]

Starts one Voila server on 127.0.0.1 and opens dashboard pages in one headless Chromium, first
one after another (each page waits for the previous one's first widget), then a burst of pages
opened at the same moment. For every phase it reads, with psutil, the CPU seconds spent by the
server and its kernels (not by the browser) from the first request to the last first widget,
and the memory the new kernels hold: resident, and unique to each kernel (torch's libraries are
shared between kernels, so unique memory is what one more session adds). From these: sessions
per core-minute (how many students one core lets in per minute) and memory per session.
Every page keeps its kernel until the end, so each new kernel's cost is counted once.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voila_load import CHROMIUM_FLAGS, ROOT, WIDGET, kernels_of, voila_server  # noqa: E402


def server_cpu_s(server: psutil.Process) -> float:
    """CPU seconds (user + system) of the server and every process below it, alive now."""
    total = 0.0
    for proc in [server, *server.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def kernel_memory_mib(server: subprocess.Popen) -> list[tuple[float, float]]:
    """(resident, unique) MiB of each kernel: unique leaves out pages shared with others."""
    out = []
    for kernel in kernels_of(server):
        info = kernel.memory_full_info()
        out.append((info.rss / 2**20, info.uss / 2**20))
    return out


def mean_of(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


async def measure(url: str, sequential: int, burst: int, server: subprocess.Popen,
                  timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    proc = psutil.Process(server.pid)

    async def open_one(browser) -> float:
        page = await (await browser.new_context()).new_page()
        start = time.monotonic()
        await page.goto(url, timeout=timeout_s * 1000)
        await page.wait_for_selector(WIDGET, timeout=timeout_s * 1000)
        return time.monotonic() - start

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ.get("CNNCOURSE_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_FLAGS)
        phases = {}
        for name, count in (("sequential", sequential), ("burst", burst)):
            if count == 0:
                continue
            before_cpu, before_kernels = server_cpu_s(proc), len(kernels_of(server))
            start = time.monotonic()
            if name == "sequential":
                waits = [await open_one(browser) for _ in range(count)]
            else:
                waits = list(await asyncio.gather(*(open_one(browser) for _ in range(count))))
            wall = time.monotonic() - start
            cpu = server_cpu_s(proc) - before_cpu
            memory = kernel_memory_mib(server)[before_kernels:]
            per_session = cpu / count
            phases[name] = {
                "sessions": count,
                "wall_s": round(wall, 2),
                "first_widget_max_s": round(max(waits), 2),
                "server_cpu_s_per_session": round(per_session, 2),
                "sessions_per_core_minute": round(60 / per_session, 1),
                "kernel_rss_mib_mean": mean_of([m[0] for m in memory]),
                "kernel_uss_mib_mean": mean_of([m[1] for m in memory]),
            }
        await browser.close()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dashboard", default="conv_arithmetic")
    parser.add_argument("--sequential", type=int, default=4)
    parser.add_argument("--burst", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per page")
    args = parser.parse_args()
    if not (0 <= args.sequential <= 20 and 0 <= args.burst <= 20
            and args.sequential + args.burst > 0):
        parser.error("--sequential and --burst must be between 0 and 20, not both 0")
    notebook = ROOT / "lessons" / "dashboards" / f"{args.dashboard}.ipynb"
    if not notebook.exists():
        parser.error(f"no dashboard {args.dashboard!r} in {notebook.parent}")
    load_before = os.getloadavg()[0]
    with voila_server(notebook) as (server, url):
        idle_server_mib = psutil.Process(server.pid).memory_info().rss / 2**20
        phases = asyncio.run(measure(url, args.sequential, args.burst, server, args.timeout))
    print(json.dumps({
        "dashboard": args.dashboard,
        "cores": os.cpu_count(),
        "load_before": round(load_before, 1),
        "server_rss_mib": round(idle_server_mib, 1),
        **phases,
    }))


if __name__ == "__main__":
    main()
