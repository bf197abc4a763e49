"""The package's layers: app -> explorers -> viz -> engine, no import cycles, short modules.

Read from the source with ``ast`` (imports inside functions count too; those under
``if TYPE_CHECKING:`` do not, since they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnncourse"
ENGINE = {"arithmetic", "augment", "sizes", "receptive", "tracing", "footprint", "shapes",
          "kernels", "conv", "pooling", "norm", "losses", "schedules", "_checks", "backprop",
          "data", "data_folder", "drawing", "colours", "models", "optimizers", "training",
          "callbacks", "hooks", "inspection"}
DISPLAY = {"ipywidgets", "matplotlib", "PIL", "bqplot", "ipycanvas", "IPython", "ipykernel"}
APP = "cnncourse.app"  # the top layer: the `cnncourse` command and the instructor tools
APP_ENTRY = "cnncourse.__main__"  # `python -m cnncourse`: runs the command, so it may import it
MAX_LINES = 400
# Modules still over MAX_LINES, with the length they may not exceed while they are split up.
OVER_LIMIT: dict[str, int] = {}


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


def in_app(module: str) -> bool:
    return module == APP or module.startswith(APP + ".")


def imports_of_the_app(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Modules outside the app that import it (engine, viz, explorers, grading, ...)."""
    found = {module: {m for m in imported if in_app(m)} for module, imported in graph.items()
             if not in_app(module) and module != APP_ENTRY}
    return {module: app for module, app in found.items() if app}


def test_nothing_below_the_app_imports_it():
    assert {"cnncourse.app.cli", "cnncourse.app.instructor"} <= MODULES
    assert "cnncourse.grading" in GRAPH["cnncourse.app.preprocessors"]  # `from .. import`
    below = imports_of_the_app(GRAPH)
    assert not below, f"only the app imports cnncourse.app; these import it: {below}"


def test_an_import_of_the_app_from_below_is_caught():
    tangled = {"cnncourse.viz": {"cnncourse.app.serve"}, "cnncourse.grading": {"cnncourse.app"},
               "cnncourse.app.cli": {"cnncourse.viz"}, APP_ENTRY: {"cnncourse.app.cli"}}
    assert imports_of_the_app(tangled) == {"cnncourse.viz": {"cnncourse.app.serve"},
                                           "cnncourse.grading": {"cnncourse.app"}}


def test_viz_does_not_import_the_explorers():
    assert not any(m.startswith("cnncourse.explorers") for m in GRAPH["cnncourse.viz"])


def test_no_import_cycles():
    for module in GRAPH:
        assert module not in reachable(module), (
            f"{module} imports itself through " + ", ".join(sorted(
                m for m in reachable(module) if module in reachable(m))))


def test_a_scene_explorer_computes_without_widgets_pictures_or_threads():
    from cnncourse.explorers import ALL, Explorer

    checked = 0
    for cls in ALL.values():
        assert cls.compute is not Explorer.compute, f"{cls.__name__} has no compute()"
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
    assert checked == len(ALL)


def test_modules_stay_short():
    long = {}
    for path in SOURCES:
        lines = len(path.read_text().splitlines())
        name = str(path.relative_to(PACKAGE))
        if lines > OVER_LIMIT.get(name, MAX_LINES):
            long[name] = lines
    assert not long, f"over {MAX_LINES} lines (or longer than they were): {long}"
