"""End to end: the exercise course graded by the real nbgrader, in a temporary course folder.

One course is built for the whole module: the student versions are generated, fake students
submit (the solutions, the untouched student version, an endless loop plus an edited test cell,
a file that is not JSON, and for ps1 and ps5 forbidden functions - ``F.conv2d``, autograd in
the backward functions - and two kinds of tampering), then ``nbgrader autograde``,
``generate_feedback`` and ``export`` run as subprocesses. Scores are read from nbgrader's
gradebook, never from printed text. Part of it goes through ``cnncourse exercises`` (which runs
the same nbgrader commands) so the instructor commands are covered too. Only the assignments
that the selected tests read are graded: ``-k ps5_backprop`` grades ps5 alone.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

from cnncourse.grading import PROBLEM_SETS  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
EXERCISES = REPO / "exercises"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
ASSIGNMENTS = tuple(ps.assignment for ps in PROBLEM_SETS)
CELL_TIMEOUT = 45  # nbgrader's per-cell limit in this test: ps4's training needs far less
# ps6's smaller network trains 6 epochs at full resolution: about 75 s on a loaded 2-core machine.
CELL_TIMEOUTS = {"ps6_design_a_cnn": 150}

# In each assignment, the function that gets an endless loop (its visible test is also edited):
# the last exercise of its problem set (in ps4, the training).
LOOPING = {ps.assignment: ps.exercises[-1].name for ps in PROBLEM_SETS}

# ps1 answers of the right type and shape, but wrong.
WRONG_PS1 = {
    "conv_output_size": "def conv_output_size(n, kernel_size, stride, padding):\n"
                        "    return n + 1\n",
    "apply_kernel": "def apply_kernel(image, kernel):\n"
                    "    h, w = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - "
                    "kernel.shape[1] + 1\n"
                    "    return torch.zeros(h, w)\n",
    "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
              "    h = (x.shape[2] + 2 * padding - weight.shape[2]) // stride + 1\n"
              "    w = (x.shape[3] + 2 * padding - weight.shape[3]) // stride + 1\n"
              "    return torch.zeros(x.shape[0], weight.shape[0], h, w)\n",
}

# ps5 answers of the right type and shape, but wrong (and a loop that does not train).
WRONG_PS5 = {
    "conv2d_backward": "def conv2d_backward(x, weight, grad_out, stride, padding):\n"
                       "    return (torch.zeros_like(x), torch.zeros_like(weight),\n"
                       "            torch.zeros(weight.shape[0]))\n",
    "max_pool2d_backward": "def max_pool2d_backward(x, grad_out, kernel_size, stride):\n"
                           "    return torch.zeros_like(x)\n",
    "train_epoch": "def train_epoch(model, batches, optimizer, loss_func):\n"
                   "    return 0.5\n",
}

# ps6: a network over the budget, and a loop that does not train.
WRONG_PS6 = {
    "build_gap_model": "def build_gap_model():\n"
                       "    from cnncourse.models import gap_cnn\n"
                       "    return gap_cnn((16, 32, 64), seed=0)\n",
    "train_gap_model": "def train_gap_model(model, data):\n"
                       "    return Learner(model, data, seed=0)\n",
}

# The problem sets whose notebooks are also submitted by two students who tamper with the
# grading, each with wrong answers of the right shape.
WRONG = {"ps1_convolutions": WRONG_PS1, "ps5_backprop": WRONG_PS5, "ps6_design_a_cnn": WRONG_PS6}

UNTRAINED = "    return Learner(model, data, seed=0)\n"

# ps6's students who break its rules, each with new bodies of some functions: the functions
# that then score 0, and a message their visible test shows.
CHEATS_PS6 = {
    "over_budget": ({"build_gap_model": "    from cnncourse.models import gap_cnn\n"
                                        "    return gap_cnn((16, 32, 64), seed=0)\n",
                     "train_gap_model": UNTRAINED},
                    "over the budget of 5,000"),
    "max_pooling_head": ({"build_gap_model": "    torch.manual_seed(0)\n"
                                             "    return nn.Sequential(conv_block(1, 8, 3), "
                                             "conv_block(8, 16, 3), nn.Conv2d(16, 10, 1),\n"
                                             "                         nn.AdaptiveMaxPool2d(1), "
                                             "nn.Flatten())\n",
                          "train_gap_model": UNTRAINED},
                         "no global average pooling found"),
    "head_swapped_in_training": ({"train_gap_model": "    model[-2] = nn.AdaptiveMaxPool2d(1)\n"
                                                     + UNTRAINED},
                                 "no global average pooling found"),
}
CHEATS = {"ps6_design_a_cnn": CHEATS_PS6}

# Submissions that call what an exercise forbids, in the body of these functions, and the
# guard's message that their visible test must show.
FORBIDDEN = {
    "ps1_convolutions": {
        "conv2d": ("    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n",
                   "F.conv2d is not allowed in this exercise: use loops or tensor arithmetic"),
    },
    "ps5_backprop": {
        "conv2d_backward": (
            "    x, weight = x.clone().requires_grad_(True), weight.clone().requires_grad_(True)\n"
            "    bias = torch.zeros(weight.shape[0], requires_grad=True)\n"
            "    F.conv2d(x, weight, bias, stride=stride, padding=padding).backward(grad_out)\n"
            "    return x.grad, weight.grad, bias.grad\n",
            "Tensor.backward is not allowed in this exercise: work out the gradient yourself"),
        "max_pool2d_backward": (
            "    x = x.clone().requires_grad_(True)\n"
            "    out = F.max_pool2d(x, kernel_size, stride)\n"
            "    return torch.autograd.grad(out, x, grad_out)[0]\n",
            "torch.autograd.grad is not allowed in this exercise: work out the gradient "
            "yourself"),
    },
}

# The assignments whose notebook trains a network in a cell of its own, ``training``.
TRAINED = ("ps4_train_a_cnn", "ps6_design_a_cnn")

# Graded through `cnncourse exercises grade` (the others with nbgrader's own command line).
VIA_CNNCOURSE = ("ps2_pooling_and_receptive_fields", "ps5_backprop")

TAMPER_COMPARISONS = """
import numpy as np
import torch
import torch.testing
from cnncourse import grading

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
grading.compare_tensors = lambda *args, **kwargs: None
grading.compare_ints = lambda *args, **kwargs: None
"""

TAMPER_GRADING = """
from cnncourse import grading

def looks_fine(*args, **kwargs):
    print("all good")

for name in dir(grading):
    if name.startswith("check_") or name in ("hidden_check", "run_cases", "verify", "seal"):
        setattr(grading, name, looks_fine)
"""


# ---------------------------------------------------------------------------------------------
# Building the course and the submissions
# ---------------------------------------------------------------------------------------------


def environment(cell_timeout: int = CELL_TIMEOUT) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["CNNCOURSE_CELL_TIMEOUT"] = str(cell_timeout)
    env["OMP_NUM_THREADS"] = "1"
    if "CNNCOURSE_DATA" not in env and SHARED_MNIST.is_dir():
        env["CNNCOURSE_DATA"] = str(SHARED_MNIST)
    return env


def run(args: list[str], cwd: Path, check: bool = True,
        cell_timeout: int = CELL_TIMEOUT) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=environment(cell_timeout), capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def nbgrader(course: Path, *args: str, check: bool = True,
             cell_timeout: int = CELL_TIMEOUT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "nbgrader", *args], course, check, cell_timeout)


def cnncourse(course: Path, *args: str, check: bool = True,
              cell_timeout: int = CELL_TIMEOUT) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "cnncourse.app.cli", "exercises", *args,
                "--course", str(course)], course, check, cell_timeout)


def cell(nb, grade_id: str):
    found = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(found) == 1, f"no single cell {grade_id!r}"
    return found[0]


def replace_body(nb, name: str, body: str) -> None:
    """Keep the ``def`` line of ``name``'s solution cell and give it a new body."""
    solution = cell(nb, name)
    solution.source = solution.source.splitlines()[0] + "\n" + body


def insert_after_setup(nb, source: str) -> None:
    index = nb.cells.index(cell(nb, "setup"))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


def submit(course: Path, student: str, assignment: str, nb) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def make_submissions(course: Path, assignment: str) -> None:
    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb",
                            as_version=4)
    submit(course, "solutions", assignment, source)
    submit(course, "untouched", assignment, release)

    looping = nbformat.from_dict(json.loads(json.dumps(source)))
    name = LOOPING[assignment]
    replace_body(looping, name, "    while True:\n        pass\n")
    cell(looping, f"{name}_visible").source = "pass"
    if assignment == "ps1_convolutions":  # and a deleted test cell, which nbgrader puts back
        looping.cells.remove(cell(looping, "conv_output_size_hidden"))
    submit(course, "loop_and_edit", assignment, looping)

    broken = course / "submitted" / "not_json" / assignment
    broken.mkdir(parents=True)
    text = (course / "source" / assignment / f"{assignment}.ipynb").read_text()
    (broken / f"{assignment}.ipynb").write_text(text[: len(text) // 2])

    if assignment in FORBIDDEN:
        cheating = nbformat.from_dict(json.loads(json.dumps(source)))
        for function, (body, _) in FORBIDDEN[assignment].items():
            replace_body(cheating, function, body)
        submit(course, "uses_forbidden", assignment, cheating)
    if assignment in WRONG:
        for student, patch in (("tampers_comparisons", TAMPER_COMPARISONS),
                               ("tampers_grading", TAMPER_GRADING)):
            nb = nbformat.from_dict(json.loads(json.dumps(source)))
            insert_after_setup(nb, patch)
            for function, code in WRONG[assignment].items():
                cell(nb, function).source = code
            submit(course, student, assignment, nb)
    for student, (bodies, _) in CHEATS.get(assignment, {}).items():
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        for function, body in bodies.items():
            replace_body(nb, function, body)
        submit(course, student, assignment, nb)


def graded_assignments(session: pytest.Session) -> tuple[str, ...]:
    """The assignments that the selected tests of the course read: every one, unless each of
    those tests names its assignment (``-k ps5_backprop`` then grades ps5 alone)."""
    wanted = set()
    for item in session.items:
        if "course" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "assignment" not in params:
            return ASSIGNMENTS
        wanted.add(params["assignment"])
    return tuple(a for a in ASSIGNMENTS if a in wanted) or ASSIGNMENTS


@pytest.fixture(scope="module")
def course(tmp_path_factory, request) -> dict:
    """The graded course, and the output of the commands that graded it."""
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    root.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    shutil.copytree(EXERCISES / "source", root / "source")
    logs = {}
    graded = graded_assignments(request.session)
    nbgrader(root, "generate_assignment", "*", "--force")  # every assignment in source/
    for assignment in graded:
        make_submissions(root, assignment)
    # ps2 and ps5 are graded and ps3's feedback generated again through `cnncourse exercises`,
    # which runs the same nbgrader commands; the rest with nbgrader's own command line.
    for assignment in graded:
        timeout = CELL_TIMEOUTS.get(assignment, CELL_TIMEOUT)
        if assignment in VIA_CNNCOURSE:
            logs[assignment] = cnncourse(root, "grade", assignment, check=False,
                                         cell_timeout=timeout)
        else:
            logs[assignment] = nbgrader(root, "autograde", assignment, "--force", check=False,
                                        cell_timeout=timeout)
    nbgrader(root, "generate_feedback", "*", "--force")
    feedback = "ps3_batchnorm_and_one_cycle" if "ps3_batchnorm_and_one_cycle" in graded \
        else graded[-1]
    logs["feedback"] = cnncourse(root, "feedback", feedback)
    nbgrader(root, "export", "--to", str(root / "nbgrader_export.csv"))
    logs["report"] = cnncourse(root, "report", "--to", str(root / "report.csv"))
    return {"root": root, "logs": logs}


# ---------------------------------------------------------------------------------------------
# Reading the results
# ---------------------------------------------------------------------------------------------


def max_points(course: Path, assignment: str, manual: bool = False) -> dict[str, float]:
    """grade_id -> points of every autograded cell (a test cell), from the source notebook;
    with ``manual``, of the cells graded by hand (written answers) as well."""
    nb = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and (manual or c.cell_type == "code")}


def scores(course: Path, assignment: str, student: str) -> dict[str, float]:
    """grade_id -> score of every autograded cell of one graded submission, from nbgrader's
    gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, student)
        return {grade.name: grade.score for grade in notebook.grades
                if grade.cell.cell_type == "code"}


def function_of(grade_id: str) -> str:
    return grade_id.rsplit("_", 1)[0]


def expect(course: Path, assignment: str, student: str, zero: set[str]) -> None:
    """The functions in ``zero`` score 0 on every test; every other test scores full marks."""
    points = max_points(course, assignment)
    wanted = {gid: 0.0 if function_of(gid) in zero else p for gid, p in points.items()}
    assert scores(course, assignment, student) == wanted


def autograded(course: Path, student: str, assignment: str):
    path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    return nbformat.read(path, as_version=4)


def feedback_html(course: Path, student: str, assignment: str) -> str:
    return (course / "feedback" / student / assignment / f"{assignment}.html").read_text()


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solutions_get_full_marks(course, assignment):
    expect(course["root"], assignment, "solutions", zero=set())
    assert sum(max_points(course["root"], assignment).values()) > 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_untouched_student_version_gets_zero_on_every_test(course, assignment):
    got = scores(course["root"], assignment, "untouched")
    assert got and set(got.values()) == {0.0}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_endless_loop_scores_zero_there_and_the_rest_is_graded(course, assignment):
    """``while True: pass`` in one function: grading finishes, that function's tests score 0
    (its visible test, edited to ``pass``, is restored and runs), the others full marks (in
    ps1 one of them was deleted: nbgrader puts it back and it runs)."""
    root = course["root"]
    expect(root, assignment, "loop_and_edit", zero={LOOPING[assignment]})
    restored = cell(autograded(root, "loop_and_edit", assignment),
                    f"{LOOPING[assignment]}_visible")
    original = cell(nbformat.read(root / "source" / assignment / f"{assignment}.ipynb",
                                  as_version=4), f"{LOOPING[assignment]}_visible")
    assert restored.source == original.source != "pass"
    errors = [o for o in restored.outputs if o.output_type == "error"]
    assert errors, "the restored test must have run and failed"
    if assignment == "ps1_convolutions":
        put_back = cell(autograded(root, "loop_and_edit", assignment), "conv_output_size_hidden")
        assert "passes the hidden tests" in put_back.outputs[0].text


@pytest.mark.parametrize("assignment", TRAINED)
def test_endless_training_is_stopped_by_the_cell_timeout(course, assignment):
    nb = autograded(course["root"], "loop_and_edit", assignment)
    training = cell(nb, "training")
    assert [o.ename for o in training.outputs if o.output_type == "error"]
    # the cells after the interrupted one still ran
    assert cell(nb, f"{LOOPING[assignment]}_hidden").outputs


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_notebook_that_is_not_json_fails_alone(course, assignment):
    root, log = course["root"], course["logs"][assignment]
    assert not (root / "autograded" / "not_json" / assignment).exists()
    assert (root / "autograded" / "solutions" / assignment).is_dir()
    text = log.stdout + log.stderr
    if assignment in VIA_CNNCOURSE:  # through `cnncourse exercises grade`
        assert log.returncode == 1
        errors = [line for line in log.stderr.splitlines() if "not_json" in line]
        assert len(errors) == 1
        assert "is not valid JSON" in errors[0] and "submit the notebook again" in errors[0]
        assert re.search(rf"{assignment}: solutions (\d+) / \1\b", log.stdout)
    else:
        assert log.returncode != 0
        assert "for student 'not_json'" in text


@pytest.mark.parametrize("assignment", FORBIDDEN)
def test_a_forbidden_function_scores_zero_there_only(course, assignment):
    """ps1's ``conv2d`` with ``F.conv2d``, ps5's backward functions with autograd: their tests
    score 0 with the guard's message, the other functions full marks."""
    expect(course["root"], assignment, "uses_forbidden", zero=set(FORBIDDEN[assignment]))
    nb = autograded(course["root"], "uses_forbidden", assignment)
    for function, (_, message) in FORBIDDEN[assignment].items():
        assert message in cell(nb, f"{function}_visible").outputs[-1].evalue


@pytest.mark.parametrize("student", ["tampers_comparisons", "tampers_grading"])
@pytest.mark.parametrize("assignment", WRONG)
def test_tampering_earns_nothing(course, assignment, student):
    """Replaced comparisons (torch, numpy, or cnncourse.grading itself) and wrong answers of
    the right shape: every test scores 0."""
    got = scores(course["root"], assignment, student)
    assert got and set(got.values()) == {0.0}
    nb = autograded(course["root"], student, assignment)
    messages = " ".join(o.get("evalue", "") for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    if student == "tampers_comparisons":  # caught inside the notebook
        assert "tampering detected" in messages and "torch.allclose" in messages
    else:  # the checks were silenced; the re-check outside the notebook finds no answers
        assert f"no answers of {LOOPING[assignment]} were recorded" in messages


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("student", ["solutions", "untouched"])
def test_feedback_shows_visible_tests_and_scores_but_not_hidden_tests(course, assignment,
                                                                      student):
    root = course["root"]
    html = feedback_html(root, student, assignment)
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    total = sum(max_points(root, assignment, manual=True).values())
    assert re.search(rf"Score: [\d.]+ / {total:g}", html)
    hidden_seeds = []
    for c in source.cells:
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.endswith("_visible"):
            call = c.source.splitlines()[-1]  # e.g. grading.check_conv2d(conv2d)
            assert call.split("(")[0].split(".")[-1] in html
        if grade_id.endswith("_hidden"):
            hidden_seeds += re.findall(r"seed=(\d+)", c.source)
    graded_with = [seed for c in autograded(root, student, assignment).cells
                   if "BEGIN HIDDEN TESTS" in c.source
                   for seed in re.findall(r"seed=(\d+)", c.source)]
    assert len(graded_with) == len(hidden_seeds)  # drawn at grading time, not those of source/
    assert not set(graded_with) & set(hidden_seeds)
    for secret in ["hidden_check", "BEGIN HIDDEN TESTS", "application/vnd.cnncourse",
                   *hidden_seeds, *graded_with]:
        assert secret not in html
    assert html.count("# (hidden tests not shown)") == len(
        [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source])
    if student == "untouched" and assignment not in TRAINED:
        assert "fails a hidden test: raised NotImplementedError" in html


def test_the_score_export_and_the_report_agree_with_the_gradebook(course):
    root = course["root"]
    with open(root / "nbgrader_export.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    solutions = {r["assignment"]: float(r["raw_score"]) for r in rows
                 if r["student_id"] == "solutions"}
    assert solutions == {a: sum(max_points(root, a).values()) for a in ASSIGNMENTS}
    assert (root / "report.csv").read_text() == (root / "nbgrader_export.csv").read_text()
    assert "report.csv" in course["logs"]["report"].stdout


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_committed_student_version_is_up_to_date(course, assignment):
    name = f"{assignment}/{assignment}.ipynb"
    committed = (EXERCISES / "release" / name).read_text()
    assert committed == (course["root"] / "release" / name).read_text(), (
        f"exercises/release/{name} is out of date: run 'cnncourse exercises release' and "
        "commit the result")


@pytest.mark.parametrize("student", CHEATS_PS6)
@pytest.mark.parametrize("assignment", ["ps6_design_a_cnn"])
def test_a_network_that_breaks_ps6s_rules_scores_zero_there(course, assignment, student):
    """Over the budget, a max-pooling head, or a head swapped while training: the tests of
    the functions that did it score 0, with the check's reason; the others full marks."""
    bodies, message = CHEATS_PS6[student]
    expect(course["root"], assignment, student, zero=set(bodies))
    visible = cell(autograded(course["root"], student, assignment), f"{list(bodies)[0]}_visible")
    assert message in visible.outputs[-1].evalue


@pytest.mark.parametrize("assignment", ["ps6_design_a_cnn"])
def test_the_written_ablation_waits_for_a_manual_grade(course, assignment):
    """The ablation is a markdown answer graded by hand: after autograde the gradebook holds
    the autograded points and says the submission needs manual grading; an unanswered one
    scores 0 at once; a grader's score then counts in the total."""
    root = course["root"]
    [manual] = set(max_points(root, assignment, manual=True)) - set(max_points(root, assignment))
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        solutions = gb.find_submission(assignment, "solutions")
        grade = gb.find_grade(manual, assignment, assignment, "solutions")
        assert solutions.needs_manual_grade and grade.needs_manual_grade
        assert grade.auto_score is None and grade.max_score == 4
        assert solutions.score == sum(max_points(root, assignment).values()) == 8
        untouched = gb.find_grade(manual, assignment, assignment, "untouched")
        assert untouched.auto_score == 0 and not untouched.needs_manual_grade
        assert not gb.find_submission(assignment, "untouched").needs_manual_grade

        looping = gb.find_grade(manual, assignment, assignment, "loop_and_edit")
        assert looping.needs_manual_grade
        looping.manual_score = 3.0  # as formgrader saves a grader's score
        looping.needs_manual_grade = False
        gb.db.commit()
        graded = gb.find_submission(assignment, "loop_and_edit")
        assert (graded.score, graded.needs_manual_grade) == (2 + 3.0, False)
