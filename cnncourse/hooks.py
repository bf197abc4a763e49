"""Forward hooks: look at what each layer outputs while the model runs.

``Hook`` wraps ``module.register_forward_hook``; ``Hooks`` is a list of them. Both are context
managers that remove their hooks on exit, so nothing stays attached to the model.
``ActivationStats`` uses them to record, per layer and per training batch, the mean, the
standard deviation, the fraction of activations near zero and a histogram of their sizes
(for the "colorful dimension" picture, ``viz.color_dim``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .callbacks import Callback

HookFn = Callable[["Hook", nn.Module, tuple, torch.Tensor], None]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in evaluation mode inside the block (batch norm uses its running
    statistics, dropout is off), then put it back in the mode it was in, whatever happens."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class Hook:
    """Call ``fn(hook, module, inputs, output)`` after every forward pass of ``module``."""

    def __init__(self, module: nn.Module, fn: HookFn) -> None:
        self.module = module
        self.handle = module.register_forward_hook(
            lambda mod, inputs, output: fn(self, mod, inputs, output))

    def remove(self) -> None:
        if getattr(self, "handle", None) is not None:
            self.handle.remove()
            self.handle = None

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __del__(self) -> None:
        self.remove()


class Hooks(list):
    """One ``Hook`` per module, removed together."""

    def __init__(self, modules: Iterable[nn.Module], fn: HookFn) -> None:
        super().__init__(Hook(m, fn) for m in modules)

    def remove(self) -> None:
        for hook in self:
            hook.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers ``ActivationStats`` watches by default: each top-level child of ``model`` that
    contains a convolution (for ``simple_cnn``: every block, whose output is the activation after
    conv, batch norm and ReLU). A model without such children: every ``nn.Conv2d`` itself."""
    children = [(name, m) for name, m in model.named_children()
                if any(isinstance(sub, nn.Conv2d) for sub in m.modules())]
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    if children and len(children) == n_convs:
        return children
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def layer_outputs(model: nn.Module, x: torch.Tensor,
                  layers: list[tuple[str, nn.Module]] | None = None,
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` on ``x`` in evaluation mode without gradients; return its output and what
    each of ``layers`` (``(name, module)`` pairs, default ``conv_layers(model)``) output."""
    layers = conv_layers(model) if layers is None else layers
    found: dict[int, torch.Tensor] = {}
    with Hooks([m for _, m in layers], lambda hook, module, inputs, out: found.__setitem__(
            id(module), out.detach())), evaluating(model), torch.no_grad():
        output = model(x)
    return output, {name: found[id(m)] for name, m in layers}


@dataclass
class LayerStats:
    """Statistics of one layer's output, one entry per recorded batch."""

    name: str
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)
    near_zero: list[float] = field(default_factory=list)
    hists: list[torch.Tensor] = field(default_factory=list)

    def hist_matrix(self) -> torch.Tensor:
        """Histograms side by side: ``[bins, batches]`` (time runs left to right)."""
        if not self.hists:
            return torch.zeros(0, 0)
        return torch.stack(self.hists, dim=1)


class ActivationStats(Callback):
    """Record activation statistics of ``model``'s layers on every training batch.

    Use it as a context manager around training, or pass it to the ``Learner`` in
    ``callbacks=[...]`` (hooks are then attached for each fit and removed after it)::

        with ActivationStats(model) as stats:
            learn.fit_one_cycle(1, 0.06)
        stats["block1"].means

    ``modules``: the layers to watch, as ``(name, module)`` pairs, plain modules, or a module
    class such as ``nn.ReLU`` (every instance); default ``conv_layers(model)``.
    Histograms count ``|activation|`` in ``bins`` equal bins over ``hist_range``; "near zero"
    means ``|activation| < near_zero``. Only forward passes in training mode are recorded, so
    validation does not mix in (``train_only=False`` records every pass).
    """

    def __init__(self, model: nn.Module, modules=None, bins: int = 40,
                 hist_range: tuple[float, float] = (0.0, 10.0), near_zero: float = 0.05,
                 train_only: bool = True) -> None:
        self.model = model
        self.named_modules = self._pick(model, modules)
        if not self.named_modules:
            raise ValueError("modules selects no layer of the model: give modules=[...] or a "
                             "layer class that the model contains, e.g. nn.Conv2d")
        self.bins, self.hist_range = bins, hist_range
        self.near_zero, self.train_only = near_zero, train_only
        self.layers = [LayerStats(name) for name, _ in self.named_modules]
        self.hooks: Hooks | None = None

    @staticmethod
    def _pick(model: nn.Module, modules) -> list[tuple[str, nn.Module]]:
        if modules is None:
            return conv_layers(model)
        if isinstance(modules, type):
            return [(n, m) for n, m in model.named_modules() if isinstance(m, modules) and n]
        names = {id(m): n for n, m in model.named_modules()}
        picked = []
        for item in modules:
            if isinstance(item, tuple):
                picked.append(item)
            elif isinstance(item, nn.Module):
                picked.append((names.get(id(item), type(item).__name__), item))
            else:
                raise ValueError(f"modules must hold nn.Module or (name, module) items, "
                                 f"got {type(item).__name__}")
        return picked

    # -- attaching and removing -------------------------------------------------------------

    def attach(self) -> ActivationStats:
        if self.hooks is None:
            modules = [m for _, m in self.named_modules]
            index = {id(m): i for i, m in enumerate(modules)}
            self.hooks = Hooks(modules, lambda hook, mod, inp, out: self._record(
                index[id(mod)], mod, out))
        return self

    def remove(self) -> None:
        if self.hooks is not None:
            self.hooks.remove()
            self.hooks = None

    def __enter__(self) -> ActivationStats:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()

    def before_fit(self) -> None:
        self._attached_by_fit = self.hooks is None
        self.attach()

    def after_fit(self) -> None:
        if getattr(self, "_attached_by_fit", False):
            self.remove()

    # -- recording ----------------------------------------------------------------------------

    def _record(self, i: int, module: nn.Module, output: torch.Tensor) -> None:
        if self.train_only and not module.training:
            return
        with torch.no_grad():
            x = output.detach().float()
            size = x.abs()
            stats = self.layers[i]
            stats.means.append(x.mean().item())
            stats.stds.append(x.std().item() if x.numel() > 1 else 0.0)
            stats.near_zero.append((size < self.near_zero).float().mean().item())
            low, high = self.hist_range
            stats.hists.append(torch.histc(size, self.bins, low, high).cpu())

    # -- reading --------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.layers]

    def __getitem__(self, key: int | str) -> LayerStats:
        if isinstance(key, str):
            for s in self.layers:
                if s.name == key:
                    return s
            raise KeyError(f"no layer named {key!r}; the layers are {self.names}")
        return self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        n = len(self.layers[0].means) if self.layers else 0
        state = "attached" if self.hooks is not None else "detached"
        return f"ActivationStats({self.names}, {n} batches recorded, {state})"
