"""cnncourse.training: the Learner, its recorder, its fault handling and the lesson settings."""

from __future__ import annotations

import functools
import math
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.callbacks import (
    Callback,
    DivergenceCheck,
    ProgressBar,
    RandomShift,
    Scheduler,
    StopAfter,
    TorchSettings,
)
from cnncourse.data import ImageData, load_digits_28
from cnncourse.models import simple_cnn
from cnncourse.schedules import one_cycle
from cnncourse.training import (
    LESSON_DEFAULTS,
    Learner,
    TrainingDiverged,
    default_device,
    lesson_learner,
)

from .strategies import torch_one_cycle


@pytest.fixture(scope="module")
def digits() -> ImageData:
    """Real handwritten digits that need no download: 1,438 training, 359 validation images."""
    return load_digits_28()


def _learner(data, batchnorm=True, **kwargs) -> Learner:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("threads", 1)  # quick and steady on a busy machine
    return Learner(simple_cnn(batchnorm=batchnorm, seed=0), data, device="cpu", **kwargs)


# ----------------------------------------------------------------------------- the recorder


@pytest.mark.parametrize("kwargs", [{}, {"pct_start": 0.25, "div_factor": 10.0,
                                         "anneal_strategy": "linear"}])
def test_recorder_lr_and_momentum_equal_one_cycle_lr(digits, kwargs):
    learn = _learner(digits)
    learn.fit_one_cycle(2, 0.05, **kwargs)
    rec = learn.recorder
    total = 2 * len(learn.train_batches)
    assert len(rec.lrs) == len(rec.moms) == len(rec.losses) == total
    ref_lrs, ref_moms = torch_one_cycle(total, max_lr=0.05, **kwargs)
    assert rec.lrs == ref_lrs
    assert rec.moms == ref_moms
    # and the course's own written-out schedule agrees with both
    lrs, moms = one_cycle(total, 0.05, **kwargs)
    assert rec.lrs == pytest.approx(lrs, rel=1e-9)
    assert rec.moms == pytest.approx(moms, rel=1e-9)


def test_recorder_keeps_per_epoch_history(digits):
    learn = _learner(digits)
    learn.fit(2, 0.02)
    rec = learn.recorder
    assert rec.lrs == [0.02] * len(rec.lrs) and set(rec.moms) == {0.9}
    assert len(rec.train_loss) == len(rec.valid_loss) == len(rec.valid_accuracy) == 2
    assert rec.steps_per_epoch == len(learn.train_batches)
    assert [h["epoch"] for h in rec.history] == [1, 2]
    assert rec.valid_accuracy[-1] == learn.validate()["accuracy"]
    assert all(0 <= a <= 1 for a in rec.train_accuracy + rec.valid_accuracy)
    mean_step_loss = sum(rec.losses[:rec.steps_per_epoch]) / rec.steps_per_epoch
    assert rec.train_loss[0] == pytest.approx(mean_step_loss)  # equal-sized batches


def test_momentum_of_adam_is_its_beta1(digits):
    learn = _learner(digits, opt_func=torch.optim.AdamW)
    learn.fit_one_cycle(1, 0.003)
    moms = learn.recorder.moms
    assert moms[0] == pytest.approx(0.95) and moms[-1] > 0.94
    assert min(moms) < 0.86  # beta1 dips while the learning rate peaks


def test_validate_reports_loss_and_accuracy(digits):
    learn = _learner(digits)
    metrics = learn.validate()
    assert set(metrics) == {"loss", "accuracy"}
    # by hand, on the whole validation set at once
    model = learn.model.eval()
    x = (digits.valid_x[:, None].float() / 255 - digits.mean) / digits.std
    with torch.no_grad():
        logits = model(x)
    assert metrics["loss"] == pytest.approx(F.cross_entropy(logits, digits.valid_y).item(),
                                            rel=1e-4)
    assert metrics["accuracy"] == pytest.approx(
        (logits.argmax(1) == digits.valid_y).float().mean().item())


def test_seed_makes_cpu_runs_repeatable(digits):
    runs = []
    for _ in range(2):
        learn = _learner(digits, callbacks=[RandomShift(1)])
        learn.fit_one_cycle(1, 0.05)
        runs.append(learn.recorder.losses)
    assert runs[0] == runs[1]
    other = _learner(digits, seed=1)
    other.fit_one_cycle(1, 0.05)
    assert other.recorder.losses != runs[0]


def test_training_learns_the_digits(digits):
    learn = _learner(digits)
    before = learn.validate()["accuracy"]
    learn.fit_one_cycle(3, 0.05)
    assert learn.status == "finished"
    assert learn.recorder.valid_accuracy[-1] > max(0.8, before + 0.3)
    assert not learn.model.training  # left in eval mode, ready to predict
    probs = learn.predict(digits.valid_x[:5])
    assert probs.shape == (5, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    assert learn.predict(digits.valid_x[0]).shape == (1, 10)


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize("batchnorm", [True, False])
def test_divergence_guard_stops_at_once_and_keeps_history(digits, batchnorm):
    learn = _learner(digits, batchnorm=batchnorm)
    with pytest.raises(TrainingDiverged) as info:
        learn.fit_one_cycle(3, max_lr=1e4)
    err = info.value
    message = str(err)
    assert f"step {err.step}" in message and "learning rate" in message
    assert "lower" in message and "max_lr=1e+03" in message
    assert learn.status == "diverged"
    rec = learn.recorder
    assert len(rec.losses) == err.step  # every step before the bad one is kept
    assert all(math.isfinite(v) for v in rec.losses)
    assert err.step < len(learn.train_batches) * 3  # it did not run on to the end
    ref_lrs, _ = torch_one_cycle(len(learn.train_batches) * 3, max_lr=1e4)
    assert err.lr == ref_lrs[err.step] and f"learning rate {err.lr:.3g}" in message
    assert not math.isfinite(err.loss) or err.loss > 100 * rec.losses[0]


def test_constant_lr_fit_suggests_a_lower_lr(digits):
    learn = _learner(digits, batchnorm=False)
    with pytest.raises(TrainingDiverged, match=r"lr=100"):
        learn.fit(1, 1000.0)


class _RaiseAt(Callback):
    def __init__(self, step: int, exc: BaseException) -> None:
        self.step, self.exc = step, exc

    def after_batch(self) -> None:
        if self.learner.step == self.step:
            raise self.exc


class _Ended(Callback):
    ended = False

    def after_fit(self) -> None:
        self.ended = True


def test_stop_request_ends_after_the_current_batch(digits):
    learn = _learner(digits)
    before = learn.model.block1.conv.weight.detach().clone()
    ended = _Ended()
    learn.add_callback(StopAfter(5))
    learn.add_callback(ended)
    learn.fit_one_cycle(3, 0.05)
    assert learn.status == "stopped" and ended.ended
    assert len(learn.recorder.losses) == 5
    assert not torch.equal(before, learn.model.block1.conv.weight)  # the 5 steps were taken
    assert learn.validate()["accuracy"] >= 0  # the model is still usable


def test_keyboard_interrupt_keeps_model_and_history(digits):
    learn = _learner(digits, callbacks=[_RaiseAt(3, KeyboardInterrupt())])
    ended = learn.add_callback(_Ended())
    with pytest.warns(UserWarning, match="interrupted"):
        learn.fit_one_cycle(2, 0.05)  # returns normally
    assert learn.status == "interrupted" and ended.ended
    assert len(learn.recorder.losses) == 4
    assert learn.model.block1.conv.weight.is_contiguous()  # back to the usual memory layout


def test_stop_from_outside_the_loop(digits):
    learn = _learner(digits)

    class StopInEpoch2(Callback):
        def before_epoch(self) -> None:
            if self.learner.epoch == 1:
                self.learner.stop()

    learn.add_callback(StopInEpoch2())
    learn.fit(3, 0.02)
    assert learn.status == "stopped"
    assert len(learn.recorder.valid_accuracy) == 1
    assert len(learn.recorder.losses) == len(learn.train_batches) + 1


def _data(**changes) -> ImageData:
    base = load_digits_28()
    fields = {"train_x": base.train_x, "train_y": base.train_y,
              "valid_x": base.valid_x, "valid_y": base.valid_y}
    fields.update(changes)
    return type("Data", (), fields)()  # a plain object, so ImageData's own checks are skipped


@pytest.mark.parametrize("changes, message", [
    ({"train_x": torch.rand(10, 28, 28)}, "uint8"),
    ({"train_x": torch.zeros(10, 784, dtype=torch.uint8)}, r"\[N, H, W\]"),
    ({"train_x": torch.zeros(0, 28, 28, dtype=torch.uint8),
      "train_y": torch.zeros(0, dtype=torch.int64)}, "empty"),
    ({"valid_y": torch.full((359,), 12)}, r"0\.\.9"),
    ({"train_y": torch.zeros(5, dtype=torch.int64)}, "one label per image"),
])
def test_bad_data_is_a_value_error_saying_what_was_expected(changes, message):
    with pytest.raises(ValueError, match=message):
        Learner(simple_cnn(), _data(**changes), progress=False)


def test_data_without_the_four_tensors_is_rejected():
    with pytest.raises(ValueError, match="train_x, train_y, valid_x and valid_y"):
        Learner(simple_cnn(), object(), progress=False)


def test_model_that_does_not_fit_the_data(digits):
    with pytest.raises(ValueError, match=r"\[N, 10\]"):
        Learner(simple_cnn(n_classes=5), digits, progress=False)
    with pytest.raises(ValueError, match="cannot take images"):
        Learner(simple_cnn(in_channels=3), digits, progress=False)
    with pytest.raises(ValueError, match="nn.Module"):
        Learner("not a model", digits, progress=False)


@pytest.mark.parametrize("call, name", [
    (lambda learn: learn.fit(0, 0.1), "epochs"),
    (lambda learn: learn.fit(1, -0.1), "lr"),
    (lambda learn: learn.fit(1, float("nan")), "lr"),
    (lambda learn: learn.fit_one_cycle(1.5, 0.1), "epochs"),
    (lambda learn: learn.fit_one_cycle(1, 0), "max_lr"),
    (lambda learn: learn.fit_one_cycle(1, 0.1, total_steps=5), "total_steps"),
    (lambda learn: learn.fit_one_cycle(1, 0.1, pct_start=2.0), "pct_start"),
    (lambda learn: learn.lr_find(start_lr=1.0, end_lr=0.1), "end_lr"),
])
def test_bad_training_arguments_name_the_parameter(digits, call, name):
    learn = _learner(digits)
    with pytest.raises(ValueError, match=name):
        call(learn)
    with pytest.raises(ValueError, match="batch_size"):
        Learner(simple_cnn(), digits, batch_size=0)


# ----------------------------------------------------------------------------- lr_find


def test_lr_find_explores_and_puts_everything_back(digits):
    learn = _learner(digits)
    learn.fit(1, 0.01)
    history = learn.recorder
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    result = learn.lr_find(start_lr=1e-5, end_lr=10.0, num_it=30)
    assert 5 <= len(result.lrs) <= 30
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:], strict=False))
    assert result.lrs[0] == pytest.approx(1e-5)
    assert 1e-6 <= result.suggestion <= 1.0
    assert learn.recorder is history
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, weights[k]), f"{k} was not restored"


# ----------------------------------------------------------------------------- set-up


def test_device_choice(monkeypatch, digits):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device().type == "cpu"
    learn = Learner(simple_cnn(), digits, progress=False)
    assert learn.device.type == "cpu"
    assert next(learn.model.parameters()).device.type == "cpu"


def test_threads_are_set_for_the_fit_only(digits):
    seen = []

    class Threads(Callback):
        def after_batch(self) -> None:
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    learn = _learner(digits, threads=target, callbacks=[Threads()])
    learn.fit(1, 0.01)
    assert set(seen) == {target}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        _learner(digits, threads=0)


def test_a_fit_in_a_background_thread_leaves_the_thread_count_alone(digits):
    """torch's thread count is process-wide: only the main thread changes it."""
    seen = []

    class Threads(Callback):
        def after_batch(self) -> None:
            seen.append(torch.get_num_threads())

    target = torch.get_num_threads() + 3
    learn = _learner(digits, threads=target, callbacks=[Threads(), StopAfter(3)])
    worker = threading.Thread(target=learn.fit, args=(1, 0.01))
    worker.start()
    worker.join()
    assert seen and target not in seen
    assert learn.status == "stopped"


def test_every_fit_feature_is_a_callback(digits):
    """The loop calls the events; the schedule, the divergence check and torch's settings
    are callbacks that every fit adds, in their order, the schedule last."""
    learn = _learner(digits, callbacks=[StopAfter(2)])
    learn.fit_one_cycle(1, 0.01)
    kinds = [type(cb) for cb in learn._active]
    assert kinds[0] is TorchSettings and kinds[-1] is Scheduler
    assert DivergenceCheck in kinds and StopAfter in kinds
    learn.fit(1, 0.01)
    assert Scheduler not in [type(cb) for cb in learn._active]


def test_progress_bar_runs_and_closes(digits, capsys):
    learn = Learner(simple_cnn(seed=0), digits, device="cpu", progress=True, threads=1)
    assert any(isinstance(cb, ProgressBar) for cb in learn.callbacks)
    learn.fit(1, 0.01)
    err = capsys.readouterr()
    assert "epoch 1: train loss" in err.out + err.err


def test_lesson_learner_uses_the_lesson_defaults(digits):
    learn = lesson_learner(digits, progress=False, device="cpu")
    convs = [m for m in learn.model.modules() if isinstance(m, nn.Conv2d)]
    assert tuple(c.out_channels for c in convs[:-1]) == LESSON_DEFAULTS["channels"]
    assert learn.batch_size == LESSON_DEFAULTS["batch_size"]
    shifts = [cb for cb in learn.callbacks if isinstance(cb, RandomShift)]
    assert [s.max_shift for s in shifts] == [LESSON_DEFAULTS["max_shift"]]
    assert learn.threads == LESSON_DEFAULTS["threads"]
    no_bn = lesson_learner(digits, batchnorm=False, progress=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.model.modules())


def test_custom_loss_function_is_used(digits):
    calls = []

    def loss(preds, target):
        calls.append(len(target))
        return F.cross_entropy(preds, target, label_smoothing=0.1)

    learn = _learner(digits, loss_func=functools.partial(loss))
    learn.fit(1, 0.01)
    assert len(calls) == len(learn.train_batches) + len(learn.valid_batches)


# ----------------------------------------------------------------------------- real MNIST


@pytest.mark.slow
def test_short_training_on_mnist_reaches_95_percent(mnist):
    learn = lesson_learner(mnist, progress=False)
    learn.fit_one_cycle(1, LESSON_DEFAULTS["max_lr"])
    assert learn.status == "finished"
    assert learn.validate()["accuracy"] >= 0.95
