"""What a CNN sees: which pixels, positions and patches drive its class scores.

- ``saliency``: how much each input pixel would change the class score (the gradient).
- ``class_activation_maps``: for a ``gap_cnn``, the ``classifier``'s scores at every position,
  before global average pooling; their mean over positions *is* the model's output.
- ``grad_cam``: on any conv layer, the layer's maps weighted by how much each map moves the
  class score (the mean gradient per channel), summed, and cut at zero (Selvaraju et al. 2017).
- ``top_patches``: the input patches (one receptive field each) that excite a channel most.
- ``confusion_matrix`` and ``worst_mistakes``: where the model goes wrong.

All of them run the model in evaluation mode and put it back as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import as_int, check_tensor
from .hooks import Hook, evaluating
from .receptive import receptive_field, unit_region

Target = int | Sequence[int] | torch.Tensor | None


def _images(images: object) -> torch.Tensor:
    return check_tensor(images, "images", (4,), "(N, C, H, W)")


def _model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    return model


def _layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """``(name, module)`` of ``layer``, given by name (``"block2"``) or as a submodule."""
    named = dict(model.named_modules())
    if isinstance(layer, str) and layer and layer in named:
        return layer, named[layer]
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer and name:
                return name, module
    names = [n for n, m in model.named_children()]
    raise ValueError(f"layer must name a submodule of the model (one of {', '.join(names)}), "
                     f"or be one, got {layer!r}")


def _targets(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """One class index per image: ``None`` -> the predicted class; an int -> that class for
    every image; a sequence or tensor -> one class per image."""
    n, n_classes = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    if isinstance(target, int) and not isinstance(target, bool):
        classes = torch.full((n,), target, dtype=torch.long)
    else:
        try:
            classes = torch.as_tensor(target).long().reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"target must be None, a class index or one index per image, "
                             f"got {target!r}") from None
        if len(classes) != n:
            raise ValueError(f"target must hold one class index per image ({n}), "
                             f"got {len(classes)}")
    if classes.numel() and (classes.min() < 0 or classes.max() >= n_classes):
        raise ValueError(f"target must be class indices in 0..{n_classes - 1}, "
                         f"got {classes.tolist()}")
    return classes.to(logits.device)


def _class_scores(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """The sum over images of each image's target score (its gradient gives every image's)."""
    classes = _targets(target, logits)
    return logits.gather(1, classes[:, None]).sum()


def saliency(model: nn.Module, images: torch.Tensor, target: Target = None) -> torch.Tensor:
    """``[N, H, W]``: ``|d score / d pixel|``, the largest over the input channels.

    ``target``: the class whose score is explained (default: the predicted class).
    """
    model, images = _model(model), _images(images)
    x = images.detach().clone().requires_grad_(True)
    with evaluating(model):
        logits = model(x)
        (grad,) = torch.autograd.grad(_class_scores(logits, target), x)
    return grad.abs().amax(dim=1)


def class_activation_maps(model: nn.Module, images: torch.Tensor,
                          upsample: bool = False) -> torch.Tensor:
    """``[N, n_classes, h, w]``: the ``classifier`` output of a ``gap_cnn``, one map per class.

    Each map's mean is that class's logit. ``upsample=True`` stretches the maps to the input's
    size (bilinear), for drawing them over the image; the means then change a little.
    """
    model, images = _model(model), _images(images)
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Conv2d) or not isinstance(
            getattr(model, "pool", None), nn.AdaptiveAvgPool2d):
        raise ValueError("model must be built by cnncourse.models.gap_cnn: a conv named "
                         "'classifier' followed by a global average pool named 'pool'")
    found: list[torch.Tensor] = []
    with Hook(classifier, lambda hook, module, inputs, out: found.append(out)), \
            evaluating(model), torch.no_grad():
        model(images)
    maps = found[-1]
    if upsample:
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return maps


def grad_cam(model: nn.Module, images: torch.Tensor, layer: str | nn.Module,
             target: Target = None, upsample: bool = True) -> torch.Tensor:
    """``[N, H, W]`` Grad-CAM of ``layer`` (default: stretched to the input's size).

    With ``A`` the layer's output ``[N, C, h, w]`` and ``y`` the target class's score:
    ``weight[c] = mean over positions of dy/dA[c]``, ``cam = relu(sum_c weight[c] * A[c])``.
    """
    model, images = _model(model), _images(images)
    _, module = _layer(model, layer)
    found: list[torch.Tensor] = []
    with Hook(module, lambda hook, mod, inputs, out: found.append(out)), evaluating(model):
        logits = model(images)
        if not found or not isinstance(found[-1], torch.Tensor) or found[-1].dim() != 4:
            raise ValueError(f"layer {layer!r} must output feature maps [N, C, h, w]")
        acts = found[-1]
        (grads,) = torch.autograd.grad(_class_scores(logits, target), acts)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts).sum(dim=1)).detach()
    if upsample:
        cam = F.interpolate(cam[:, None], size=images.shape[-2:], mode="bilinear",
                            align_corners=False)[:, 0]
    return cam


@dataclass(frozen=True)
class Patches:
    """The ``k`` strongest units of one channel and the input patch each one sees.

    ``patches[i]`` is ``[C, rf, rf]`` (zeros where the field runs past the image); it comes
    from image ``image[i]``, unit ``(row[i], col[i])``, whose patch starts at input pixel
    ``(top[i], left[i])``; ``values[i]`` is the unit's activation.
    """

    patches: torch.Tensor
    values: torch.Tensor
    image: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor


def top_patches(model: nn.Module, images: torch.Tensor, layer: str | nn.Module,
                channel: int, k: int = 9) -> Patches:
    """The ``k`` input patches whose unit in ``channel`` of ``layer`` is most active."""
    model, images = _model(model), _images(images)
    name, module = _layer(model, layer)
    k = as_int(k, "k", minimum=1)
    found: list[torch.Tensor] = []
    with Hook(module, lambda hook, mod, inputs, out: found.append(out.detach())), \
            evaluating(model), torch.no_grad():
        model(images)
    acts = found[-1]
    if acts.dim() != 4:
        raise ValueError(f"layer {layer!r} must output feature maps [N, C, h, w]")
    channel = as_int(channel, "channel")
    if channel >= acts.shape[1]:
        raise ValueError(f"channel must be below {acts.shape[1]} (layer {name!r} has "
                         f"{acts.shape[1]} channels), got {channel}")
    n, _, h, w = acts.shape
    values, flat = acts[:, channel].reshape(-1).topk(min(k, n * h * w))
    image, row, col = flat // (h * w), (flat % (h * w)) // w, flat % w
    record = receptive_field(model, tuple(images.shape[-2:]), at=name)
    regions = [unit_region(record, int(r), int(c)) for r, c in zip(row, col, strict=True)]
    size = regions[0].height
    padded = F.pad(images.detach(), (size, size, size, size))
    tops = [round(reg.top) for reg in regions]
    lefts = [round(reg.left) for reg in regions]
    patches = torch.stack([padded[i, :, t + size:t + 2 * size, s + size:s + 2 * size]
                           for i, t, s in zip(image.tolist(), tops, lefts, strict=True)])
    return Patches(patches, values, image, row, col, torch.tensor(tops), torch.tensor(lefts))


def _labels(values: object, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor) or values.dim() != 1 or values.is_floating_point():
        raise ValueError(f"{name} must be a 1-d tensor of class indices, got "
                         f"{getattr(values, 'shape', type(values).__name__)}")
    return values.long()


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor,
                     classes: int = 10) -> torch.Tensor:
    """``[classes, classes]`` counts: row = true label, column = prediction (as sklearn)."""
    predictions, labels = _labels(predictions, "predictions"), _labels(labels, "labels")
    classes = as_int(classes, "classes", minimum=1)
    if len(predictions) != len(labels):
        raise ValueError(f"predictions and labels must have the same length, got "
                         f"{len(predictions)} and {len(labels)}")
    for name, values in (("predictions", predictions), ("labels", labels)):
        if values.numel() and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"{name} must lie in 0..{classes - 1} (classes={classes})")
    counts = torch.bincount(labels * classes + predictions, minlength=classes * classes)
    return counts.reshape(classes, classes)


@dataclass(frozen=True)
class Mistakes:
    """The wrongly classified images, most confident first: ``index`` into the batch, the
    ``predicted`` and true ``label``, and the probability the model gave its wrong answer."""

    index: torch.Tensor
    predicted: torch.Tensor
    label: torch.Tensor
    confidence: torch.Tensor


def worst_mistakes(logits: torch.Tensor, labels: torch.Tensor, k: int = 10) -> Mistakes:
    """The (at most) ``k`` wrong predictions the model was surest of."""
    logits = check_tensor(logits, "logits", (2,), "(N, n_classes)")
    labels = _labels(labels, "labels")
    k = as_int(k, "k", minimum=1)
    if len(labels) != len(logits):
        raise ValueError(f"logits and labels must have the same length, got {len(logits)} "
                         f"and {len(labels)}")
    probabilities = logits.detach().softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)
    wrong = (predicted != labels).nonzero().reshape(-1)
    order = confidence[wrong].argsort(descending=True)[:k]
    index = wrong[order]
    return Mistakes(index, predicted[index], labels[index], confidence[index])


__all__ = ["Mistakes", "Patches", "class_activation_maps", "confusion_matrix", "grad_cam",
           "saliency", "top_patches", "worst_mistakes"]
