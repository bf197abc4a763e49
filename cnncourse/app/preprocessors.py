"""The steps the course adds to nbgrader (``exercises/nbgrader_config.py`` adds them).

* ``DrawHiddenSeeds`` (autograde, before the notebook runs): every hidden test gets a seed drawn
  now, in the grader, so the hidden cases cannot be computed in advance from the package and
  the seeds written in ``source/``; the autograded notebook keeps the seeds it was graded with.
* ``VerifyAnswers`` (autograde, right after the notebook ran): every check in a test cell
  records its answers; this step re-checks them against the reference in the grader's own
  process, where student code never ran. A test cell without a correct record scores 0.
* ``HideHiddenTests`` (feedback): hidden test cells show their comment and a one-line result,
  never their source, inputs or tracebacks.
"""

from __future__ import annotations

import ast
import importlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from traitlets.config import Configurable

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
MIME = "application/vnd.cnncourse.answers+json"  # the same as cnncourse.grading.MIME


@dataclass(frozen=True)
class CheckCall:
    """One check that a test cell's source calls: which exercise, visible or hidden, seed."""

    name: str
    hidden: bool
    seed: int | None


def checks_in(source: str) -> list[CheckCall]:
    """The ``grading.check_<name>(...)`` and ``grading.hidden_check(...)`` calls in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "grading"):
            continue
        attr = node.func.attr
        if attr.startswith("check_"):
            calls.append(CheckCall(attr.removeprefix("check_"), hidden=False, seed=None))
        elif attr == "hidden_check" and node.args and isinstance(node.args[0], ast.Constant):
            seeds = [k.value for k in node.keywords if k.arg == "seed"] + node.args[2:3]
            seed = ast.literal_eval(seeds[0]) if seeds else None
            calls.append(CheckCall(str(node.args[0].value), hidden=True, seed=seed))
    return calls


def _is_record(output: Any) -> bool:
    return output.get("output_type") in ("display_data", "execute_result") \
        and MIME in output.get("data", {})


def _error(ename: str, evalue: str) -> dict:
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _is_test_cell(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution")


def draw_seeds(source: str, draw: Any = secrets.randbelow) -> str:
    """``source`` with the integer seed of every ``grading.hidden_check(...)`` call replaced
    by ``draw(2**31)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    seeds = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "hidden_check":
            seeds += [k.value for k in node.keywords if k.arg == "seed"] + node.args[2:3]
    seeds = sorted((n for n in seeds if isinstance(n, ast.Constant) and type(n.value) is int
                    and n.lineno == n.end_lineno), key=lambda n: (n.lineno, n.col_offset))
    drawn = [str(draw(2**31)).encode() for _ in seeds]  # in the order of the source
    lines = source.splitlines(keepends=True)
    for seed, value in reversed(list(zip(seeds, drawn, strict=True))):
        line = lines[seed.lineno - 1].encode()  # ast offsets count bytes
        lines[seed.lineno - 1] = (line[:seed.col_offset] + value
                                  + line[seed.end_col_offset:]).decode()
    return "".join(lines)


class DrawHiddenSeeds(Configurable):
    """Autograde step before nbgrader's ``Execute``: fresh seeds for the hidden tests.

    The test cells are the instructor's (nbgrader restored them); their seeds are public in
    ``source/``. Drawn here, outside the student's kernel, just before it runs, the hidden cases
    are new at every grading: a record forged from the package's case generators cannot match,
    and cases a notebook prints are never used again. ``VerifyAnswers`` reads the seeds back
    from the cells.
    """

    def __call__(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        load_grading_in_background()
        for cell in nb.cells:
            if _is_test_cell(cell):
                cell.source = draw_seeds(cell.source)
        return nb, resources


def load_grading_in_background() -> threading.Thread:
    """Start importing ``cnncourse.grading`` (torch with it: about 2 s) in a thread.

    ``VerifyAnswers`` needs it once the notebook has run. Started just before the kernel is,
    the import overlaps the kernel's start and the notebook's run instead of adding to the
    grading time; ``VerifyAnswers``' own import then waits for it to finish.
    """
    thread = threading.Thread(target=importlib.import_module, args=("cnncourse.grading",),
                              name="cnncourse-load-grading", daemon=True)
    thread.start()
    return thread


class VerifyAnswers(Configurable):
    """Autograde step after nbgrader's ``Execute``: re-check each test cell's recorded answers.

    The cell sources here are the instructor's (nbgrader restored them), so the checks they
    call are known; the answers come from the student's kernel and are compared with the
    reference in this process, which student code never touched. A check without a record
    (it was skipped or replaced) or with a wrong answer gets an error output: the cell scores 0.
    """

    def __call__(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        from .. import grading

        for cell in nb.cells:
            if not _is_test_cell(cell):
                continue
            calls = checks_in(cell.source)
            records = [o["data"][MIME] for o in cell.outputs if _is_record(o)]
            cell.outputs = [o for o in cell.outputs if not _is_record(o)]
            if not calls or any(o.get("output_type") == "error" for o in cell.outputs):
                continue
            for call in calls:
                record = next((r for r in records if isinstance(r, dict)
                               and r.get("exercise") == call.name
                               and r.get("hidden") == call.hidden
                               and r.get("seed") == call.seed), None)
                problem = grading.verify(call.name, record, call.seed, call.hidden)
                if problem:
                    cell.outputs.append(_error("AnswersRejected", problem))
                    break
        return nb, resources


def strip_hidden_tests(source: str) -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` regions."""
    kept, hidden = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


class HideHiddenTests(Configurable):
    """Feedback step: hidden test cells keep their comment and a one-line result.

    nbgrader's feedback shows the autograded notebook, whose hidden tests were restored; their
    source, prints and tracebacks would show the hidden cases. Records are dropped everywhere.
    """

    def __call__(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        from nbformat.v4 import new_output

        for cell in nb.cells:
            if cell.get("cell_type") != "code":
                continue
            cell.outputs = [o for o in cell.outputs if not _is_record(o)]
            if HIDDEN_BEGIN not in cell.source:
                continue
            cell.source = strip_hidden_tests(cell.source).rstrip() + "\n# (hidden tests not shown)"
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            if errors:
                first = (str(errors[0].get("evalue", "")).strip().splitlines() or [""])[0]
                cell.outputs = [_error(errors[0].get("ename", "Error"), first[:400])]
            else:
                cell.outputs = [new_output("stream", name="stdout",
                                           text="\u2713 the hidden tests pass\n")]
        return nb, resources
