"""A real JupyterHub for tests (deploy/jupyterhub/jupyterhub_config.py, its real proxy), and a
client that talks to it as a person's browser and JupyterLab do: logging in with a password,
starting the user's own server, and calling that server through the proxy with the user's token.

Nothing here reaches past 127.0.0.1; the hub, the proxy and every server it spawned are stopped
by their PIDs.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cnncourse.app.serve import free_port

from .servers import Server

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = ROOT / "deploy" / "jupyterhub" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent


def proxy_path() -> Path:
    """configurable-http-proxy as `make hub` installs it; tests skip without it, except in CI."""
    if PROXY.exists():
        return PROXY
    message = f"no configurable-http-proxy at {PROXY} (run: make hub)"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must run the JupyterHub tests")
    pytest.skip(message)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict

    def json(self):
        return json.loads(self.body)


@dataclass
class User:
    """One person on the hub: their name, their API token, and a cookie jar for the login."""

    hub: Hub
    name: str
    token: str = ""
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def request(self, method: str, path: str, data=None, form: dict | None = None,
                timeout: float = 60) -> Response:
        """``method`` on the hub's public URL ``path`` with this user's token (JSON ``data``,
        or a urlencoded ``form``); redirects are not followed."""
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        return self.hub.send(method, path, body, headers, self.cookies, timeout)

    def server(self, method: str, path: str, **kwargs) -> Response:
        """A request to this user's own server, through the proxy: /user/NAME/PATH."""
        return self.request(method, f"/user/{self.name}/{path}", **kwargs)

    def start_server(self) -> None:
        response = self.request("POST", f"/hub/api/users/{self.name}/server")
        assert response.status in (201, 202), (response.status, response.body[:300])

    def wait_for_server(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"/hub/api/users/{self.name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            if not model.get("pending") and not server:
                raise AssertionError(f"{self.name}'s server failed to start:\n{self.hub.log()}")
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server not ready in {timeout} s:\n{self.hub.log()}")

    def run_python(self, code: str, timeout: float = 600) -> str:
        """Run ``code`` in a new kernel of this user's server (the kernel REST and websocket
        API, through the proxy) and return what it printed; the kernel is shut down after."""
        import websocket

        kernel = self.server("POST", "api/kernels", data={"name": "python3"}).json()["id"]
        url = (self.hub.url.replace("http://", "ws://")
               + f"user/{self.name}/api/kernels/{kernel}/channels")
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"],
                                         timeout=timeout)
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        printed, replied, idle = [], False, False
        try:
            while not (replied and idle):
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    printed.append(msg["content"]["text"])
                elif kind == "error":
                    raise AssertionError("\n".join(msg["content"]["traceback"]))
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        finally:
            ws.close()
            self.server("DELETE", f"api/kernels/{kernel}")
        return "".join(printed)


class Hub:
    """JupyterHub from the course's config, in ``folder`` (state, exchange and homes), with
    ``env`` added to the CNNCOURSE_HUB_* settings the test gives it."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder = folder
        port = free_port(0)
        self.url = f"http://127.0.0.1:{port}/"
        self.state = folder / "state"
        self.homes = folder / "home"
        self.exchange = folder / "exchange"
        settings = {
            "CNNCOURSE_HUB_IP": "127.0.0.1", "CNNCOURSE_HUB_PORT": str(port),
            "CNNCOURSE_HUB_HUB_PORT": str(free_port(0)),
            "CNNCOURSE_HUB_PROXY_API_PORT": str(free_port(0)),
            "CNNCOURSE_HUB_STATE": str(self.state), "CNNCOURSE_HUB_HOMES": str(self.homes),
            "CNNCOURSE_HUB_EXCHANGE": str(self.exchange), "CNNCOURSE_HUB_ACCOUNTS": "shared",
            "CNNCOURSE_HUB_PROXY": str(proxy_path()),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env}
        folder.mkdir(parents=True, exist_ok=True)
        self.process = Server([str(BIN / "jupyterhub"), "-f", str(CONFIG)], self.url,
                              folder / "jupyterhub.log", cwd=folder, env=settings)
        self.process.wait_until_up("hub/api", timeout=120)

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")[-6000:]

    def send(self, method: str, path: str, body: bytes | None, headers: dict,
             cookies: http.cookiejar.CookieJar, timeout: float) -> Response:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies),
                                             NoRedirect)
        request = urllib.request.Request(self.url + path.lstrip("/"), data=body,
                                         headers=headers, method=method)
        try:
            with opener.open(request, timeout=timeout) as response:
                return Response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read(), dict(err.headers))

    def login(self, name: str, password: str) -> tuple[Response, User]:
        """Log in through the hub's login form, as a browser does (its _xsrf field included)."""
        user = User(self, name)
        page = user.request("GET", "/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.body.decode())
        form = {"username": name, "password": password, "_xsrf": xsrf.group(1) if xsrf else ""}
        return user.request("POST", "/hub/login", form=form), user

    def user(self, name: str, password: str) -> User:
        """A logged-in user with an API token they made themselves (as on the hub's Token page)."""
        response, user = self.login(name, password)
        assert response.status == 302, f"{name} could not log in ({response.status})"
        xsrf = next(c.value for c in user.cookies if c.name == "_xsrf")
        created = self.send("POST", f"/hub/api/users/{name}/tokens",
                            json.dumps({"note": "test", "expires_in": 3600}).encode(),
                            {"X-XSRFToken": xsrf, "Content-Type": "application/json"},
                            user.cookies, 30)
        assert created.status == 201, (created.status, created.body[:300])
        user.token = created.json()["token"]
        return user

    def stop(self) -> None:
        """Stop the hub (which stops its servers and its proxy), then, by PID, whatever it
        started that is still alive (servers and proxy are its children, each the leader of its
        own session; kernels are theirs)."""
        import psutil

        try:
            started = psutil.Process(self.process.process.pid).children(recursive=True)
        except psutil.Error:
            started = []
        self.process.stop()
        for process in started:
            try:
                process.kill()
            except psutil.Error:  # already gone
                pass
