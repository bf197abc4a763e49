"""The ``cnncourse`` command: help, argument errors, dashboards, data and the lab folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cnncourse.app import cli, course_files, serve
from cnncourse.app.serve import free_port

from .servers import Server

ROOT = Path(__file__).resolve().parent.parent
MNIST = Path(os.environ.get("CNNCOURSE_DATA", ROOT.parent / "shared" / "data" / "mnist"))
COURSE = course_files.find_course()
DASHBOARD_STEMS = sorted(course_files.dashboard_notebooks(COURSE)) if COURSE else []


def command() -> list[str]:
    """The installed console script, or the module when the script is not on disk."""
    script = Path(sys.executable).parent / "cnncourse"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cnncourse"]


def run(*args: str, env: dict | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*command(), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --------------------------------------------------------------------------------- help


def subcommand_paths() -> list[list[str]]:
    """Every command and subcommand of the parser, e.g. [], ["data"], ["data", "info"]."""
    found: list[list[str]] = []

    def walk(parser, path):
        found.append(path)
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(cli.build_parser(), [])
    return found


def test_every_subcommand_has_help(capsys):
    paths = subcommand_paths()
    names = {" ".join(p) for p in paths}
    assert {"lab", "dashboard", "data", "data download", "data info", "exercises"} <= names
    for path in paths:
        with pytest.raises(SystemExit) as stop:
            cli.main([*path, "--help"])
        assert stop.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: {' '.join(['cnncourse', *path])}"), out[:200]


def test_console_script_help_and_version():
    result = run("--help")
    assert result.returncode == 0
    for name in ("lab", "dashboard", "data", "exercises"):
        assert name in result.stdout
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("cnncourse ")


@pytest.mark.parametrize("module", ["cnncourse", "cnncourse.app.cli"])
def test_python_dash_m_runs_the_command(module):
    result = subprocess.run([sys.executable, "-m", module, "dashboard", "--list"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("index"), result.stdout
    assert "RuntimeWarning" not in result.stderr, result.stderr


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("args, fragments", [
    ([], ["choose a command"]),
    (["bogus"], ["invalid choice", "'lab'"]),
    (["dashboard"], ["name a dashboard", "kernel"]),
    (["dashboard", "no-such-thing"], ["unknown dashboard 'no-such-thing'", "kernel", "index"]),
    (["dashboard", "kernal"], ["did you mean 'kernel'"]),
    (["dashboard", "kernel", "--port", "abc"], ["port must be a number"]),
    (["dashboard", "kernel", "--port", "70000"], ["between 1 and 65535"]),
    (["dashboard", "kernel", "--cull-idle", "soon"], ["--cull-idle", "whole number of seconds"]),
    (["dashboard", "kernel", "--cull-idle", "-5"], ["--cull-idle", "0 (keep kernels) or more"]),
    (["dashboard", "kernel", "--max-kernels", "many"], ["--max-kernels", "whole number"]),
    (["dashboard", "kernel", "--max-kernels", "-1"], ["--max-kernels", "0 (no cap) or more"]),
    (["exercises", "grade", "--jobs", "two"], ["--jobs", "whole number"]),
    (["exercises", "grade", "--jobs", "0"], ["--jobs", "1 (one at a time) or more"]),
    (["data"], ["choose a command: download or info"]),
    (["data", "fetch"], ["invalid choice"]),
    (["data", "info", "--root", "/no/such/folder/anywhere"], ["does not exist", "--root"]),
    (["data", "download", "--root", "/no/such/folder/x"], ["does not exist", "--root"]),
    (["lab", "--dir", "/no/such/folder/x"], ["does not exist", "--dir"]),
    (["lab", "--frobnicate"], ["unrecognized arguments"]),
    (["lab", "lesons"], ["unexpected argument 'lesons'", "after --"]),
    (["exercises"], []),
])
def test_argument_errors_are_one_line_with_exit_code_2(args, fragments):
    assert_one_line_error(run(*args), *fragments)


def test_lab_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    assert_one_line_error(run("lab", "--dir", str(a_file)), "is a file", "--dir")


def test_port_in_use_is_refused_with_a_free_alternative():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = assert_one_line_error(run("dashboard", "kernel", "--port", str(port)),
                                     f"port {port} is in use")
    suggested = int(line.split("--port ")[1].split(",")[0])
    assert suggested != port and serve.port_is_free(suggested)


# --------------------------------------------------------------------------------- dashboards

def test_cull_args_free_kernels_whose_tab_is_gone():
    assert serve.voila_cull_args(0) == []
    assert serve.voila_cull_args(300) == ["--MappingKernelManager.cull_idle_timeout=300",
                                        "--MappingKernelManager.cull_interval=60"]
    assert serve.voila_cull_args(3) == ["--MappingKernelManager.cull_idle_timeout=3",
                                      "--MappingKernelManager.cull_interval=1"]



def test_list_names_every_dashboard_and_its_explorer():
    result = run("dashboard", "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(DASHBOARD_STEMS) + 1
    for stem in DASHBOARD_STEMS:
        info = course_files.dashboard_info(COURSE.dashboards / f"{stem}.ipynb")
        assert any(line.split()[0] == stem and info["explorer"] in line for line in lines), stem
    assert lines[-1].startswith("index")


@pytest.mark.parametrize("given, stem", [
    ("kernel", "kernel"), ("KernelExplorer", "kernel"), ("KERNEL", "kernel"),
    ("conv-arithmetic", "conv_arithmetic"), ("ConvArithmeticExplorer", "conv_arithmetic"),
    ("conv_as_matmul", "conv_as_matmul"), ("ConvAsMatmulExplorer", "conv_as_matmul"),
    ("kernels", None), ("", None),
])
def test_dashboard_names_resolve(given, stem):
    dashboards = course_files.dashboard_notebooks(COURSE)
    assert serve.resolve_dashboard(given, dashboards) == stem


class Served(Server):
    """``cnncourse dashboard ...`` running as a child process, stopped by its process group."""

    def __init__(self, args: list[str], log: Path):
        self.port = free_port(0)
        super().__init__([*command(), "dashboard", *args, "--port", str(self.port),
                          "--no-browser"], f"http://127.0.0.1:{self.port}/", log, cwd=ROOT)

    def fetch(self, path: str = "", timeout: float = 300) -> str:
        """The page at ``path``, once the server answers (Voila runs the notebook first)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n"
                                     f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                    assert response.status == 200
                    return response.read().decode("utf-8", errors="replace")
            except (urllib.error.URLError, ConnectionError) as err:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer from {self.url + path}: {err}") from None
                time.sleep(0.5)


@pytest.fixture
def start_dashboard(tmp_path):
    started: list[Served] = []

    def start(*args: str) -> Served:
        server = Served(list(args), tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def widget_views(page: str) -> int:
    return page.count("application/vnd.jupyter.widget-view+json")


@pytest.mark.slow
def test_dashboard_is_served_on_loopback_without_code(start_dashboard):
    server = start_dashboard("kernel")
    page = server.fetch()
    assert widget_views(page) >= 1, page[:2000]
    assert "Kernels" in page  # the dashboard's markdown title
    assert "from cnncourse.explorers import" not in page  # Voila's template strips code
    assert "Traceback" not in page
    log = server.log.read_text(errors="replace")
    assert f"127.0.0.1:{server.port}" in log
    server.stop()
    assert server.process.returncode is not None


@pytest.mark.slow
def test_index_serves_all_dashboards_with_links(start_dashboard):
    server = start_dashboard("index")
    index = server.fetch("voila/render/index.ipynb")
    for stem in DASHBOARD_STEMS:
        assert f"{stem}.ipynb" in index, stem
    page = server.fetch("voila/render/pooling.ipynb")
    assert widget_views(page) >= 1


# --------------------------------------------------------------------------------- data


needs_mnist = pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                                 reason="no MNIST folder on this machine")


@needs_mnist
def test_data_info_reports_the_mnist_folder_from_the_environment():
    result = run("data", "info", env={"CNNCOURSE_DATA": str(MNIST)})
    assert result.returncode == 0, result.stderr
    assert str(MNIST) in result.stdout
    assert "CNNCOURSE_DATA" in result.stdout
    assert "MNIST" in result.stdout and "fallback" not in result.stdout


def test_data_info_on_an_empty_folder_names_the_fallback_and_the_fix(tmp_path):
    result = run("data", "info", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path} (given with --root)" in result.stdout
    assert "offline fallback" in result.stdout
    assert f"cnncourse data download --root {tmp_path}" in result.stdout


def test_data_info_downloads_nothing(tmp_path):
    run("data", "info", "--root", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_data_download_without_network_fails_fast_with_one_line(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    start = time.monotonic()
    code = cli.main(["data", "download", "--root", str(tmp_path / "mnist")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download MNIST" in err[0], err
    assert time.monotonic() - start < 60  # fails fast, falls back: no hang


def mnist_copy(folder: Path, also_as_training: bool) -> Path:
    """A folder with MNIST's test files (and, if asked, the same files named as training ones)."""
    folder.mkdir()
    for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        shutil.copy(MNIST / f"t10k-{kind}", folder / f"t10k-{kind}")
        if also_as_training:
            shutil.copy(MNIST / f"t10k-{kind}", folder / f"train-{kind}")
    return folder


@needs_mnist
def test_data_download_into_a_folder_that_has_all_of_mnist_is_ready(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.setattr(socket, "create_connection", None)  # no download may be tried
    folder = mnist_copy(tmp_path / "mnist", also_as_training=True)
    assert cli.main(["data", "download", "--root", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "ready: MNIST from" in out and f"CNNCOURSE_DATA={folder.resolve()}" in out


@needs_mnist
def test_data_download_with_only_the_test_set_tries_for_the_rest(tmp_path, capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    folder = mnist_copy(tmp_path / "mnist", also_as_training=False)
    before = sorted(p.name for p in folder.iterdir())
    assert cli.main(["data", "download", "--root", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "could not download MNIST's training files" in err[0]
    assert "go on using what is there: MNIST test set" in err[0]
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing lost


# --------------------------------------------------------------------------------- lab


@pytest.fixture
def launched(monkeypatch):
    """Record what ``cnncourse lab`` would open instead of starting JupyterLab."""
    calls: list[tuple] = []

    def launch(folder, open_browser, extra=()):
        calls.append((Path(folder), open_browser, *extra))
        return 0

    monkeypatch.setattr(serve, "_launch_lab", launch)
    return calls


def test_lab_in_a_clone_opens_the_lessons_folder_itself(launched):
    assert COURSE is not None and COURSE.from_clone
    assert cli.main(["lab", "--no-browser"]) == 0
    assert launched == [(COURSE.lessons, False)]


def test_lab_passes_options_after_double_dash_to_jupyterlab(launched):
    assert cli.main(["lab", "--", "--port", "9999", "--allow-root"]) == 0
    assert launched == [(COURSE.lessons, True, "--port", "9999", "--allow-root")]


def test_lab_dir_copies_every_notebook_and_never_overwrites(tmp_path, launched, capsys):
    target = tmp_path / "my-course"
    assert cli.main(["lab", "--dir", str(target)]) == 0
    assert launched == [(target, True)]
    expected = sorted(p.relative_to(COURSE.lessons) for p in COURSE.lessons.rglob("*.ipynb"))
    copied = sorted(p.relative_to(target) for p in target.rglob("*.ipynb"))
    assert copied == expected
    assert f"copied {len(expected)} notebooks" in capsys.readouterr().out

    first = target / expected[0]
    first.write_text('{"edited": "by the student"}')
    assert cli.main(["lab", "--dir", str(target)]) == 0
    assert json.loads(first.read_text()) == {"edited": "by the student"}
    assert f"copied 0 notebooks into {target} (kept {len(expected)}" in capsys.readouterr().out


def installed_copy(tmp_path: Path) -> Path:
    """A package folder laid out as after ``pip install``: notebooks in ``_lessons``."""
    package = tmp_path / "site-packages" / "cnncourse"
    shutil.copytree(COURSE.lessons, package / course_files.PACKAGED,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return package


def test_find_course_after_pip_install_uses_the_packaged_copy(tmp_path):
    package = installed_copy(tmp_path)
    course = course_files.find_course(package)
    assert course == course_files.Course(package / "_lessons", from_clone=False)
    assert [p.name for p in course_files.lesson_notebooks(course)] == [
        p.name for p in course_files.lesson_notebooks(COURSE)]
    assert course_files.find_course(tmp_path / "nothing-here") is None


def test_lab_after_pip_install_copies_into_the_default_folder(tmp_path, launched,
                                                              monkeypatch):
    package = installed_copy(tmp_path)
    monkeypatch.setattr(course_files, "find_course",
                        lambda package_dir=package: course_files.Course(
                            package / "_lessons", from_clone=False))
    workdir = tmp_path / "student"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert cli.main(["lab"]) == 0
    target = Path(serve.DEFAULT_LAB_DIR)
    assert launched == [(target, True)]
    assert (workdir / target / "01_hand_made_kernels.ipynb").is_file()
    assert (workdir / target / "dashboards" / "index.ipynb").is_file()


def test_missing_lessons_is_a_one_line_error(monkeypatch, capsys, launched):
    monkeypatch.setattr(course_files, "find_course", lambda package_dir=None: None)
    assert cli.main(["lab"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lesson notebooks are missing" in err[0]
    assert launched == []
