"""The ``cnncourse`` command: lessons in JupyterLab, dashboards with Voila, data, exercises.

    cnncourse lab [--dir DIR]              open the lessons in JupyterLab
    cnncourse dashboard NAME [--port P]    serve one explorer as a code-free Voila page
    cnncourse dashboard --list             list the dashboards
    cnncourse data download|info [--root DIR]
    cnncourse exercises ...                instructor commands (nbgrader)

A mistake on the command line gets one line that says what would work, and exit code 2.
``lab`` and ``dashboard`` start their servers in ``serve``; ``exercises`` is in ``instructor``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .._checks import first_line
from .errors import CommandError
from .options import whole_number
from .serve import DEFAULT_CULL_IDLE_S, DEFAULT_LAB_DIR, DEFAULT_PORT, cmd_dashboard, cmd_lab


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) that points at ``--help``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------- argument types


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


_cull_idle = whole_number("--cull-idle", 0, "keep kernels", unit=" of seconds")
_max_kernels = whole_number("--max-kernels", 0, "no cap")


# ----------------------------------------------------------------------------- data


def _existing_folder(text: str, option: str) -> Path:
    folder = Path(text).expanduser()
    if not folder.exists():
        raise CommandError(f"folder {folder} does not exist; create it first or give an "
                           f"existing folder with {option}")
    if not folder.is_dir():
        raise CommandError(f"{folder} is a file, not a folder; give a folder with {option}")
    return folder


def _data_root(root: str | None) -> tuple[Path, str]:
    """The data folder and why it is the one used."""
    from ..data_folder import ENV_VAR, default_root

    if root is not None:
        return Path(root).expanduser(), "given with --root"
    if os.environ.get(ENV_VAR):
        return default_root(), f"from the environment variable {ENV_VAR}"
    return default_root(), f"the per-user cache ({ENV_VAR} is not set)"


def _load_quietly(folder: Path, download: bool):
    from ..data import load_mnist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load_mnist(folder, download=download)
        except ValueError as err:
            raise CommandError(str(err)) from None


def _is_fallback(data) -> bool:
    return not data.source.startswith("MNIST")


def cmd_data_info(args: argparse.Namespace) -> int:
    folder, why = _data_root(args.root)
    if args.root is not None:
        _existing_folder(args.root, "--root")
    print(f"data folder: {folder} ({why})")
    if not folder.is_dir():
        print("  that folder does not exist yet")
    data = _load_quietly(folder, download=False)
    if _is_fallback(data):
        what = data.source.split(";")[0]
        print(f"no MNIST there: the lessons would use the offline fallback, {what}")
        print("  to use MNIST: cnncourse data download"
              + (f" --root {args.root}" if args.root else ""))
    else:
        print(f"lessons use {data.source}")
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from ..data import download_mnist

    folder, why = _data_root(args.root)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{folder} is a file, not a folder; give a folder with --root")
    if not folder.exists() and not folder.parent.is_dir():
        raise CommandError(f"folder {folder.parent} does not exist; create it first or give "
                           "another folder with --root")
    print(f"data folder: {folder} ({why})")
    sys.stdout.flush()
    try:
        data = download_mnist(folder)
    except Exception as err:  # network or disk: say what the lessons will use instead
        reason = first_line(err)
        have = _load_quietly(folder, download=False) if folder.is_dir() else None
        if have is not None and not _is_fallback(have):
            print(f"cnncourse data: error: could not download MNIST's training files into "
                  f"{folder} ({reason}); the lessons go on using what is there: {have.source}",
                  file=sys.stderr)
        else:
            print(f"cnncourse data: error: could not download MNIST into {folder} ({reason}); "
                  "check the network, or copy MNIST's IDX files (t10k-images-idx3-ubyte.gz, "
                  "...) there", file=sys.stderr)
        return 1
    print(f"ready: {data.source}")
    if args.root is not None:
        print(f"  point the lessons at it with: export CNNCOURSE_DATA={folder.resolve()}")
    return 0


# ----------------------------------------------------------------------------- exercises


def _add_exercises(subparsers) -> None:
    try:
        from .instructor import add_exercises_parser
    except ImportError as err:
        absent = getattr(err, "name", None) == f"{__package__}.instructor"
        reason = "this version of cnncourse has no instructor module" if absent else (
            first_line(err))
        parser = subparsers.add_parser(
            "exercises", help="instructor commands for the graded exercises (unavailable)",
            description="Instructor commands for the nbgrader exercises.")
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

        def unavailable(args: argparse.Namespace) -> int:
            raise CommandError(f"the exercises commands cannot load ({reason}); install "
                               "cnncourse with its dependencies (pip install cnncourse)")

        parser.set_defaults(func=unavailable)
        return
    add_exercises_parser(subparsers)


# ----------------------------------------------------------------------------- the parser


def build_parser() -> Parser:
    parser = Parser(
        prog="cnncourse",
        description="Learn convolutional neural networks in Jupyter: lessons, dashboards, "
                    "data and graded exercises.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lab = sub.add_parser(
        "lab", help="open the lessons in JupyterLab",
        description="Open the lessons in JupyterLab. From a clone of the repository the "
                    "lessons/ folder is opened as it is; after a pip install the lessons are "
                    f"first copied into DIR (default ./{DEFAULT_LAB_DIR}). Notebooks already "
                    "in DIR are never overwritten.")
    lab.add_argument("--dir", metavar="DIR",
                     help="copy the lessons into DIR (created if needed) and open them there")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.add_argument("jupyter_args", nargs="*", metavar="-- JUPYTER_OPTION",
                     help="options passed on to JupyterLab, after --, e.g. -- --port 9999")
    lab.set_defaults(func=cmd_lab)

    dash = sub.add_parser(
        "dashboard", help="serve an explorer as a code-free Voila dashboard",
        description="Serve one explorer as a dashboard with Voila on 127.0.0.1 (no code "
                    "shown). NAME is a dashboard from --list, or 'index' for all of them.")
    dash.add_argument("name", nargs="?", metavar="NAME", help="which dashboard (see --list)")
    dash.add_argument("--list", action="store_true", help="list the dashboards and exit")
    dash.add_argument("--port", type=_port, metavar="P",
                      help=f"port to serve on (default: the first free one from {DEFAULT_PORT})")
    dash.add_argument("--no-browser", action="store_true", help="do not open a browser")
    dash.add_argument("--cull-idle", type=_cull_idle, metavar="S", default=DEFAULT_CULL_IDLE_S,
                      help="free a kernel S seconds after its browser tab is closed and it is "
                           f"idle (default {DEFAULT_CULL_IDLE_S}; 0 keeps every kernel)")
    dash.add_argument("--max-kernels", type=_max_kernels, metavar="N",
                      help="serve at most N tabs at once (each runs a kernel); the next visitor "
                           "gets a 'dashboard is full' page (default: what the free memory "
                           "holds; 0: no cap)")
    dash.set_defaults(func=cmd_dashboard)

    data = sub.add_parser(
        "data", help="download MNIST or show where the data comes from",
        description="MNIST for the lessons. The data folder is --root, else the environment "
                    "variable CNNCOURSE_DATA, else a per-user cache folder. Without MNIST the "
                    "lessons fall back to scikit-learn's small digits.")
    data_sub = data.add_subparsers(dest="action", metavar="ACTION")
    download = data_sub.add_parser(
        "download", help="fetch MNIST ahead of an offline class",
        description="Download MNIST into the data folder, so that lessons run offline later.")
    info = data_sub.add_parser(
        "info", help="say where the lessons' data comes from now",
        description="Show the data folder, why it is the one used, and what the lessons "
                    "would load from it (nothing is downloaded).")
    for p in (download, info):
        p.add_argument("--root", metavar="DIR", help="the data folder to use")
    download.set_defaults(func=cmd_data_download)
    info.set_defaults(func=cmd_data_info)
    data.set_defaults(func=_needs(data, "download or info"))

    _add_exercises(sub)
    parser.set_defaults(func=_needs(parser, "lab, dashboard, data or exercises"))
    return parser


def _needs(parser: Parser, what: str) -> Callable[[argparse.Namespace], int]:
    def missing(args: argparse.Namespace) -> int:
        parser.error(f"choose a command: {what}")
        return 2

    return missing


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cnncourse {version('cnncourse')}"
    except PackageNotFoundError:
        return "cnncourse (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CommandError as err:
        print(f"cnncourse {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
