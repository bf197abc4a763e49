"""cnncourse.hooks: Hook, Hooks and ActivationStats."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.data import load_digits_28
from cnncourse.hooks import ActivationStats, Hook, Hooks, conv_layers, layer_outputs
from cnncourse.models import simple_cnn
from cnncourse.training import Learner


def _no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


@pytest.fixture(scope="module")
def digits():
    return load_digits_28()


def test_hook_and_hooks_see_outputs_and_clean_up():
    model = simple_cnn()
    seen = []
    with Hook(model.block1, lambda h, m, i, out: seen.append(tuple(out.shape))):
        model(torch.zeros(2, 1, 28, 28))
    assert seen == [(2, 8, 14, 14)] and _no_hooks_left(model)
    names = []
    with Hooks([model.block2, model.head], lambda h, m, i, out: names.append(out.shape[1])):
        model(torch.zeros(2, 1, 28, 28))
    assert names == [16, 10] and _no_hooks_left(model)


def test_default_layers_cover_every_convolution():
    model = simple_cnn()
    layers = conv_layers(model)
    assert [n for n, _ in layers] == ["block1", "block2", "block3", "block4", "head"]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:  # each convolution lies in exactly one watched layer
        assert sum(any(sub is conv for sub in m.modules()) for _, m in layers) == 1
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    assert [n for n, _ in conv_layers(plain)] == ["0", "2"]


def test_activation_stats_records_every_conv_layer_per_batch(digits):
    model = simple_cnn(seed=0)
    learn = Learner(model, digits, progress=False, seed=0, device="cpu", threads=1)
    with ActivationStats(model) as stats:
        assert not _no_hooks_left(model)
        learn.fit(1, 0.02)
    assert _no_hooks_left(model)
    steps = len(learn.recorder.losses)
    assert stats.names == ["block1", "block2", "block3", "block4", "head"]
    for layer in stats:
        # training batches only: validation passes are not recorded
        assert len(layer.means) == len(layer.stds) == len(layer.near_zero) == steps
        assert all(0.0 <= z <= 1.0 for z in layer.near_zero)
        assert layer.hist_matrix().shape == (40, steps)
    # after a ReLU nothing is negative and about half is exactly zero
    assert min(stats["block2"].means) > 0 and 0.2 < stats["block2"].near_zero[0] < 0.9
    # histograms count the activations of the batch (all of them fall in 0..10 here)
    n_values = learn.batch_size * 8 * 14 * 14
    assert stats["block1"].hist_matrix()[:, 0].sum().item() == pytest.approx(n_values, rel=0.01)


def test_activation_stats_values_match_a_manual_computation():
    model = simple_cnn(seed=0).train()
    x = torch.randn(16, 1, 28, 28)
    with ActivationStats(model, near_zero=0.1) as stats:
        model(x)
    with torch.no_grad():
        out = model.block3(model.block2(model.block1(x)))
    s = stats["block3"]
    assert s.means[0] == pytest.approx(out.mean().item(), rel=1e-5)
    assert s.stds[0] == pytest.approx(out.std().item(), rel=1e-5)
    assert s.near_zero[0] == pytest.approx((out.abs() < 0.1).float().mean().item())


def test_activation_stats_as_a_callback_removes_its_hooks(digits):
    model = simple_cnn(seed=0)
    stats = ActivationStats(model, modules=nn.Conv2d)
    learn = Learner(model, digits, progress=False, seed=0, callbacks=[stats], device="cpu",
                    threads=1)
    learn.fit(1, 0.02)
    assert _no_hooks_left(model)
    assert len(stats) == 5 and all(name.endswith("conv") for name in stats.names)
    assert len(stats[0].means) == len(learn.recorder.losses)
    with pytest.raises(KeyError, match="block1"):
        stats["nope"]


def test_eval_passes_are_skipped_unless_asked():
    model = simple_cnn().eval()
    with ActivationStats(model) as only_train, ActivationStats(model, train_only=False) as every:
        model(torch.zeros(2, 1, 28, 28))
    assert only_train["block1"].means == [] and len(every["block1"].means) == 1


def test_hooks_are_removed_even_when_training_fails(digits):
    model = simple_cnn(seed=0)
    with pytest.raises(RuntimeError), ActivationStats(model):
        model(torch.zeros(1, 3, 28, 28))  # wrong number of channels
    assert _no_hooks_left(model)


def test_selecting_nothing_is_a_value_error():
    with pytest.raises(ValueError, match="modules"):
        ActivationStats(simple_cnn(), modules=nn.LSTM)


def test_evaluating_switches_to_eval_and_back_even_after_an_error():
    from cnncourse.hooks import evaluating

    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))
    model.train()
    with evaluating(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert all(m.training for m in model.modules())
    model.eval()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("boom")
    assert not model.training  # back to the mode it was in: eval


def test_layer_outputs_are_what_each_block_returns_in_eval_mode():
    model = simple_cnn(seed=0)
    model.train()
    x = torch.randn(3, 1, 28, 28)
    output, outputs = layer_outputs(model, x)
    assert model.training  # put back as it was
    assert list(outputs) == [name for name, _ in conv_layers(model)]
    model.eval()
    with torch.no_grad():
        expected, h = model(x), x
        for name, block in model.named_children():
            h = block(h)
            if name in outputs:
                assert torch.equal(outputs[name], h), name
    assert torch.equal(output, expected) and not output.requires_grad
