"""cnncourse.attribution: saliency, class activation maps, Grad-CAM, top patches, mistakes."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from torch import nn

from cnncourse.attribution import (
    class_activation_maps,
    confusion_matrix,
    grad_cam,
    saliency,
    top_patches,
    worst_mistakes,
)
from cnncourse.models import gap_cnn, simple_cnn


def _images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_cam_means_are_the_logits_and_the_model_is_left_as_it_was():
    model = gap_cnn(seed=0)
    model.train()
    x = _images()
    maps = class_activation_maps(model, x)
    assert maps.shape == (4, 10, 7, 7)
    model.eval()
    torch.testing.assert_close(maps.mean(dim=(2, 3)), model(x))
    assert _no_hooks_left(model)
    model.train()
    class_activation_maps(model, x)
    assert model.training


def test_cam_upsampled_to_the_input():
    maps = class_activation_maps(gap_cnn(seed=1), _images(2), upsample=True)
    assert maps.shape == (2, 10, 28, 28)


def test_cam_needs_a_gap_cnn():
    with pytest.raises(ValueError, match="model must be built by cnncourse.models.gap_cnn"):
        class_activation_maps(simple_cnn(seed=0), _images(1))


def test_grad_cam_equals_a_hand_computation():
    model = simple_cnn(seed=0).eval()
    x = _images(3)
    target = [1, 5, 7]
    cam = grad_cam(model, x, "block2", target, upsample=False)
    # by hand: split the model at block2 and differentiate the rest
    front, back = model[:2], model[2:]
    acts = front(x).detach().requires_grad_(True)
    scores = back(acts)[torch.arange(3), torch.tensor(target)]
    (grads,) = torch.autograd.grad(scores.sum(), acts)
    expected = torch.relu((grads.mean(dim=(2, 3))[:, :, None, None] * acts).sum(dim=1))
    torch.testing.assert_close(cam, expected.detach())
    assert cam.shape == (3, 7, 7)
    assert grad_cam(model, x, model.block2, target).shape == (3, 28, 28)
    assert _no_hooks_left(model)


def test_grad_cam_on_the_classifier_of_a_gap_cnn_is_the_relu_of_the_cam():
    """At the classifier, dy/dA is 1/(h*w) for the target map and 0 elsewhere."""
    model = gap_cnn(seed=2)
    x = _images(2)
    cam = grad_cam(model, x, "classifier", target=3, upsample=False)
    maps = class_activation_maps(model, x)
    torch.testing.assert_close(cam, torch.relu(maps[:, 3]) / 49)


class LeftHalf(nn.Module):
    """A model that looks only at the left half of the image."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(28 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[..., :14].flatten(1))


def test_saliency_is_zero_where_the_model_ignores_the_input():
    torch.manual_seed(0)
    model = LeftHalf()
    s = saliency(model, _images(2), target=4)
    assert s.shape == (2, 28, 28)
    assert (s[..., 14:] == 0).all() and (s[..., :14] > 0).any()
    # for a linear model the saliency is |weight| of the class, whatever the image
    torch.testing.assert_close(s[0, :, :14], model.linear.weight[4].abs().reshape(28, 14))


def test_saliency_takes_the_largest_channel_and_defaults_to_the_prediction():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x = torch.randn(2, 3, 8, 8)
    s = saliency(model, x)
    predicted = model(x).argmax(dim=1)
    torch.testing.assert_close(s, saliency(model, x, predicted))
    assert s.shape == (2, 8, 8)


def test_top_patches_are_the_strongest_units_and_their_fields():
    model = simple_cnn(seed=0).eval()
    x = _images(6)
    found = top_patches(model, x, "block2", channel=3, k=5)
    with torch.no_grad():
        acts = model[:2](x)[:, 3]
    torch.testing.assert_close(found.values, acts.reshape(-1).topk(5).values)
    assert found.patches.shape == (5, 1, 9, 9)  # block2's receptive field is 9 pixels wide
    assert (found.values[:-1] >= found.values[1:]).all()
    for i in range(5):  # each patch is the image where its field lies inside it
        n, t, s = int(found.image[i]), int(found.top[i]), int(found.left[i])
        assert float(acts[n, found.row[i], found.col[i]]) == pytest.approx(float(found.values[i]))
        for dy in range(9):
            for dx in range(9):
                y, xx = t + dy, s + dx
                inside = 0 <= y < 28 and 0 <= xx < 28
                expected = x[n, 0, y, xx] if inside else torch.tensor(0.0)
                assert float(found.patches[i, 0, dy, dx]) == float(expected)


def test_confusion_matrix_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=g)
    predictions = torch.where(torch.rand(500, generator=g) < 0.7, labels,
                              torch.randint(0, 10, (500,), generator=g))
    ours = confusion_matrix(predictions, labels, 10)
    theirs = sk_confusion_matrix(labels.numpy(), predictions.numpy(), labels=list(range(10)))
    assert ours.tolist() == theirs.tolist()
    assert int(ours.sum()) == 500


def test_worst_mistakes_are_wrong_and_sorted_by_confidence():
    logits = torch.tensor([[5.0, 0, 0], [0, 4.0, 0], [0, 0, 1.0], [3.0, 0, 0], [0, 9.0, 0]])
    labels = torch.tensor([0, 2, 0, 1, 1])
    worst = worst_mistakes(logits, labels, k=2)
    assert worst.index.tolist() == [1, 3]
    assert worst.predicted.tolist() == [1, 0] and worst.label.tolist() == [2, 1]
    assert (worst.confidence[:-1] >= worst.confidence[1:]).all()
    assert worst_mistakes(logits, labels, k=10).index.tolist() == [1, 3, 2]


@pytest.mark.parametrize("call, name", [
    (lambda: saliency(simple_cnn(), torch.zeros(28, 28)), "images"),
    (lambda: saliency("model", _images(1)), "model"),
    (lambda: saliency(simple_cnn(), _images(2), target=[1]), "target"),
    (lambda: saliency(simple_cnn(), _images(1), target=10), "target"),
    (lambda: grad_cam(simple_cnn(), _images(1), "nope"), "layer"),
    (lambda: grad_cam(simple_cnn(), _images(1), "block1", target=-1), "target"),
    (lambda: top_patches(simple_cnn(), _images(1), "block1", channel=8), "channel"),
    (lambda: top_patches(simple_cnn(), _images(1), "block1", channel=0, k=0), "k"),
    (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 2), "predictions"),
    (lambda: confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 2), "predictions"),
    (lambda: confusion_matrix(torch.tensor([0.5]), torch.tensor([0]), 2), "predictions"),
    (lambda: confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0), "classes"),
    (lambda: worst_mistakes(torch.zeros(3), torch.tensor([0, 1, 2])), "logits"),
    (lambda: worst_mistakes(torch.zeros(3, 2), torch.tensor([0, 1])), "logits"),
])
def test_bad_arguments_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
