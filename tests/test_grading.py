"""cnncourse.grading, the nbgrader steps and the instructor commands, without running nbgrader.

The solutions are taken from the source notebooks in exercises/, so these tests also prove that
the notebooks' own solutions pass their checks. The full nbgrader run is in
test_exercises_nbgrader.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pkgutil
import signal
import threading
import time
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnncourse.pooling
from cnncourse import grading
from cnncourse.app import instructor, preprocessors
from cnncourse.app.cli import main
from cnncourse.app.errors import CommandError
from cnncourse.grading.core import (
    checks,
    compare,
    exercise,
    guards,
    records,
    registry,
    runner,
    tamper,
)
from cnncourse.grading.problem_sets import ps1, ps4, ps5, ps6

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "exercises" / "source"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
FUNCTION_ASSIGNMENTS = {  # the problem sets of function exercises, with their functions
    ps.assignment: names for ps in grading.PROBLEM_SETS
    if (names := tuple(ex.name for ex in ps.exercises
                       if isinstance(ex, grading.FunctionExercise)))}
FUNCTIONS = sorted(name for names in FUNCTION_ASSIGNMENTS.values() for name in names)


@pytest.fixture(autouse=True, scope="module")
def mnist_folder():
    """ps4's checks load MNIST: use the shared copy when CNNCOURSE_DATA does not name one."""
    if os.environ.get("CNNCOURSE_DATA") or not SHARED_MNIST.is_dir():
        yield
        return
    os.environ["CNNCOURSE_DATA"] = str(SHARED_MNIST)
    yield
    del os.environ["CNNCOURSE_DATA"]


def notebook(assignment: str):
    return nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)


def solutions(assignment: str) -> dict:
    """Run the setup and solution cells of a source notebook; return its namespace."""
    namespace: dict = {}
    for cell in notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec(compile(cell.source, f"<{assignment}:{meta['grade_id']}>", "exec"), namespace)
    return namespace


SOLUTIONS = {name: solutions(a)[name] for a, names in FUNCTION_ASSIGNMENTS.items()
             for name in names}


def hidden_seeds() -> dict[str, int]:
    """The seed of every seeded hidden test in the source notebooks, by exercise."""
    seeds = {}
    for assignment in FUNCTION_ASSIGNMENTS:
        for cell in notebook(assignment).cells:
            for call in preprocessors.checks_in(cell.source):
                if call.hidden:
                    seeds[call.name] = call.seed
    return seeds


def spoiled(fn):
    """``fn`` with a small error in its answer: a wrong value of the right type and shape."""
    def spoil(answer):
        if isinstance(answer, tuple):  # (grad_x, grad_weight, grad_bias): spoil the last
            return (*answer[:-1], spoil(answer[-1]))
        if isinstance(answer, torch.Tensor):
            answer = answer.clone()
            answer.view(-1)[-1] += 0.5
            return answer
        return answer + 1 if isinstance(answer, int) else answer * 1.01

    def wrong(*args):
        return spoil(fn(*args))
    return wrong


# ---------------------------------------------------------------------------------------------
# The notebooks' solutions pass; wrong answers fail, explained in plain words
# ---------------------------------------------------------------------------------------------


def test_every_function_exercise_has_a_solution_and_a_hidden_seed():
    assert len(FUNCTION_ASSIGNMENTS) >= 4 and len(FUNCTIONS) >= 9
    assert set(SOLUTIONS) == set(FUNCTIONS)
    assert set(FUNCTIONS) <= set(hidden_seeds()) <= set(grading.EXERCISES)


def test_every_exercise_has_its_check_and_every_notebook_calls_the_checks_of_its_set():
    for name, ex in grading.EXERCISES.items():
        check = getattr(grading, f"check_{name}")
        assert check.__name__ == f"check_{name}" and check.__doc__ == ex.description
        assert f"check_{name}" in grading.__all__
    assert sorted(p.name for p in SOURCE.iterdir() if p.is_dir()) == [
        ps.assignment for ps in grading.PROBLEM_SETS]
    for ps in grading.PROBLEM_SETS:
        calls = [call for cell in notebook(ps.assignment).cells
                 for call in preprocessors.checks_in(cell.source)]
        names = {ex.name for ex in ps.exercises}
        assert {c.name for c in calls if not c.hidden} == names
        assert {c.name for c in calls if c.hidden} <= names


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_solution_passes_the_visible_and_hidden_cases(name, capsys):
    getattr(grading, f"check_{name}")(SOLUTIONS[name])
    grading.hidden_check(name, SOLUTIONS[name], seed=hidden_seeds()[name])
    out = capsys.readouterr().out
    assert f"{name} passes all" in out and f"{name} passes the hidden tests" in out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_wrong_answer_fails_visible_and_hidden_cases(name):
    with pytest.raises(grading.CheckFailed, match=f"{name} fails visible case 1 of"):
        getattr(grading, f"check_{name}")(spoiled(SOLUTIONS[name]))
    with pytest.raises(grading.CheckFailed, match=f"{name} fails a hidden test"):
        grading.hidden_check(name, spoiled(SOLUTIONS[name]), seed=hidden_seeds()[name])


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(FUNCTIONS))
def test_any_seed_gives_valid_cases_that_the_solution_passes(seed, name):
    answers = grading.run_cases(grading.EXERCISES[name], SOLUTIONS[name], seed)
    assert len(answers) == len(grading.EXERCISES[name].cases(seed)) >= 8


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hidden_cases_are_repeatable_and_differ_from_the_visible_ones(name):
    ex = grading.EXERCISES[name]
    seed = hidden_seeds()[name]
    first, again = ex.cases(seed), ex.cases(seed)
    assert [c.describe() for c in first] == [c.describe() for c in again]
    for a, b in zip(first, again, strict=True):
        for x, y in zip(a.args, b.args, strict=True):
            assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y
    assert [c.describe() for c in first] != [c.describe() for c in ex.cases(None)]


def test_the_one_cycle_reference_is_torchs_one_cycle_lr():
    """The reference is the engine's written-out schedule; check it against torch here."""
    seed = hidden_seeds()["one_cycle_lr"]
    for case in grading.EXERCISES["one_cycle_lr"].cases(None)[:3] + \
            grading.EXERCISES["one_cycle_lr"].cases(seed)[:4]:
        step, total, max_lr, pct, div, final_div = case.args
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total, pct_start=pct, div_factor=div,
            final_div_factor=final_div, cycle_momentum=False)
        for _ in range(step):
            optimizer.step()
            scheduler.step()
        assert grading.EXERCISES["one_cycle_lr"].reference(*case.args) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-9)


def test_a_value_mismatch_names_inputs_and_largest_difference():
    def off_by_one_pixel(x, weight, bias=None, stride=1, padding=0):
        out = SOLUTIONS["conv2d"](x, weight, bias, stride, padding)
        out[0, 0, 0, 0] += 0.25
        return out

    with pytest.raises(grading.CheckFailed) as err:
        grading.check_conv2d(off_by_one_pixel)
    lines = str(err.value).splitlines()
    assert lines[0].startswith("conv2d fails visible case 1 of 4: wrong values: largest "
                               "difference 0.25 at index (0, 0, 0, 0): yours ")
    assert lines[1] == ("  inputs: x of shape (1, 1, 5, 5), weight of shape (1, 1, 3, 3), "
                        "bias=None, stride=1, padding=0")


def test_a_shape_mismatch_and_a_wrong_type_are_explained():
    def one_column_short(x, weight, bias=None, stride=1, padding=0):
        return SOLUTIONS["conv2d"](x, weight, bias, stride, padding)[..., :-1]

    with pytest.raises(grading.CheckFailed, match=r"visible case 1 of 4: wrong output shape: "
                       r"yours is \(1, 1, 3, 2\), expected \(1, 1, 3, 3\)"):
        grading.check_conv2d(one_column_short)
    with pytest.raises(grading.CheckFailed, match="returned float 24.0; return an int"):
        grading.check_conv_output_size(lambda n, k, s, p: (n + 2 * p - k) / s + 1)
    with pytest.raises(grading.CheckFailed, match="returned a numpy array"):
        grading.check_apply_kernel(lambda image, kernel: SOLUTIONS["apply_kernel"](
            image, kernel).numpy())
    with pytest.raises(grading.CheckFailed, match="holds nan at index"):
        grading.check_pool2d(lambda x, k, s, mode: SOLUTIONS["pool2d"](x, k, s, mode) / 0 * 0)


def test_hidden_failures_do_not_reveal_the_hidden_cases():
    def shapes_only(x, weight, bias=None, stride=1, padding=0):
        raise IndexError(f"x has shape {tuple(x.shape)}")

    with pytest.raises(grading.CheckFailed) as err:
        grading.hidden_check("conv2d", shapes_only, seed=hidden_seeds()["conv2d"])
    message = str(err.value)
    assert message.startswith("conv2d fails a hidden test: raised IndexError")
    assert "shape" not in message and "stride=" not in message


def test_common_mistakes_get_a_hint():
    def unbiased(x, gamma, beta, eps):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = x.var(dim=(0, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * gamma[None, :, None, None] \
            + beta[None, :, None, None]

    with pytest.raises(grading.CheckFailed, match="unbiased variance"):
        grading.check_batch_norm_train(unbiased)
    with pytest.raises(grading.CheckFailed, match="kernel flipped"):
        grading.check_apply_kernel(lambda image, kernel: SOLUTIONS["apply_kernel"](
            image, kernel.flip(0, 1)))


def test_check_finds_the_function_in_the_callers_namespace(capsys):
    notebook_globals = {"grading": grading, "conv_output_size": SOLUTIONS["conv_output_size"]}
    exec("grading.check_conv_output_size()", notebook_globals)
    assert "passes all 6 visible cases" in capsys.readouterr().out
    with pytest.raises(grading.CheckFailed, match="no pool2d is defined yet"):
        exec("grading.check_pool2d()", notebook_globals)


def test_a_function_that_prints_to_stderr_or_warns_is_still_graded(capsys):
    def noisy(n, kernel_size, stride, padding):
        import sys
        import warnings
        print("debugging", file=sys.stderr)
        warnings.warn("careful", stacklevel=1)
        return SOLUTIONS["conv_output_size"](n, kernel_size, stride, padding)

    grading.check_conv_output_size(noisy)
    captured = capsys.readouterr()
    assert captured.err == "" and "debugging" in captured.out


# ---------------------------------------------------------------------------------------------
# forbid and time_limit
# ---------------------------------------------------------------------------------------------


def test_forbid_makes_the_listed_functions_raise_and_then_restores_them():
    from torch.nn.functional import conv2d as imported_conv2d

    namespace = {"conv2d_by_name": imported_conv2d}
    x, w = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 3, 3)
    with grading.forbid("torch.nn.functional.conv2d", "torch.nn.Conv2d",
                        namespace=namespace) as called:
        for attempt in (lambda: F.conv2d(x, w), lambda: torch.conv2d(x, w),
                        lambda: nn.Conv2d(1, 1, 3), lambda: namespace["conv2d_by_name"](x, w)):
            with pytest.raises(grading.NotAllowedError,
                               match="not allowed in this exercise: use loops or tensor "
                                     "arithmetic"):
                attempt()
    assert called == ["F.conv2d", "F.conv2d", "nn.Conv2d", "F.conv2d"]
    assert F.conv2d is torch.conv2d is imported_conv2d is namespace["conv2d_by_name"]
    assert nn.Conv2d.__name__ == "Conv2d"
    assert F.conv2d(x, w).shape == (1, 1, 2, 2)


def test_a_forbidden_call_fails_the_check_even_when_the_error_is_caught():
    def sneaky(x, weight, bias=None, stride=1, padding=0):
        try:
            F.unfold(x, weight.shape[2:])
        except Exception:
            pass
        return SOLUTIONS["conv2d"](x, weight, bias, stride, padding)

    with pytest.raises(grading.CheckFailed, match="F.unfold is not allowed"):
        grading.check_conv2d(sneaky)


def test_time_limit_stops_an_endless_loop_that_catches_exceptions():
    def stubborn():
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    before = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    with pytest.raises(grading.TimeLimitExceeded, match="did not finish within 0.3 s"):
        with grading.time_limit(0.3, "stubborn()"):
            stubborn()
    assert time.perf_counter() - start < 5
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_inner_time_limit_keeps_the_outer_one_running():
    with pytest.raises(grading.TimeLimitExceeded, match="outer did not finish"):
        with grading.time_limit(0.4, "outer"):
            with grading.time_limit(5, "inner"):
                time.sleep(0.05)
            time.sleep(2)


def test_time_limit_lets_a_quick_call_finish_and_is_off_in_other_threads():
    with grading.time_limit(5):
        assert sum(range(10)) == 45
    results = []

    def worker():
        with grading.time_limit(0.05):
            time.sleep(0.2)  # no limit outside the main thread: finishes
        results.append("done")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert results == ["done"]


def test_a_check_reports_a_loop_in_plain_words():
    quick = dataclasses.replace(grading.EXERCISES["receptive_field"], seconds=0.3)

    def endless(layers):
        while True:
            pass

    with pytest.raises(grading.CheckFailed, match=r"receptive_field\(layers\) did not finish "
                       "within 0.3 s"):
        grading.run_cases(quick, endless, None)
    with pytest.raises(grading.CheckFailed, match="fails a hidden test: did not finish within "
                       "0.3 s. The hidden"):
        quick.answers(endless, 7, hidden=True)


# ---------------------------------------------------------------------------------------------
# The seal: replaced comparisons and references are detected
# ---------------------------------------------------------------------------------------------


def test_nothing_is_reported_before_tampering():
    grading.seal()
    assert grading.tampering() == []


@pytest.mark.parametrize("owner, attr", [
    (torch, "allclose"), (torch, "equal"), (torch.testing, "assert_close"), (np, "allclose"),
    (np.testing, "assert_allclose"), (F, "conv2d"), (grading, "compare_tensors"),
    (grading, "hidden_check"), (grading, "check_conv2d"), (torch.Tensor, "abs"),
    # the package's modules, where the checks find their functions
    (compare, "compare_tensors"), (ps1, "compare_tensors"), (ps1, "_conv2d"),
    (runner, "run_cases"), (exercise, "run_cases"), (checks, "records"),
    (registry, "EXERCISES"), (ps4, "_predict"), (compare.Case, "describe"),
    (exercise.FunctionExercise, "answers"), (ps4.TrainModel, "verify"),
    (ps5, "_grad"), (ps5.TrainEpoch, "verify"), (runner, "guarded_call"), (ps6, "gap_head"),
])
def test_replacing_a_comparison_or_reference_is_detected(monkeypatch, owner, attr):
    grading.seal()
    monkeypatch.setattr(owner, attr, lambda *args, **kwargs: True)
    found = grading.tampering()
    assert any(name.endswith(attr) for name in found), found
    with pytest.raises(grading.TamperingDetected, match="tampering detected"):
        grading.check_conv_output_size(SOLUTIONS["conv_output_size"])


def test_changing_the_code_of_a_grading_function_is_detected(monkeypatch):
    grading.seal()
    monkeypatch.setattr(grading.compare_ints, "__code__", (lambda *a: None).__code__)
    assert "cnncourse.grading.compare_ints" in grading.tampering()


def test_changing_what_a_check_grades_is_detected(monkeypatch):
    grading.seal()
    (cell,) = grading.check_conv2d.__closure__
    monkeypatch.setattr(cell, "cell_contents", "receptive_field")
    assert "cnncourse.grading.check_conv2d" in grading.tampering()


def owner_of(dotted: str):
    """The object that holds ``dotted`` (a module, or a class as for ``torch.Tensor.backward``)
    and the attribute's name."""
    owner, attr, _ = guards._resolve(dotted)
    return owner, attr


@pytest.mark.parametrize("dotted", [ref for ps in grading.PROBLEM_SETS for ref in ps.references])
def test_replacing_a_declared_reference_is_detected(monkeypatch, dotted):
    grading.seal()
    monkeypatch.setattr(*owner_of(dotted), lambda *args, **kwargs: None)
    assert dotted in grading.tampering()
    with pytest.raises(grading.TamperingDetected, match="tampering detected"):
        grading.hidden_check("conv2d", SOLUTIONS["conv2d"], seed=1)


PROBLEM_SET_MODULES = [importlib.import_module(f"{registry.PROBLEM_SETS_PACKAGE}.{m.name}")
                       for m in pkgutil.iter_modules(grading.problem_sets.__path__)
                       if not m.name.startswith("_")]  # as the registry finds them


def test_every_problem_set_module_is_in_the_registry():
    assert {"ps1", "ps2", "ps3", "ps4", "ps5", "ps6"} <= {m.__name__.rsplit(".", 1)[-1]
                                                 for m in PROBLEM_SET_MODULES}
    assert tuple(m.PROBLEM_SET for m in PROBLEM_SET_MODULES) == grading.PROBLEM_SETS
    assert set(grading.EXERCISES) == {ex.name for ps in grading.PROBLEM_SETS
                                      for ex in ps.exercises}


@pytest.mark.parametrize("module", PROBLEM_SET_MODULES, ids=lambda m: m.__name__)
def test_a_problem_set_declares_every_reference_it_binds_and_the_seal_watches_them(module):
    """Every torch or cnncourse function that a problem set's module binds is one of the
    references it declares, and the seal watches them all: none can be left unguarded."""
    references = module.PROBLEM_SET.references
    assert references and set(references) <= set(grading.WATCHED)
    declared = [getattr(*owner_of(dotted)) for dotted in references]
    bound = [name for name, value in vars(module).items()
             if isinstance(value, types.FunctionType | types.BuiltinFunctionType)
             and (getattr(value, "__module__", None) or "").split(".")[0] in ("torch", "cnncourse")
             and not value.__module__.startswith("cnncourse.grading")]
    assert bound, f"{module.__name__} binds no reference"
    undeclared = [name for name in bound if not any(vars(module)[name] is d for d in declared)]
    assert not undeclared, f"{module.__name__} binds {undeclared}: declare them in PROBLEM_SET"


def test_a_reference_added_to_a_problem_set_is_watched_without_editing_core(tmp_path,
                                                                            monkeypatch):
    """A new problem set is a new module; the seal then watches the references it declares."""
    package = tmp_path / "more_sets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_shared.py").write_text("NOT_A_PROBLEM_SET = 1\n")
    (package / "ps9.py").write_text(
        "from cnncourse.grading import ProblemSet\n"
        "PROBLEM_SET = ProblemSet('ps9_pooling', exercises=(),\n"
        "                         references=('cnncourse.pooling.pool2d',))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = registry.discover("more_sets")
    assert [ps.assignment for ps in found] == ["ps9_pooling"]
    course = grading.Registry(grading.PROBLEM_SETS + found)
    assert "cnncourse.pooling.pool2d" in tamper.watched_names(course)
    assert "cnncourse.pooling.pool2d" not in grading.WATCHED
    with_ps9, without = tamper.Seal(course), tamper.Seal()
    monkeypatch.setattr(cnncourse.pooling, "pool2d", lambda *args: None)
    assert "cnncourse.pooling.pool2d" in with_ps9.changes()
    assert "cnncourse.pooling.pool2d" not in without.changes()
    (package / "ps8.py").write_text("EXERCISES = ()\n")
    with pytest.raises(TypeError, match="more_sets.ps8 must define PROBLEM_SET"):
        registry.discover("more_sets")


def test_the_registry_refuses_a_name_used_twice_and_an_object_that_is_no_exercise():
    with pytest.raises(ValueError, match="'conv_output_size' of ps1_again is already defined"):
        grading.Registry(grading.PROBLEM_SETS + (dataclasses.replace(
            grading.PROBLEM_SETS[0], assignment="ps1_again"),))
    with pytest.raises(TypeError, match="is not an Exercise"):
        grading.ProblemSet("ps9", exercises=(SOLUTIONS["conv2d"],))


def test_an_active_torch_function_mode_is_detected():
    from torch.overrides import TorchFunctionMode

    class Everything(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    grading.seal()
    with Everything():
        assert any("torch function mode" in name for name in grading.tampering())
    assert grading.tampering() == []


# ---------------------------------------------------------------------------------------------
# Records and their verification outside the kernel
# ---------------------------------------------------------------------------------------------


def recorded(monkeypatch, run) -> list[dict]:
    """The records that ``run()`` displays while nbgrader autogrades."""
    shown = []
    import IPython.display

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(IPython.display, "display",
                        lambda bundle, raw=False: shown.append(bundle[grading.MIME]))
    run()
    return [json.loads(json.dumps(record)) for record in shown]  # as stored in a notebook


def test_records_are_shown_only_while_nbgrader_autogrades(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    grading.check_receptive_field(SOLUTIONS["receptive_field"])
    assert grading.MIME not in capsys.readouterr().out
    records = recorded(monkeypatch, lambda: grading.check_receptive_field(
        SOLUTIONS["receptive_field"]))
    assert [(r["exercise"], r["hidden"], r["seed"]) for r in records] == [
        ("receptive_field", False, None)]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_verify_accepts_correct_records_and_rejects_altered_ones(monkeypatch, name):
    seed = hidden_seeds()[name]
    [record] = recorded(monkeypatch, lambda: grading.hidden_check(name, SOLUTIONS[name],
                                                                  seed=seed))
    assert grading.verify(name, record, seed, hidden=True) is None
    assert "answer of" in grading.verify(name, record, seed + 1, hidden=True)
    first = record["answers"][0]
    wrong = [records.encode(torch.zeros(2, 2))] * len(first) if isinstance(first, list) \
        else records.encode(torch.zeros(2, 2)) if isinstance(first, dict) else first + 1
    altered = {**record, "answers": [wrong, *record["answers"][1:]]}
    assert "is wrong" in grading.verify(name, altered, seed, hidden=True)
    assert "one answer per case" in grading.verify(name, {**record, "answers": []}, seed)
    assert "no answers of" in grading.verify(name, None, seed)


def test_tensor_answers_survive_encoding():
    t = torch.randn(2, 3, 4, dtype=torch.float32)
    assert torch.equal(records.decode(json.loads(json.dumps(records.encode(t)))),
                       t.double())


# ---------------------------------------------------------------------------------------------
# ps4: the parameter budget and the held-out images
# ---------------------------------------------------------------------------------------------


def test_ps4_data_keeps_the_held_out_images_apart():
    data = grading.exercise_data()
    full = ps4.full_data()
    assert len(data.train_x) + len(data.valid_x) <= len(full.train_x)
    assert torch.equal(data.valid_x, full.train_x[len(data.train_x):len(data.train_x)
                                                  + len(data.valid_x)])
    held_out, labels, mean, std = ps4.graded_images(hidden=True)
    assert held_out is full.valid_x and len(labels) == len(held_out)
    assert (mean, std) == (data.mean, data.std)
    if full.source.startswith("MNIST") and os.environ.get("CNNCOURSE_DATA"):
        assert (len(data.train_x), len(data.valid_x)) == (6000, 2000)
        assert grading.accuracy_target() == 0.97


def test_build_model_checks_the_budget_and_the_output_shape(capsys):
    def small():
        return nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.Flatten(), nn.Linear(144, 10))

    grading.check_build_model(small)
    assert "parameters (budget 20,000)" in capsys.readouterr().out
    with pytest.raises(grading.CheckFailed, match="over the budget of 20,000"):
        grading.check_build_model(lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 32),
                                                        nn.Linear(32, 10)))
    with pytest.raises(grading.CheckFailed, match=r"class scores \(B, 10\), got \(2, 5\)"):
        grading.check_build_model(lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 5)))
    with pytest.raises(grading.CheckFailed, match="must return an nn.Module"):
        grading.check_build_model(lambda: "a model")


def test_an_untrained_network_fails_the_accuracy_check():
    torch.manual_seed(0)
    untrained = nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.Flatten(), nn.Linear(144, 10))
    with pytest.raises(grading.CheckFailed, match="below the target"):
        grading.check_train_model(untrained)
    with pytest.raises(grading.CheckFailed, match="held-out images"):
        grading.hidden_check("train_model", untrained)


def test_ps4_exercises_record_and_are_verified_like_the_others(monkeypatch):
    def small():
        return nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.Flatten(), nn.Linear(144, 10))

    [visible, hidden] = recorded(monkeypatch, lambda: (
        grading.check_build_model(small), grading.hidden_check("build_model", small)))
    assert (visible["parameters"], hidden["hidden"]) == (4 * 25 + 4 + 144 * 10 + 10, True)
    assert grading.verify("build_model", visible) is None
    assert "over the budget" in grading.verify("build_model", {**hidden, "parameters": 20_001},
                                               hidden=True)
    assert "no readable predictions" in grading.verify("train_model", {"parameters": 5,
                                                                       "predictions": 3})


def test_model_records_are_verified_against_the_true_labels():
    _, labels, _, _ = ps4.graded_images(hidden=True)

    def record(predictions, parameters=10_000):
        data = predictions.to(torch.uint8).numpy().tobytes()
        import base64
        return {"parameters": parameters, "predictions": base64.b64encode(data).decode()}

    assert grading.verify("train_model", record(labels), hidden=True) is None
    assert "below the target" in grading.verify("train_model", record(labels * 0), hidden=True)
    assert "over the budget" in grading.verify("train_model", record(labels, 25_000),
                                               hidden=True)
    assert "one prediction per image" in grading.verify("train_model", record(labels[:10]),
                                                        hidden=True)


# ---------------------------------------------------------------------------------------------
# The nbgrader steps of cnncourse.app.preprocessors, on small notebooks
# ---------------------------------------------------------------------------------------------


def test_checks_in_reads_the_calls_of_a_test_cell():
    source = ('from cnncourse import grading\ngrading.check_conv2d(conv2d)\n'
              'grading.hidden_check("pool2d", pool2d, seed=12)\n'
              'grading.hidden_check("train_model", model)\nprint(grading)\n')
    assert preprocessors.checks_in(source) == [
        preprocessors.CheckCall("conv2d", False, None), preprocessors.CheckCall("pool2d", True, 12),
        preprocessors.CheckCall("train_model", True, None)]
    assert preprocessors.checks_in("%timeit 1 +") == []


def grade_cell(source: str, outputs=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata = {"nbgrader": {"grade": True, "solution": False, "grade_id": "x_hidden",
                                  "locked": True, "points": 1}}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def display_record(record: dict) -> dict:
    return nbformat.v4.new_output("display_data", data={grading.MIME: record,
                                                        "text/plain": "recorded"})


def test_verify_answers_keeps_good_records_quiet_and_rejects_the_rest(monkeypatch):
    name, seed = "receptive_field", hidden_seeds()["receptive_field"]
    [good] = recorded(monkeypatch, lambda: grading.hidden_check(
        name, SOLUTIONS[name], seed=seed))
    call = f'grading.hidden_check("{name}", {name}, seed={seed})'
    wrong = {**good, "answers": [a + 1 for a in good["answers"]]}
    nb = nbformat.v4.new_notebook(cells=[
        grade_cell(call, [display_record(good), nbformat.v4.new_output("stream", text="ok\n")]),
        grade_cell(call, [display_record(wrong)]),
        grade_cell(call, [nbformat.v4.new_output("stream", text="silenced\n")]),
        grade_cell(call, [nbformat.v4.new_output("error", ename="CheckFailed", evalue="no",
                                                traceback=[])]),
        nbformat.v4.new_code_cell(call),  # not a test cell: left alone
    ])
    nb, _ = preprocessors.VerifyAnswers()(nb, {})
    kinds = [[o.output_type for o in c.outputs] for c in nb.cells]
    assert kinds == [["stream"], ["error"], ["stream", "error"], ["error"], []]
    assert "answer of receptive_field is wrong" in nb.cells[1].outputs[0].evalue
    assert "no answers of receptive_field were recorded" in nb.cells[2].outputs[1].evalue
    assert nb.cells[3].outputs[0].evalue == "no"


def test_hide_hidden_tests_leaves_a_comment_and_one_line():
    source = ("# Hidden tests of conv2d (5 points) run when your notebook is graded.\n"
              "### BEGIN HIDDEN TESTS\nfrom cnncourse import grading\n"
              'grading.hidden_check("conv2d", conv2d, seed=424242)\n### END HIDDEN TESTS')
    traceback = ["Traceback", 'grading.hidden_check("conv2d", conv2d, seed=424242)',
                 "CheckFailed: conv2d fails a hidden test"]
    failing = grade_cell(source, [
        nbformat.v4.new_output("stream", text="x has shape (2, 3, 9, 7)\n"),
        nbformat.v4.new_output("error", ename="CheckFailed",
                               evalue="conv2d fails a hidden test: wrong values\nmore",
                               traceback=traceback)])
    passing = grade_cell(source, [nbformat.v4.new_output("stream", text="secret print\n")])
    visible = grade_cell("grading.check_conv2d(conv2d)", [
        display_record({"exercise": "conv2d"}),
        nbformat.v4.new_output("stream", text="ok\n")])
    nb = nbformat.v4.new_notebook(cells=[failing, passing, visible])
    nb, _ = preprocessors.HideHiddenTests()(nb, {})
    text = json.dumps(nb)
    assert "424242" not in text and "hidden_check" not in text and "9, 7" not in text
    assert "secret" not in text and grading.MIME not in text
    assert nb.cells[0].source.startswith("# Hidden tests of conv2d (5 points)")
    assert [o.traceback for o in nb.cells[0].outputs] == [
        ["CheckFailed: conv2d fails a hidden test: wrong values"]]
    assert nb.cells[1].outputs[0].text == "\u2713 the hidden tests pass\n"
    assert [o.output_type for o in nb.cells[2].outputs] == ["stream"]


# ---------------------------------------------------------------------------------------------
# The instructor commands: errors are one line that says what to do
# ---------------------------------------------------------------------------------------------


def test_find_course_says_where_to_look(tmp_path):
    with pytest.raises(CommandError, match="not an nbgrader course"):
        instructor.find_course(str(tmp_path))
    (tmp_path / "nbgrader_config.py").write_text("")
    assert instructor.find_course(str(tmp_path)) == tmp_path
    assert instructor.find_course(cwd=tmp_path) == tmp_path
    assert instructor.find_course(cwd=REPO) == REPO / "exercises"


def test_check_submission_explains_unreadable_notebooks(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), good)
    assert instructor.check_submission(good) is None
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert "broken.ipynb is not valid JSON (Expecting value at line 1" in \
        instructor.check_submission(broken)
    other = tmp_path / "list.ipynb"
    other.write_text("[1, 2]")
    assert "not a notebook" in instructor.check_submission(other)


def test_exercises_commands_fail_in_one_line(tmp_path, capsys):
    assert main(["exercises", "grade", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "not an nbgrader course" in err and "--course" in err
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    assert main(["exercises", "release", "ps9", "--course", str(tmp_path)]) == 2
    assert "unknown assignment 'ps9'; choose from ps1" in capsys.readouterr().err
    assert main(["exercises", "grade", "ps1", "--course", str(tmp_path)]) == 2
    assert "run 'cnncourse exercises release ps1' first" in capsys.readouterr().err
    (tmp_path / "release" / "ps1").mkdir(parents=True)
    assert main(["exercises", "grade", "--course", str(tmp_path)]) == 0
    assert "nothing to grade: put submissions in" in capsys.readouterr().out
    assert main(["exercises", "report", "--course", str(tmp_path)]) == 2
    assert "nothing graded yet" in capsys.readouterr().err
    assert main(["exercises"]) == 2
    assert "choose an action" in capsys.readouterr().err
