"""The lessons and dashboards: stored clean, complete, and running top to bottom in a real kernel.

The execution tests use MNIST from ``$CNNCOURSE_DATA`` when that folder exists; otherwise they
run on the offline fallback: ``CNNCOURSE_DATA`` points at an empty folder and the kernel's
network is cut off, as in a classroom without internet. The total time is printed at the end.
``tests/test_claims.py`` runs the lessons with experiments on both data sets and thread counts.
"""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from cnncourse.claims import notebook_claims

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
DASHBOARDS = LESSONS / "dashboards"

LESSON_FILES = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
DASHBOARD_FILES = sorted(p for p in DASHBOARDS.glob("*.ipynb") if p.stem != "index")
ALL_FILES = LESSON_FILES + DASHBOARD_FILES + [DASHBOARDS / "index.ipynb"]

TIMES: dict[str, float] = {}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def ids(paths):
    return [str(p.relative_to(LESSONS)) for p in paths]


# --------------------------------------------------------------------------------- stored form


def test_the_course_has_lessons_and_dashboards():
    assert len(LESSON_FILES) >= 12, [p.name for p in LESSON_FILES]
    assert DASHBOARD_FILES, "no dashboards in lessons/dashboards"
    assert (DASHBOARDS / "index.ipynb").is_file()


def test_lessons_are_numbered_in_order_without_gaps():
    numbers = [int(p.name[:2]) for p in LESSON_FILES]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_stored_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "attachments" not in cell or not cell.attachments, f"{path.name} cell {i}"


@pytest.mark.parametrize("path", LESSON_FILES, ids=ids(LESSON_FILES))
def test_lesson_has_prose_an_explorer_and_check_yourself_questions(path):
    nb = read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert markdown.lstrip().startswith("# Lesson"), f"{path.name} does not open with a title"
    assert "from cnncourse.explorers import" in source, f"{path.name} shows no explorer"
    assert "## Check yourself" in markdown
    questions = re.findall(r"<details><summary>(.+?)</summary>(.+?)</details>", markdown,
                           flags=re.S)
    assert len(questions) >= 3, f"{path.name} has {len(questions)} check-yourself questions"
    for question, answer in questions:
        assert question.strip() and len(answer.strip()) > 20, (path.name, question)
    for cell in nb.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)  # every code cell is valid Python


def _explorer_names() -> dict[str, type]:
    from cnncourse.explorers import ALL

    return ALL


def test_one_dashboard_per_explorer():
    declared = {}
    for path in DASHBOARD_FILES:
        declared[path.stem] = read(path).metadata["cnncourse"]["explorer"]
    assert sorted(declared.values()) == sorted(_explorer_names()), declared


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=ids(DASHBOARD_FILES))
def test_dashboard_code_only_shows_its_explorer_with_its_tasks(path):
    nb = read(path)
    explorer = nb.metadata["cnncourse"]["explorer"]
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code_cells) == 1, f"{path.name}: one code cell expected"
    tree = ast.parse(code_cells[0].source)
    *imports, last = tree.body
    for node in imports:
        assert isinstance(node, ast.ImportFrom) and node.module == "cnncourse.explorers", (
            f"{path.name}: only 'from cnncourse.explorers import ...' may precede the explorer")
        assert [a.name for a in node.names] == [explorer, "with_tasks"]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call), (
        f"{path.name}: the last line must show the explorer")
    shown = last.value  # with_tasks(TheExplorer())
    assert isinstance(shown.func, ast.Name) and shown.func.id == "with_tasks"
    assert len(shown.args) == 1 and not shown.keywords
    made = shown.args[0]
    assert isinstance(made, ast.Call) and isinstance(made.func, ast.Name)
    assert made.func.id == explorer and not made.args and not made.keywords
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_index_links_every_dashboard():
    text = "\n".join(c.source for c in read(DASHBOARDS / "index.ipynb").cells)
    linked = set(re.findall(r"\]\(([\w-]+)\.ipynb\)", text))
    assert linked == {p.stem for p in DASHBOARD_FILES}


# --------------------------------------------------------------------------------- execution


@pytest.fixture(scope="module")
def data_setting(tmp_path_factory):
    """``"mnist"`` with ``$CNNCOURSE_DATA`` when that folder exists, else ``"offline"``."""
    folder = os.environ.get("CNNCOURSE_DATA", "")
    if folder and Path(folder).is_dir():
        return "mnist", {"CNNCOURSE_DATA": folder}
    empty = tmp_path_factory.mktemp("no-mnist")
    return "offline", {"CNNCOURSE_DATA": str(empty)}


@pytest.fixture(scope="module", autouse=True)
def report_total_time(request):
    yield
    if not TIMES:
        return
    lines = [f"  {name:55s} {seconds:6.1f} s" for name, seconds in TIMES.items()]
    lines.append(f"  {'total':55s} {sum(TIMES.values()):6.1f} s")
    text = "\nnotebook execution times:\n" + "\n".join(lines)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print(text)
    else:
        print(text)


def execute(path: Path, setting, workdir: Path, monkeypatch) -> nbformat.NotebookNode:
    from nbclient.exceptions import CellExecutionError

    from cnncourse.claims import run_notebook

    kind, env = setting
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    start = time.perf_counter()
    try:
        return run_notebook(path, offline=kind == "offline", workdir=workdir)
    except CellExecutionError as err:
        pytest.fail(f"{path.relative_to(LESSONS)} failed ({kind} data):\n{err}", pytrace=False)
    finally:
        TIMES[f"{path.relative_to(LESSONS)} ({kind})"] = time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_notebook_runs_top_to_bottom(path, data_setting, tmp_path, monkeypatch):
    nb = execute(path, data_setting, tmp_path, monkeypatch)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name} cell {i}: {output.get('ename')}"
            if output.output_type == "stream" and output.name == "stderr":
                assert "Traceback (most recent call last)" not in output.text, (
                    f"{path.name} cell {i} printed a traceback:\n{output.text}")
    if path.parent == DASHBOARDS and path.stem != "index":
        shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert shown, f"{path.name} displayed no widget"
    claims = notebook_claims(nb)
    assert all(c["held"] for c in claims), claims  # a contradicted claim stops the run
