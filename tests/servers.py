"""Start and stop real servers (Voila, JupyterLab) for tests: loopback only, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cnncourse.app.serve import free_port, voila_cull_args

BIN = Path(sys.executable).parent


class Server:
    """A server process started in its own process group, with its output in a log file."""

    def __init__(self, args: Sequence[str], url: str, log: Path, cwd: Path | None = None,
                 env: dict | None = None):
        self.url = url
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(args), cwd=cwd, stdout=self._log_file, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_until_up(self, path: str = "", timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status < 500:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server at {self.url} did not answer within {timeout} s:\n"
                           f"{self.log.read_text(errors='replace')[-3000:]}")

    def kernels(self) -> int:
        """How many kernels (ipykernel processes) this server runs now."""
        import psutil

        count = 0
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                count += any("ipykernel" in part for part in child.cmdline())
            except psutil.Error:  # ended while we looked
                pass
        return count

    def stop(self) -> None:
        """Stop the server and everything it started (its kernels), by its process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log_file.close()


def start_voila(target: Path, log: Path, extra: Sequence[str] = (), cull_idle: int = 5) -> Server:
    """Voila on one notebook (served at /) or on a folder (pages at /voila/render/NAME).

    As ``cnncourse dashboard`` does, kernels whose page was closed are culled once idle (here
    after ``cull_idle`` seconds), so the pages a test has left do not pile up kernels."""
    port = free_port(0)
    server = Server([str(BIN / "voila"), "--no-browser", f"--port={port}",
                     "--Voila.ip=127.0.0.1", *voila_cull_args(cull_idle), *extra, str(target)],
                    f"http://127.0.0.1:{port}/", log,
                    cwd=target if target.is_dir() else target.parent)
    server.wait_until_up()
    return server


def start_lab(root: Path, token: str, log: Path) -> Server:
    """JupyterLab on ``root`` with its own user settings: every cell stays in the page (no
    windowing), so a test can find outputs without scrolling, and no news pop-up."""
    settings = log.parent / "lab-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port(0)
    server = Server([str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}",
                     "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                     f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
                     "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                     *(["--allow-root"] if os.geteuid() == 0 else [])],
                    f"http://127.0.0.1:{port}/", log, cwd=root,
                    env={"JUPYTERLAB_SETTINGS_DIR": str(settings.parent)})
    server.wait_until_up(f"api/status?token={token}")
    return server
