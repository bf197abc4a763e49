"""cnncourse.viz: every picture is a returned Figure, drawn without plt.show()."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnncourse import viz  # noqa: E402
from cnncourse.callbacks import Recorder  # noqa: E402
from cnncourse.data import load_digits_28  # noqa: E402
from cnncourse.hooks import ActivationStats  # noqa: E402
from cnncourse.models import simple_cnn  # noqa: E402
from cnncourse.training import Learner  # noqa: E402


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    """Fail on plt.show() and check that no figure is left open in pyplot."""
    def show(*args, **kwargs):
        raise AssertionError("viz must not call plt.show()")

    monkeypatch.setattr(plt, "show", show)
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before, "a figure was left open in pyplot"


@pytest.fixture(scope="module")
def trained():
    data = load_digits_28()
    model = simple_cnn(seed=0)
    learn = Learner(model, data, progress=False, seed=0, device="cpu", threads=1)
    with ActivationStats(model) as stats:
        learn.fit_one_cycle(2, 0.05)
    return learn, stats, data


def _lines(fig: Figure) -> int:
    return sum(len(ax.get_lines()) for ax in fig.axes)


def test_plot_schedule_shows_lr_momentum_and_phases(trained):
    learn, _, _ = trained
    fig = viz.plot_schedule(learn.recorder)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    lr_line = fig.axes[0].get_lines()[0]
    assert list(lr_line.get_ydata()) == learn.recorder.lrs
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == learn.recorder.moms
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "warm-up" in texts and "annealing" in texts


def test_plot_schedule_without_momentum_has_one_panel(trained):
    _, _, data = trained
    learn = Learner(simple_cnn(seed=0), data, progress=False, device="cpu", threads=1,
                    opt_func=torch.optim.Adagrad)  # no momentum at all
    learn.fit(1, 0.01)
    fig = viz.plot_schedule(learn.recorder)
    assert len(fig.axes) == 1 and "warm-up" not in [t.get_text() for t in fig.axes[0].texts]


def test_plot_losses(trained):
    learn, _, _ = trained
    fig = viz.plot_losses(learn.recorder)
    loss_ax, acc_ax = fig.axes
    assert list(loss_ax.get_lines()[0].get_ydata()) == learn.recorder.losses
    assert list(loss_ax.get_lines()[2].get_ydata()) == learn.recorder.valid_loss
    assert list(acc_ax.get_lines()[1].get_ydata()) == learn.recorder.valid_accuracy


def test_layer_stats_and_color_dim(trained):
    _, stats, _ = trained
    fig = viz.plot_layer_stats(stats)
    assert len(fig.axes) == 3 and _lines(fig) == 3 * len(stats)
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == stats["block1"].means
    fig = viz.color_dim(stats)
    images = [ax.get_images() for ax in fig.axes]
    assert sum(len(i) for i in images) == len(stats)
    first = images[0][0].get_array()
    assert first.shape == stats["block1"].hist_matrix().shape  # bins x batches


def test_show_images_with_labels(trained):
    _, _, data = trained
    fig = viz.show_images(data.valid_x[:10], data.valid_y[:10], nrow=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [str(v) for v in data.valid_y[:10].tolist()]
    grid = ax.get_images()[0].get_array()
    assert grid.shape[:2] == (2 + 2 * 30, 2 + 5 * 30)  # 2 rows, 5 columns, padding 2
    floats = viz.show_images(torch.randn(3, 1, 8, 8))
    assert len(floats.axes[0].texts) == 0
    with pytest.raises(ValueError, match="one per image"):
        viz.show_images(data.valid_x[:4], [1, 2])
    with pytest.raises(ValueError, match="shape"):
        viz.show_images(torch.zeros(2, 5, 8, 8))


def test_show_feature_maps_one_row_per_layer(trained):
    learn, _, data = trained
    model = learn.model.train()
    fig = viz.show_feature_maps(model, data.valid_x[0], max_maps=8)
    assert len(fig.axes) == 1 + 5
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0] == "input" and titles[1].startswith("block1: 8 maps of 14x14")
    assert "64 maps of 2x2 (first 8)" in titles[4]
    assert model.training  # put back in the mode it was in
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="one image"):
        viz.show_feature_maps(model, data.valid_x[:2])


def test_figures_can_be_redrawn_in_place(trained):
    learn, _, _ = trained
    fig = viz.plot_losses(learn.recorder)
    again = viz.plot_losses(learn.recorder, fig=fig)
    assert again is fig and len(fig.axes) == 2


def test_empty_inputs_say_what_to_do(trained):
    _, _, _ = trained
    with pytest.raises(ValueError, match="train first"):
        viz.plot_schedule(Recorder())
    with pytest.raises(ValueError, match="no batch recorded"):
        viz.color_dim(ActivationStats(simple_cnn()))
    with pytest.raises(ValueError, match="recorder"):
        viz.plot_losses("not a recorder")
