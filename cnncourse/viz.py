"""Pictures of what the engine computed: schedules, losses, activation statistics, images.

Every function returns a matplotlib ``Figure`` and never calls ``plt.show()``: a notebook shows
the returned figure once; a script can ``fig.savefig(...)``. The figures are detached from
pyplot's list of open figures, so drawing many of them in a loop does not pile up memory.
Pass ``fig=`` to draw into an existing figure again (it is cleared first).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import make_grid

from ._checks import first_line
from .callbacks import Recorder
from .hooks import ActivationStats, Hooks, conv_layers, evaluating

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """A cleared ``fig``, or a new figure that pyplot does not keep track of."""
    if fig is not None:
        fig.clear()
        return fig
    fig = plt.figure(figsize=figsize)
    plt.close(fig)  # pyplot forgets it; the returned object still draws and displays
    return fig


def _need_steps(recorder: Recorder) -> None:
    if not isinstance(recorder, Recorder):
        raise ValueError(f"recorder must be a Learner's recorder, got {type(recorder).__name__}")
    if not recorder.lrs:
        raise ValueError("the recorder is empty: train first, e.g. learn.fit_one_cycle(1, 0.06)")


def plot_schedule(recorder: Recorder, fig: Figure | None = None) -> Figure:
    """Learning rate (and momentum, if any) per step, with the warm-up shaded."""
    _need_steps(recorder)
    steps = range(len(recorder.lrs))
    moms = [m for m in recorder.moms if m is not None]
    fig = _figure(fig, (8, 5 if moms else 3))
    axes = fig.subplots(2 if moms else 1, 1, sharex=True, squeeze=False)[:, 0]
    peak = max(range(len(recorder.lrs)), key=recorder.lrs.__getitem__)
    axes[0].plot(steps, recorder.lrs, color="tab:blue")
    axes[0].set_ylabel("learning rate")
    if moms:
        axes[1].plot(steps, recorder.moms, color="tab:orange")
        axes[1].set_ylabel("momentum")
    for ax in axes:
        if 0 < peak < len(recorder.lrs) - 1:
            ax.axvspan(0, peak, color="tab:gray", alpha=0.12)
            ax.axvline(peak, color="gray", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    if 0 < peak < len(recorder.lrs) - 1:
        axes[0].text(peak / 2, 0.02, "warm-up", transform=axes[0].get_xaxis_transform(),
                     ha="center", va="bottom", color="dimgray")
        axes[0].text((peak + len(recorder.lrs)) / 2, 0.02, "annealing",
                     transform=axes[0].get_xaxis_transform(), ha="center", va="bottom",
                     color="gray")
    axes[-1].set_xlabel("step (batch)")
    fig.suptitle("Learning-rate schedule")
    return fig


def _smooth(values: Sequence[float], beta: float = 0.9) -> list[float]:
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def plot_losses(recorder: Recorder, fig: Figure | None = None) -> Figure:
    """Training loss per step (raw and smoothed) with the validation loss at each epoch's end;
    beside it, training and validation accuracy per epoch."""
    _need_steps(recorder)
    fig = _figure(fig, (10, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    steps = range(len(recorder.losses))
    ax_loss.plot(steps, recorder.losses, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax_loss.plot(steps, _smooth(recorder.losses), color="tab:blue", label="train (smoothed)")
    ends = [(i + 1) * recorder.steps_per_epoch - 1 for i in range(len(recorder.valid_loss))]
    if ends:
        ax_loss.plot(ends, recorder.valid_loss, "o-", color="tab:orange", label="valid")
    ax_loss.set(xlabel="step (batch)", ylabel="loss", title="Loss")
    ax_loss.legend()
    epochs = range(1, len(recorder.valid_accuracy) + 1)
    if recorder.valid_accuracy:
        ax_acc.plot(epochs, recorder.train_accuracy, "o-", color="tab:blue", label="train")
        ax_acc.plot(epochs, recorder.valid_accuracy, "o-", color="tab:orange", label="valid")
        ax_acc.legend()
    else:
        ax_acc.text(0.5, 0.5, "no finished epoch yet", ha="center", va="center",
                    transform=ax_acc.transAxes)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _need_stats(stats: ActivationStats) -> None:
    if not isinstance(stats, ActivationStats):
        raise ValueError(f"stats must be an ActivationStats, got {type(stats).__name__}")
    if not stats.layers[0].means:
        raise ValueError("no batch recorded yet: train inside `with ActivationStats(model):`")


def plot_layer_stats(stats: ActivationStats, fig: Figure | None = None) -> Figure:
    """Mean, standard deviation and fraction near zero of each layer's output, per batch."""
    _need_stats(stats)
    fig = _figure(fig, (12, 3.5))
    axes = fig.subplots(1, 3)
    for layer in stats:
        axes[0].plot(layer.means, label=layer.name)
        axes[1].plot(layer.stds, label=layer.name)
        axes[2].plot(layer.near_zero, label=layer.name)
    titles = ("mean", "standard deviation", f"fraction near zero (|x| < {stats.near_zero:g})")
    for ax, title in zip(axes, titles, strict=True):
        ax.set(title=title, xlabel="batch")
        ax.grid(alpha=0.3)
    axes[2].set_ylim(0, 1)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def color_dim(stats: ActivationStats, fig: Figure | None = None) -> Figure:
    """fastai's "colorful dimension": for each layer, the histogram of activation sizes of every
    batch as one column (log scale, bright = many), small sizes at the bottom. Healthy training
    spreads smoothly; collapse and jumps show as dark gaps and bright bottom bands."""
    _need_stats(stats)
    n = len(stats)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = _figure(fig, (4 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    low, high = stats.hist_range
    for ax, layer in zip(axes, stats, strict=False):
        image = layer.hist_matrix().log1p()
        ax.imshow(image.numpy(), origin="lower", aspect="auto", cmap="viridis",
                  extent=(0, image.shape[1], low, high))
        ax.set(title=layer.name, xlabel="batch", ylabel="|activation|")
    for ax in axes[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _as_image_batch(images: torch.Tensor) -> torch.Tensor:
    """uint8 or float images ``[N, H, W]``, ``[N, C, H, W]`` or one ``[H, W]`` -> float
    ``[N, C, H, W]`` in 0..1 (floats are rescaled from their own min..max)."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a tensor [N, H, W] or [N, C, H, W], "
                         f"got {type(images).__name__}")
    x = images.detach().cpu()
    if x.dim() == 2:
        x = x[None]
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape [N, H, W], [N, 1, H, W] or [N, 3, H, W], "
                         f"got {tuple(images.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255
    x = x.float()
    return (x - x.min()) / (x.max() - x.min()).clamp_min(1e-8)


def show_images(images: torch.Tensor, labels: Sequence | torch.Tensor | None = None,
                nrow: int = 8, max_images: int = 64, fig: Figure | None = None) -> Figure:
    """A grid of images (torchvision's ``make_grid``), each captioned with its label if given."""
    x = _as_image_batch(images)[:max_images]
    if labels is not None and len(labels) < len(x):
        raise ValueError(f"labels has {len(labels)} entries for {len(x)} images: give one per "
                         "image")
    nrow = max(1, min(nrow, len(x)))
    pad = 2
    grid = make_grid(x, nrow=nrow, padding=pad, pad_value=1.0)
    rows = -(-len(x) // nrow)
    h, w = x.shape[2:]
    fig = _figure(fig, (1.1 * nrow, 1.25 * rows + 0.2))
    ax = fig.subplots()
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    if labels is not None:
        for i in range(len(x)):
            r, c = divmod(i, nrow)
            label = labels[i].item() if isinstance(labels[i], torch.Tensor) else labels[i]
            ax.text(pad + c * (w + pad), pad + r * (h + pad), str(label), color="yellow",
                    fontsize=9, va="top", ha="left",
                    bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "linewidth": 0})
    fig.tight_layout()
    return fig


def show_feature_maps(model: nn.Module, image: torch.Tensor, layers=None, max_maps: int = 16,
                      mean: float = MNIST_MEAN, std: float = MNIST_STD,
                      fig: Figure | None = None) -> Figure:
    """The input and what each watched layer makes of it: one row per layer, up to
    ``max_maps`` channels each (every map scaled to its own range, bright = high).

    ``image``: uint8 ``[H, W]`` (normalised with ``mean`` and ``std``, MNIST's by default) or
    an already normalised float ``[C, H, W]``. ``layers``: ``(name, module)`` pairs; default
    ``hooks.conv_layers(model)``, for ``simple_cnn`` the output of every block.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != (
            2 if image.dtype == torch.uint8 else 3):
        raise ValueError("image must be one image: uint8 [H, W] (pixels 0-255) or a "
                         "normalised float [C, H, W]")
    if image.dtype == torch.uint8:
        x = ((image.float() / 255 - mean) / std)[None]
    else:
        x = image.float()
    named = list(layers) if layers is not None else conv_layers(model)
    if not named:
        raise ValueError("the model has no convolution to show: pass layers=[(name, module)]")
    outputs: dict[int, torch.Tensor] = {}
    index = {id(m): i for i, (_, m) in enumerate(named)}
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        with evaluating(model), Hooks([m for _, m in named], lambda h, mod, i, out: (
                outputs.__setitem__(index[id(mod)], out.detach()[0].cpu()))), torch.no_grad():
            model(x[None].to(device))
    except RuntimeError as err:
        raise ValueError(f"the model cannot take an image of shape {tuple(x.shape)}: "
                         f"{first_line(err)}") from None
    fig = _figure(fig, (1.0 * max_maps + 1.5, 1.2 * (len(named) + 1)))
    axes = fig.subplots(len(named) + 1, 1, squeeze=False)[:, 0]
    cmap = plt.get_cmap("magma").with_extremes(bad="white")  # white gaps between maps
    axes[0].imshow(_as_image_batch(x)[0, 0].numpy(), cmap="gray")
    axes[0].set_title("input", fontsize=9, loc="left")
    for ax, (i, (name, _)) in zip(axes[1:], enumerate(named), strict=True):
        maps = outputs.get(i)
        if maps is None or maps.dim() != 3:
            ax.text(0.01, 0.5, f"{name}: no 2-d output", transform=ax.transAxes)
        else:
            shown = maps[:max_maps, None]
            # maps with several pixels: each to its own range; 1x1 maps: the layer's range
            dims = (2, 3) if shown[0].numel() > 1 else (0, 1, 2, 3)
            low = shown.amin(dim=dims, keepdim=True)
            high = shown.amax(dim=dims, keepdim=True)
            scaled = (shown - low) / (high - low).clamp_min(1e-8)
            grid = make_grid(scaled, nrow=max_maps, padding=1, pad_value=float("nan"))
            ax.imshow(grid[0].numpy(), cmap=cmap, interpolation="nearest", vmin=0, vmax=1)
            ax.set_title(f"{name}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}"
                         + (f" (first {max_maps})" if maps.shape[0] > max_maps else ""),
                         fontsize=9, loc="left")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
