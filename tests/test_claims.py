"""Lessons that prove their own prose: ``cnncourse.claims`` and the lessons' claim cells.

The slow tests run the lessons whose text states experimental outcomes at 1 and 2 threads, on
MNIST (when ``$CNNCOURSE_DATA`` holds it; here) and on the offline fallback
(``test_claims_offline.py``), each training with its three seeds, and require every claim to
have been checked and to hold.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from cnncourse.claims import Claim, ClaimFailed, claim, notebook_claims, read_claims, run_notebook

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
# The lessons whose text states the outcome of an experiment, and how many claims each checks.
EXPERIMENTS = {"07_why_cnns.ipynb": 3, "08_equivariance.ipynb": 3, "09_why_nonlinearity.ipynb": 7,
               "10_pooling.ipynb": 4, "11_backprop_conv_pooling.ipynb": 7,
               "12_learning_a_kernel.ipynb": 4, "14_one_cycle_training.ipynb": 6,
               "15_batch_size_momentum_weight_decay.ipynb": 7,
               "16_batch_normalization.ipynb": 5, "17_loss_functions.ipynb": 4,
               "18_architectures.ipynb": 8, "19_data_augmentation.ipynb": 7,
               "20_what_a_cnn_sees.ipynb": 4}
# The ones that train, and so repeat each training for three seeds.
TRAINING = {"07_why_cnns.ipynb", "09_why_nonlinearity.ipynb", "12_learning_a_kernel.ipynb",
            "14_one_cycle_training.ipynb", "15_batch_size_momentum_weight_decay.ipynb",
            "16_batch_normalization.ipynb", "17_loss_functions.ipynb", "18_architectures.ipynb",
            "19_data_augmentation.ipynb", "20_what_a_cnn_sees.ipynb"}


def test_a_claim_that_holds_prints_its_numbers(capsys):
    result = claim("the loss falls", 0.1 < 2.3, first=2.3, last=0.1)
    assert isinstance(result, Claim) and result.held
    assert result.numbers == {"first": 2.3, "last": 0.1}
    out = capsys.readouterr().out
    assert "claim holds: the loss falls" in out and "last = 0.1" in out


def test_a_contradicted_claim_says_what_was_expected_and_what_came_out():
    with pytest.raises(ClaimFailed) as info:
        claim("1-cycle beats the constant rate in every run", False,
              one_cycle=[0.9, 0.5], constant=[0.8, 0.7])
    message = str(info.value)
    assert "The lesson says: 1-cycle beats the constant rate in every run" in message
    assert "one_cycle = [0.9, 0.5]" in message and "constant = [0.8, 0.7]" in message
    assert not info.value.claim.held


def test_a_claim_needs_its_sentence():
    with pytest.raises(ValueError, match="text must be the sentence"):
        claim("  ", True)


def test_a_claim_for_one_data_set_is_not_checked_on_another(capsys):
    class Digits:
        name = "digits"

    result = claim("on MNIST the CNN wins", False, only_on="MNIST", data=Digits(), x=1)
    assert result.held and not result.checked
    assert "not checked here (stated for MNIST, this run uses digits data)" in (
        capsys.readouterr().out)
    Digits.name = "MNIST"
    with pytest.raises(ClaimFailed):
        claim("on MNIST the CNN wins", False, only_on="MNIST", data=Digits(), x=1)


def test_claim_records_are_read_back_from_notebook_outputs():
    record = {"text": "t", "held": True, "numbers": {"x": 1}, "threads": 1}
    outputs = [{"output_type": "stream", "text": "hello"},
               {"output_type": "display_data",
                "data": {"text/plain": "claim holds: t", "application/vnd.cnncourse.claim+json":
                         record}}]
    assert read_claims(outputs) == [record]


def test_run_notebook_needs_a_parameters_cell_to_change_seeds(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("seeds = (0,)")])
    path = tmp_path / "no_parameters.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        run_notebook(path, seeds=(1, 2))


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_lessons_check_their_claims_and_repeat_trainings_over_seeds(name):
    nb = nbformat.read(LESSONS / name, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if name in TRAINING:
        assert len(tagged) == 1 and "seeds = (0, 1, 2)" in tagged[0].source, name
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.count("claim(") == EXPERIMENTS[name], f"{name}: update EXPERIMENTS"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "typical run" not in prose, f"{name} still leans on 'a typical run'"


def run_and_read(name: str, data: str, threads: int, tmp_path: Path, monkeypatch) -> list[dict]:
    if data == "mnist":
        folder = os.environ.get("CNNCOURSE_DATA", "")
        if not folder or not Path(folder).is_dir():
            pytest.skip("MNIST not available: set CNNCOURSE_DATA to its folder")
    else:
        empty = tmp_path / "no-mnist"
        empty.mkdir()
        monkeypatch.setenv("CNNCOURSE_DATA", str(empty))
    nb = run_notebook(LESSONS / name, threads=threads, offline=data == "offline",
                      workdir=tmp_path, allow_errors=True)
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name} on {data} with {threads} thread(s): {errors}"
    return notebook_claims(nb)


def check_every_claim(name: str, data: str, threads: int, tmp_path: Path, monkeypatch) -> None:
    """Run lesson ``name`` on ``data`` at ``threads``; every claim must be there and hold."""
    if name not in TRAINING and threads == 2:
        pytest.skip("a lesson without training computes the same at any thread count")
    claims = run_and_read(name, data, threads, tmp_path, monkeypatch)
    assert len(claims) == EXPERIMENTS[name], [c["text"] for c in claims]
    assert all(c["threads"] == threads for c in claims)
    if data == "mnist":
        assert all(c["checked"] for c in claims), [c["text"] for c in claims]
    failed = [f"{c['text']}: {c['numbers']}" for c in claims if not c["held"]]
    assert not failed, f"{name} on {data} with {threads} thread(s): {failed}"


# At 2 threads a lesson needs both cores to itself: next to another test, its threads wait on
# each other (one lesson took 7 times as long). `make test` runs these after the parallel part.
THREADS = [1, pytest.param(2, marks=pytest.mark.whole_machine)]


# On MNIST here; tests/test_claims_offline.py runs the same on the offline fallback (a module
# of its own, so that make test's workers share the runs out).
@pytest.mark.slow
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_claim_holds_for_three_seeds_on_mnist(name, threads, tmp_path, monkeypatch):
    check_every_claim(name, "mnist", threads, tmp_path, monkeypatch)
