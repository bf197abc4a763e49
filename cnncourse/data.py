"""Digits for the course: MNIST held in memory as one uint8 tensor, batched by indexing.

Where the images come from (``load_mnist``), in this order:

1. a folder: the ``root`` argument, else the environment variable ``CNNCOURSE_DATA``, else a
   per-user cache folder. Full MNIST there gives 60,000 training and 10,000 validation images;
   only the 10,000-image test files (``t10k-*``) give images 0-7,999 for training and
   8,000-9,999 for validation.
2. a download into that folder with ``torchvision.datasets.MNIST`` (when ``download=True``).
3. with no MNIST anywhere and no network: scikit-learn's bundled 8x8 digits, resized to 28x28,
   so every lesson still runs. A warning and ``data.source`` say so.

Training never goes through PIL or a DataLoader: ``Batches`` picks rows of the uint8 tensor and
turns only that batch into normalised floats, on the device. That is where the speed comes from.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ._checks import first_line
from .data_folder import ENV_VAR, default_root

TRAIN_PREFIX = "train"
TEST_PREFIX = "t10k"
VALID_FRACTION = 0.2  # a single image set is split 80 % training, 20 % validation


# ----------------------------------------------------------------------------- the data object


@dataclass(repr=False, eq=False)
class ImageData:
    """Training and validation images (uint8 ``[N, H, W]``) with int64 labels ``[N]``.

    ``source`` is a one-line description of where the images came from; ``name`` is
    ``"MNIST"``, ``"digits"`` (the offline fallback) or whatever a caller sets.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    source: str = ""
    name: str = ""
    classes: tuple[str, ...] = tuple("0123456789")
    _stats: tuple[float, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        n_classes = len(self.classes)
        check_images_labels(self.train_x, self.train_y, "train_x", "train_y", n_classes)
        check_images_labels(self.valid_x, self.valid_y, "valid_x", "valid_y", n_classes)
        if self.train_x.shape[1:] != self.valid_x.shape[1:]:
            raise ValueError(
                f"train_x and valid_x must hold images of the same size, got "
                f"{tuple(self.train_x.shape[1:])} and {tuple(self.valid_x.shape[1:])}"
            )

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image as the model sees it."""
        shape = tuple(self.train_x.shape[1:])
        return (1, *shape) if len(shape) == 2 else shape  # type: ignore[return-value]

    @property
    def mean(self) -> float:
        """Mean pixel value of the training images, on the 0-1 scale."""
        return self._mean_std()[0]

    @property
    def std(self) -> float:
        """Standard deviation of the training pixels, on the 0-1 scale."""
        return self._mean_std()[1]

    def _mean_std(self) -> tuple[float, float]:
        if self._stats is None:
            pixels = self.train_x.float() / 255
            self._stats = (pixels.mean().item(), pixels.std().item() or 1.0)
        return self._stats

    def __repr__(self) -> str:
        return (
            f"ImageData({len(self.train_x):,} training and {len(self.valid_x):,} validation "
            f"images of {'x'.join(map(str, self.train_x.shape[1:]))}, {self.n_classes} classes; "
            f"source: {self.source})"
        )


def check_images_labels(images: object, labels: object, images_name: str, labels_name: str,
                        n_classes: int) -> None:
    """Raise ``ValueError`` unless ``images`` is uint8 ``[N, H, W]`` (or ``[N, C, H, W]``) and
    ``labels`` int64 ``[N]`` with values in ``0 .. n_classes-1``."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"{images_name} must be a uint8 tensor of images [N, H, W] with pixels 0-255, got "
            f"{got}"
        )
    if images.dim() not in (3, 4):
        raise ValueError(
            f"{images_name} must have shape [N, H, W] or [N, C, H, W], got {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise ValueError(f"{images_name} is empty: at least one image is needed")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
        got = (f"{labels.dtype} of shape {tuple(labels.shape)}"
               if isinstance(labels, torch.Tensor) else type(labels).__name__)
        raise ValueError(f"{labels_name} must be an int64 tensor of shape [N], got {got}")
    if len(labels) != len(images):
        raise ValueError(
            f"{labels_name} has {len(labels)} labels but {images_name} has {len(images)} images:"
            " there must be one label per image"
        )
    low, high = labels.min().item(), labels.max().item()
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"{labels_name} must lie in 0..{n_classes - 1} for {n_classes} classes, "
            f"got values from {low} to {high}"
        )


# ----------------------------------------------------------------------------- batching


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 images ``[B, H, W]`` or ``[B, C, H, W]`` -> floats ``[B, C, H, W]``.

    Each pixel becomes ``(x / 255 - mean) / std``.
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return (images.float() / 255 - mean) / std


class Batches:
    """Mini-batches of ``(normalised images, labels)`` straight from in-memory tensors.

    The uint8 images are moved to ``device`` once; each batch is an index selection converted
    to float there. ``shuffle=True`` draws a new order every pass (from ``generator``, for
    repeatable runs) and drops a last incomplete batch, as training loops usually do.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 mean: float, std: float, shuffle: bool = False,
                 device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.mean, self.std = batch_size, mean, std
        self.shuffle, self.generator = shuffle, generator

    def __len__(self) -> int:
        n = len(self.images)
        if self.shuffle:
            return max(n // self.batch_size, 1)
        return -(-n // self.batch_size)  # ceiling division

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, bs = len(self.images), self.batch_size
        if not self.shuffle:
            for start in range(0, n, bs):
                yield (normalize(self.images[start:start + bs], self.mean, self.std),
                       self.labels[start:start + bs])
            return
        order = torch.randperm(n, generator=self.generator).to(self.images.device)
        for i in range(len(self)):
            idx = order[i * bs:(i + 1) * bs]
            yield normalize(self.images[idx], self.mean, self.std), self.labels[idx]


def random_shift(images: torch.Tensor, max_shift: int = 1, fill: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Move every image of a batch ``[B, C, H, W]`` by its own random whole-pixel offset, from
    ``-max_shift`` to ``max_shift`` in each direction; the uncovered border gets ``fill``.

    A cheap data augmentation: the network sees slightly different digits every epoch.
    """
    if images.dim() != 4:
        raise ValueError(f"images must have shape [B, C, H, W], got {tuple(images.shape)}")
    if max_shift == 0:
        return images
    b, c, h, w = images.shape
    p = max_shift
    padded = F.pad(images, (p, p, p, p), value=fill)
    # every shifted copy at once, as a view [B, C, 2p+1, 2p+1, H, W]; then pick one per image
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(images.device)
    return windows[torch.arange(b, device=images.device), :, dy, dx]


# ----------------------------------------------------------------------------- IDX files


def _read_maybe_gzipped(path: Path, reader) -> torch.Tensor:
    """Run torchvision's IDX ``reader`` on ``path``; a ``.gz`` file is unpacked to a temp file."""
    if not path.is_file():
        raise FileNotFoundError(f"no such IDX file: {path}")
    try:
        if path.suffix != ".gz":
            return reader(str(path))
        with tempfile.TemporaryDirectory(prefix="cnncourse-") as tmp:
            plain = Path(tmp) / path.stem
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return reader(str(plain))
    except (AssertionError, TypeError, ValueError, RuntimeError, OSError, IndexError) as err:
        raise ValueError(f"{path} is not a readable IDX file of the expected kind: {err}") from err


def load_idx(images_path: str | os.PathLike, labels_path: str | os.PathLike,
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an IDX image file and its label file (gzipped or not).

    Returns uint8 images ``[N, H, W]`` and int64 labels ``[N]``.
    """
    from torchvision.datasets.mnist import read_image_file, read_label_file  # slow import

    images = _read_maybe_gzipped(Path(images_path), read_image_file)
    labels = _read_maybe_gzipped(Path(labels_path), read_label_file)
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels: they must be a matching pair"
        )
    return images, labels


def _find_pair(root: Path, prefix: str) -> tuple[Path, Path] | None:
    """The ``<prefix>-images`` / ``<prefix>-labels`` IDX pair in ``root`` (or torchvision's
    ``root/MNIST/raw``), gzipped or not, or ``None``."""
    for folder in (root, root / "MNIST" / "raw"):
        found = []
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{prefix}-{kind}"
            hits = [folder / n for n in (name, name + ".gz") if (folder / n).is_file()]
            found.append(hits[0] if hits else None)
        if all(found):
            return found[0], found[1]
    return None


# ----------------------------------------------------------------------------- MNIST


def _split(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    n_train = round(len(images) * (1 - VALID_FRACTION))
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def _from_folder(root: Path) -> ImageData | None:
    train, test = _find_pair(root, TRAIN_PREFIX), _find_pair(root, TEST_PREFIX)
    if train and test:
        tx, ty = load_idx(*train)
        vx, vy = load_idx(*test)
        return ImageData(tx, ty, vx, vy, name="MNIST", source=(
            f"MNIST from {root}: {len(tx):,} training images, and the {len(vx):,} test images "
            "for validation"))
    if test or train:
        x, y = load_idx(*(test or train))
        tx, ty, vx, vy = _split(x, y)
        which = "test" if test else "training"
        return ImageData(tx, ty, vx, vy, name="MNIST", source=(
            f"MNIST {which} set from {root} ({len(x):,} images): images 0-{len(tx) - 1:,} for "
            f"training, {len(tx):,}-{len(x) - 1:,} for validation"))
    return None


def _can_connect(url: str, timeout: float) -> bool:
    """Whether the host of ``url`` answers within ``timeout`` seconds. The name look-up runs in
    a background thread, because a stuck DNS server ignores socket timeouts."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    port = 443 if url.startswith("https") else 80
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer) and answer[0]


def _download(root: Path, timeout: float) -> None:
    """Download MNIST into ``root/MNIST/raw`` with torchvision; every connection gives up after
    ``timeout`` seconds, so no network means a quick error, not a hang."""
    from torchvision.datasets import MNIST

    if not _can_connect(MNIST.mirrors[0], timeout):  # torchvision's first mirror
        raise ConnectionError(f"cannot reach {MNIST.mirrors[0]} (offline?)")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        MNIST(str(root), train=True, download=True)
        MNIST(str(root), train=False, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def download_mnist(root: str | os.PathLike | None = None, timeout: float = 5.0) -> ImageData:
    """Make sure ``root`` holds all of MNIST, training and test files, downloading what is
    missing, and load it. Raises ``ConnectionError`` (or the download's own error) when that
    fails; files already there are kept."""
    folder = Path(root).expanduser() if root is not None else default_root()
    if not (_find_pair(folder, TRAIN_PREFIX) and _find_pair(folder, TEST_PREFIX)):
        _download(folder, timeout)
    data = _from_folder(folder)
    if data is None:
        raise FileNotFoundError(f"the download left no MNIST files in {folder}")
    return data


def load_mnist(root: str | os.PathLike | None = None, download: bool = True,
               timeout: float = 5.0) -> ImageData:
    """MNIST as an ``ImageData`` with ``train_x, train_y, valid_x, valid_y`` and ``source``.

    ``root``: a folder with MNIST's IDX files (default ``$CNNCOURSE_DATA``, else a per-user
    cache). Missing files are downloaded there when ``download`` is true; ``timeout`` (seconds)
    bounds each network wait. With no MNIST anywhere, scikit-learn's 8x8 digits stand in, with a
    warning.
    """
    folder = Path(root).expanduser() if root is not None else default_root()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"root must be a folder, but {folder} is a file")
    data = _from_folder(folder)
    if data is not None:
        return data
    reason = f"no MNIST files in {folder}"
    if download:
        try:
            return download_mnist(folder, timeout)
        except Exception as err:  # any network or disk failure leads to the fallback
            reason += f" and the download failed ({first_line(err)})"
    else:
        reason += " and download=False"
    data = load_digits_28()
    data.source += f"; MNIST was not available: {reason}"
    warnings.warn(
        f"Using scikit-learn's 1,797 small digits instead of MNIST: {reason}. Put MNIST's IDX "
        f"files in a folder and pass it as root= or set {ENV_VAR}.",
        stacklevel=2,
    )
    return data


def load_digits_28(seed: int = 0) -> ImageData:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, no network needed), scaled
    up like MNIST: each digit resized to 20x20 and centred in a 28x28 frame, pixels 0-255.
    A fixed shuffle (``seed``) then 80 % training, 20 % validation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # 0..1
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    framed = F.pad(big, (4, 4, 4, 4)).squeeze(1)
    images = (framed.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    tx, ty, vx, vy = _split(images[order], labels[order])
    return ImageData(tx, ty, vx, vy, name="digits", source=(
        f"scikit-learn's 8x8 handwritten digits resized to 28x28 ({len(tx):,} training, "
        f"{len(vx):,} validation images)"))
