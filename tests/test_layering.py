"""The package's layers: app -> explorers -> viz -> engine, no import cycles, short modules.

Read from the source with ``ast`` (imports inside functions count too; those under
``if TYPE_CHECKING:`` do not, since they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnncourse"
ENGINE = {"arithmetic", "shapes", "kernels", "conv", "pooling", "norm", "losses", "schedules",
          "_checks", "data", "models", "training", "callbacks", "hooks"}
DISPLAY = {"ipywidgets", "matplotlib", "PIL", "bqplot", "ipycanvas", "IPython", "ipykernel"}
APP = {"cli", "instructor", "course_files", "errors"}
MAX_LINES = 400
# Modules still over MAX_LINES, with the length they may not exceed while they are split up.
OVER_LIMIT = {"cli.py": 433, "instructor.py": 401, "training.py": 429,
              "explorers/draw_digit.py": 479}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from . import _render` imports that module only
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in MODULES else module)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p) for p in SOURCES}
GRAPH = {module_name(p): {m for m in imports_of(p) if m in MODULES} for p in SOURCES}
EXTERNAL = {module_name(p): {m.split(".")[0] for m in imports_of(p)} for p in SOURCES}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("name", sorted(ENGINE))
def test_the_engine_imports_no_display_library_and_nothing_above_it(name):
    module = f"cnncourse.{name}"
    closure = reachable(module) | {module}
    shown = {lib for m in closure for lib in EXTERNAL[m] & DISPLAY}
    assert not shown, f"{module} reaches {shown}"
    above = {m for m in closure if m != "cnncourse" and m.split(".")[1] not in ENGINE}
    assert not above, f"{module} imports {above}, which are above the engine"


def test_viz_and_explorers_do_not_import_the_app_layer():
    for module, imported in GRAPH.items():
        if module == "cnncourse.viz" or module.startswith("cnncourse.explorers"):
            app = {m for m in imported if m.split(".")[-1] in APP}
            assert not app, f"{module} imports {app}"
        if module == "cnncourse.viz":
            assert not any(m.startswith("cnncourse.explorers") for m in imported)


def test_no_import_cycles():
    for module in GRAPH:
        assert module not in reachable(module), (
            f"{module} imports itself through " + ", ".join(sorted(
                m for m in reachable(module) if module in reachable(m))))


def test_a_scene_explorer_computes_without_widgets_pictures_or_threads():
    from cnncourse.explorers import ALL, Explorer

    checked = 0
    for cls in ALL.values():
        if cls.compute is Explorer.compute:
            continue  # not yet on settings -> scene -> view
        source = Path(__import__(cls.__module__, fromlist=["x"]).__file__).read_text()
        tree = ast.parse(source)
        (method,) = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                     and node.name == cls.__name__]
        (compute,) = [n for n in method.body if isinstance(n, ast.FunctionDef)
                      and n.name == "compute"]
        names = {n.id for n in ast.walk(compute) if isinstance(n, ast.Name)}
        forbidden = names & {"widgets", "r", "Image", "ImageDraw", "threading", "plt"}
        assert not forbidden, f"{cls.__name__}.compute uses {forbidden}"
        checked += 1
    assert checked >= 1


def test_modules_stay_short():
    long = {}
    for path in SOURCES:
        lines = len(path.read_text().splitlines())
        name = str(path.relative_to(PACKAGE))
        if lines > OVER_LIMIT.get(name, MAX_LINES):
            long[name] = lines
    assert not long, f"over {MAX_LINES} lines (or longer than they were): {long}"
