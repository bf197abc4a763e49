"""Serving the course: the lessons in JupyterLab, the dashboards with Voila, and their ports.

``cmd_lab`` and ``cmd_dashboard`` are the ``cnncourse lab`` and ``cnncourse dashboard``
commands; ``cli`` parses their arguments. Both servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from . import course_files
from .errors import CommandError

DEFAULT_PORT = 8866  # Voila's usual port
# Voila's own shutdown request on closing a tab is refused (voila-dashboards/voila#1458), so
# kernels whose page is gone are culled instead: idle and with no browser connected.
DEFAULT_CULL_IDLE_S = 300
DEFAULT_LAB_DIR = "cnncourse-lessons"
HOST = "127.0.0.1"


# ----------------------------------------------------------------------------- ports


def port_problem(port: int, host: str = HOST) -> str:
    """Why a server could not listen on ``host:port`` right now ("" if it could)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except PermissionError:
            return "needs administrator rights"
        except OSError:
            return "is in use"
    return ""


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``host:port`` right now."""
    return not port_problem(port, host)


def free_port(start: int = DEFAULT_PORT, host: str = HOST, tries: int = 100) -> int:
    """A port a server could listen on at ``host`` now: the first free one of ``tries`` from
    ``start`` on, or with ``start=0`` any free one the system picks (as tests want)."""
    if start == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    for port in range(start, min(start + tries, 65536)):
        if port_is_free(port, host):
            return port
    raise CommandError(f"no free port between {start} and {start + tries - 1}; "
                       "choose one with --port")


# ----------------------------------------------------------------------------- lab


def _course() -> course_files.Course:
    course = course_files.find_course()
    if course is None:
        raise CommandError(
            "the lesson notebooks are missing from this installation; reinstall cnncourse "
            "or run the command from a clone of its repository")
    return course


def _launch_lab(folder: Path, open_browser: bool, extra: Sequence[str] = ()) -> int:
    from jupyterlab.labapp import LabApp

    argv = [f"--ServerApp.root_dir={folder}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        argv.append("--allow-root")  # containers and Binder-like images often run as root
    if not open_browser:
        argv.append("--no-browser")
    LabApp.launch_instance(argv=argv)
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    if args.jupyter_args and not args.jupyter_args[0].startswith("-"):
        raise CommandError(f"unexpected argument {args.jupyter_args[0]!r}; options for "
                           "JupyterLab itself go after --, e.g. cnncourse lab -- --port 9999")
    course = _course()
    if args.dir is None and course.from_clone:
        folder = course.lessons
    else:
        folder = Path(args.dir if args.dir is not None else DEFAULT_LAB_DIR).expanduser()
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is a file, not a folder; choose a folder with --dir")
        if not folder.exists() and not folder.parent.is_dir():
            raise CommandError(f"folder {folder.parent} does not exist; create it first or "
                               "choose another place with --dir")
        report = course_files.copy_course(course, folder)
        kept = f" (kept {len(report.kept)} you already had)" if report.kept else ""
        print(f"copied {len(report.copied)} notebooks into {folder}{kept}")
    return _launch_lab(folder, open_browser=not args.no_browser, extra=args.jupyter_args)


# ----------------------------------------------------------------------------- dashboards


def _normalise(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").removesuffix("explorer")


def resolve_dashboard(name: str, dashboards: dict[str, Path]) -> str | None:
    """The dashboard ``name`` means: its file name (``conv_arithmetic``, ``conv-arithmetic``)
    or its explorer class (``ConvArithmeticExplorer``), in any case; ``None`` if none."""
    wanted = _normalise(name)
    for stem, path in dashboards.items():
        explorer = course_files.dashboard_info(path)["explorer"]
        if wanted in (_normalise(stem), _normalise(explorer)):
            return stem
    return None


def _dashboard_names(dashboards: dict[str, Path]) -> str:
    return ", ".join([*dashboards, course_files.INDEX])


def cmd_dashboard(args: argparse.Namespace) -> int:
    course = _course()
    dashboards = course_files.dashboard_notebooks(course)
    if args.list:
        width = max(len(n) for n in [*dashboards, course_files.INDEX])
        for stem, path in dashboards.items():
            info = course_files.dashboard_info(path)
            print(f"{stem:<{width}}  {info['explorer']}: {info['title']}")
        print(f"{course_files.INDEX:<{width}}  all of them, served together with a page "
              "that links them")
        return 0
    if args.name is None:
        raise CommandError(f"name a dashboard: one of {_dashboard_names(dashboards)} "
                           "(or use --list)")
    if _normalise(args.name) in (course_files.INDEX, "all"):
        stem, target = course_files.INDEX, course.dashboards
    else:
        stem = resolve_dashboard(args.name, dashboards)
        if stem is None:
            close = difflib.get_close_matches(args.name.lower(), dashboards, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CommandError(f"unknown dashboard {args.name!r}; {hint}choose one of "
                               f"{_dashboard_names(dashboards)}")
        target = dashboards[stem]
    if args.port is None:
        port = free_port()
    elif not (problem := port_problem(args.port)):
        port = args.port
    else:
        raise CommandError(f"port {args.port} {problem} on {HOST}; choose another, e.g. "
                           f"--port {free_port(max(args.port + 1, 1024))}, or leave out --port")
    where = f"http://{HOST}:{port}/"
    if stem == course_files.INDEX:
        print(f"serving all dashboards; the index page is {where}voila/render/index.ipynb")
    else:
        print(f"serving dashboard {stem!r} at {where} (stop with Ctrl-C)")
    max_kernels = args.max_kernels
    if max_kernels is None:
        from .dashboard_cap import KERNEL_MIB, default_max_kernels

        max_kernels = default_max_kernels()
        print(f"at most {max_kernels} kernels at once (one per open tab, about {KERNEL_MIB} MiB "
              "each, from the memory free now; change with --max-kernels)")
    sys.stdout.flush()
    return _launch_voila(target, port, open_browser=not args.no_browser,
                         cull_idle=args.cull_idle, max_kernels=max_kernels)


def voila_cull_args(seconds: int) -> list[str]:
    """Voila options that shut down a kernel ``seconds`` after its last browser tab went away
    and it went idle. Kernels with a page still open are never culled. 0: keep every kernel."""
    if seconds <= 0:
        return []
    return [f"--MappingKernelManager.cull_idle_timeout={seconds}",
            f"--MappingKernelManager.cull_interval={max(1, min(60, seconds // 2))}"]


def _launch_voila(target: Path, port: int, open_browser: bool, cull_idle: int,
                  max_kernels: int = 0) -> int:
    from .dashboard_cap import CappedVoila

    argv = [str(target), f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0",
            f"--CappedVoila.max_kernels={max_kernels}", *voila_cull_args(cull_idle)]
    if not open_browser:
        argv.append("--no-browser")
    try:
        CappedVoila.launch_instance(argv=argv)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise CommandError(f"port {port} was taken just now; try again, or choose "
                               "another with --port") from None
        raise
    return 0
