"""Looking inside a model: well-known architectures to try, and what every layer outputs for one
image.

``build(name)`` makes one of ``ARCHITECTURES`` untrained (torchvision's ``weights=None``:
nothing is downloaded). ``layer_outputs(model, x)`` runs the model once with a forward hook
on every leaf layer and keeps the first channels of each output, in the order the layers run,
the same order as ``shape_table``'s rows. ``check_model`` says, before anything runs, why a
model cannot be shown: parameters on the ``meta`` device (shapes without values) or on several
devices, or a ``forward`` that needs more than one image batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import first_line
from .shapes import watching_leaves, where_it_failed

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    """A model to try: how to build it, the input size it was designed for, its input
    channels, and the per-channel mean and std its inputs are standardised with."""

    name: str
    build: Callable[[], nn.Module]
    input_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _torchvision(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from torchvision import models  # here: the course runs without it until one is built

        return getattr(models, name)(weights=None, **kwargs)
    return build


def _lesson_cnn() -> nn.Module:
    from .models import simple_cnn

    return simple_cnn(seed=0)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a for a in [
        Architecture("lesson CNN", _lesson_cnn, 28, 1, (0.1307,), (0.3081,)),
        *(Architecture(name, _torchvision(name, **kwargs), 224, 3, IMAGENET_MEAN, IMAGENET_STD)
          for name, kwargs in [("resnet18", {}), ("resnet50", {}), ("vgg16", {}),
                               ("alexnet", {}), ("mobilenet_v2", {}),
                               ("googlenet", {"init_weights": True, "aux_logits": False}),
                               ("efficientnet_b0", {})]),
    ]
}


def build(name: str, seed: int = 0) -> nn.Module:
    """``ARCHITECTURES[name]``, untrained, its weights drawn with ``seed``, in eval mode."""
    if name not in ARCHITECTURES:
        raise ValueError(f"name must be one of {', '.join(ARCHITECTURES)}, got {name!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[name].build().eval()


def input_channels(model: nn.Module, default: int = 3) -> int:
    """The channels the model's first convolution reads (``default`` without one)."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else default


def model_device(model: nn.Module) -> torch.device:
    """The one device the model's parameters and buffers are on (the CPU if it has none)."""
    devices = {t.device for t in [*model.parameters(), *model.buffers()]}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise ValueError(f"model: its parameters are on several devices ({names}); move it "
                         "to one, e.g. model.to('cpu')")
    device = devices.pop() if devices else torch.device("cpu")
    if device.type == "meta":
        raise ValueError("model: its parameters are on the 'meta' device, which holds shapes "
                         "but no values, so it has no feature maps to show; pass a model with "
                         "real weights, e.g. model.to_empty(device='cpu') and then "
                         "load_state_dict(...), or a model built on the CPU")
    return device


def check_model(model: object) -> torch.device:
    """The device to run ``model`` on, or a ``ValueError`` saying why it cannot be run on one
    image batch ``model(x)``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    device = model_device(model)
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):  # a forward without a signature: try it as it is
        return device
    required = [p.name for p in signature.parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(required) > 1:
        extra = ", ".join(repr(n) for n in required[1:])
        raise ValueError(f"model: its forward needs {extra} besides the image, but only an "
                         "image batch can be given; wrap it in a module whose forward(x) "
                         "supplies the rest, or give those arguments defaults")
    return device


@dataclass(frozen=True)
class LayerOutput:
    """One leaf layer's call: its name, its whole output's shape and the first channels of
    that output for the first image (``(C, H, W)`` or ``(F,)``, float on the CPU; ``None`` when
    the output is not a tensor)."""

    name: str
    shape: tuple[int, ...]
    values: torch.Tensor | None


def layer_outputs(model: nn.Module, x: torch.Tensor, channels: int = 16) -> list[LayerOutput]:
    """Run ``model`` on ``x`` in eval mode without gradients; every leaf layer's output, in
    the order the layers run, keeping its first ``channels`` channels. ``x`` is moved to the
    model's device and type. A layer that fails gives a ``ValueError`` naming it."""
    device = check_model(model)
    param = next(model.parameters(), None)
    x = x.to(device, param.dtype if param is not None and param.is_floating_point()
             else torch.float32)
    found: list[LayerOutput] = []

    def keep(name: str, module: nn.Module, output) -> None:
        if isinstance(output, torch.Tensor):
            kept = output[0, :channels] if output.dim() >= 2 else output
            found.append(LayerOutput(name, tuple(output.shape),
                                     kept.detach().to("cpu", torch.float32).clone()))
        else:
            found.append(LayerOutput(name, (), None))

    from .hooks import evaluating  # here: looking at a model need not load the trainer

    with watching_leaves(model, keep) as running:
        try:
            with evaluating(model), torch.no_grad():
                model(x)
        except (RuntimeError, TypeError, IndexError) as err:
            raise ValueError(f"input_size {tuple(x.shape[2:])}: {where_it_failed(running)} "
                             f"cannot take the input it receives: {first_line(err)}") from None
    return found


__all__ = ["ARCHITECTURES", "Architecture", "LayerOutput", "build", "check_model",
           "input_channels", "layer_outputs", "model_device"]
