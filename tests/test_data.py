"""cnncourse.data: reading MNIST, the offline fallback, validation and in-memory batching."""

from __future__ import annotations

import gzip
import shutil
import socket
import warnings

import pytest
import torch

from cnncourse import data as data_mod
from cnncourse.data import (
    Batches,
    ImageData,
    load_digits_28,
    load_idx,
    load_mnist,
    normalize,
    random_shift,
)

MNIST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ----------------------------------------------------------------------------- the shared folder


def test_shared_folder_gives_the_8000_2000_split(mnist):
    assert mnist.train_x.shape == (8000, 28, 28) and mnist.train_x.dtype == torch.uint8
    assert mnist.valid_x.shape == (2000, 28, 28) and mnist.valid_x.dtype == torch.uint8
    assert mnist.train_y.shape == (8000,) and mnist.train_y.dtype == torch.int64
    assert mnist.valid_y.shape == (2000,) and mnist.valid_y.dtype == torch.int64
    labels = torch.cat([mnist.train_y, mnist.valid_y])
    assert labels.bincount(minlength=10).tolist() == MNIST_LABEL_COUNTS
    assert mnist.source.startswith("MNIST test set")
    assert "0-7,999 for training" in mnist.source and "8,000-9,999 for validation" in mnist.source
    assert 0.12 < mnist.mean < 0.14 and 0.29 < mnist.std < 0.32  # MNIST's known 0.1307, 0.3081


def test_load_idx_reads_gzipped_and_plain_files_alike(mnist_root, tmp_path):
    gz_images = mnist_root / "t10k-images-idx3-ubyte.gz"
    gz_labels = mnist_root / "t10k-labels-idx1-ubyte.gz"
    if not gz_images.is_file():
        pytest.skip("the shared folder holds no gzipped files")
    for src in (gz_images, gz_labels):
        with gzip.open(src, "rb") as fin, open(tmp_path / src.stem, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    x_gz, y_gz = load_idx(gz_images, gz_labels)
    x, y = load_idx(tmp_path / gz_images.stem, tmp_path / gz_labels.stem)
    assert torch.equal(x, x_gz) and torch.equal(y, y_gz)
    assert x.shape == (10000, 28, 28) and y.bincount().tolist() == MNIST_LABEL_COUNTS
    # a folder of uncompressed t10k files is found and split the same way
    again = load_mnist(tmp_path, download=False)
    assert len(again.train_x) == 8000 and torch.equal(again.valid_y, y[8000:])


def test_environment_variable_is_the_default_root(mnist_root, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_DATA", str(mnist_root))
    assert data_mod.default_root() == mnist_root
    loaded = load_mnist(download=False)
    assert len(loaded.train_x) == 8000 and str(mnist_root) in loaded.source


def test_images_and_labels_files_must_match(mnist_root, tmp_path):
    labels = tmp_path / "short-labels-idx1-ubyte"
    labels.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))  # an IDX file of 3 labels
    with pytest.raises(ValueError, match="matching pair"):
        load_idx(mnist_root / "t10k-images-idx3-ubyte.gz", labels)


def test_a_file_that_is_not_idx_is_a_value_error(tmp_path):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"this is not an IDX file at all")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        load_idx(bad, bad)
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "missing", tmp_path / "missing")


def test_root_that_is_a_file_is_rejected(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match="root must be a folder"):
        load_mnist(not_a_folder, download=False)


# ----------------------------------------------------------------------------- offline fallback


def _check_digits(loaded: ImageData) -> None:
    assert len(loaded.train_x) + len(loaded.valid_x) == 1797
    assert loaded.train_x.shape[1:] == (28, 28) and loaded.train_x.dtype == torch.uint8
    assert int(loaded.train_x.max()) == 255 and int(loaded.train_x.min()) == 0
    assert set(loaded.train_y.tolist()) == set(range(10))
    assert "digits" in loaded.source


def test_fallback_with_empty_cache_and_download_off(tmp_path):
    with pytest.warns(UserWarning, match="digits"):
        loaded = load_mnist(tmp_path, download=False)
    _check_digits(loaded)
    assert "download=False" in loaded.source


def test_fallback_when_the_network_refuses(tmp_path, monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    before = socket.getdefaulttimeout()
    with pytest.warns(UserWarning, match="digits"):
        loaded = load_mnist(tmp_path / "cache", download=True, timeout=1.0)
    _check_digits(loaded)
    assert calls, "the download was not even attempted"
    assert "download failed" in loaded.source
    assert socket.getdefaulttimeout() == before  # the short timeout was only temporary


def test_download_goes_through_torchvision_into_the_root(mnist_root, tmp_path, monkeypatch):
    """With a network, torchvision's MNIST downloads into root/MNIST/raw and that is read."""
    import torchvision.datasets

    created = []

    class FakeMNIST:  # stands in for the network: "downloads" the shared test files
        mirrors = ["https://example.invalid/mnist/"]

        def __init__(self, root, train=True, download=False):
            created.append((root, train, download))
            raw = tmp_path / "cache" / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
                with gzip.open(mnist_root / f"{name}.gz", "rb") as fin, \
                        open(raw / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    monkeypatch.setattr(data_mod, "_can_connect", lambda url, timeout: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_mnist(tmp_path / "cache", download=True)
    assert created and all(download for _, _, download in created)
    assert len(loaded.train_x) == 8000 and loaded.source.startswith("MNIST test set")


def test_digits_are_framed_like_mnist():
    digits = load_digits_28()
    _check_digits(digits)
    border = torch.cat([digits.train_x[:, :4].flatten(), digits.train_x[:, -4:].flatten()])
    assert int(border.max()) == 0  # a 4-pixel empty frame around a 20x20 digit, as in MNIST
    assert load_digits_28(seed=0).train_y.tolist() == digits.train_y.tolist()


# ----------------------------------------------------------------------------- validation


def _images(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)


@pytest.mark.parametrize("images, labels, message", [
    (torch.rand(6, 28, 28), torch.zeros(6, dtype=torch.int64), "uint8"),
    (torch.zeros(6, 784, dtype=torch.uint8), torch.zeros(6, dtype=torch.int64), r"\[N, H, W\]"),
    (_images(0), torch.zeros(0, dtype=torch.int64), "empty"),
    (_images(), torch.zeros(6, dtype=torch.int32), "int64"),
    (_images(), torch.zeros(5, dtype=torch.int64), "one label per image"),
    (_images(), torch.tensor([0, 1, 2, 3, 4, 10]), r"0\.\.9"),
    (_images(), torch.tensor([0, 1, 2, 3, 4, -1]), r"0\.\.9"),
])
def test_image_data_says_what_it_expected(images, labels, message):
    good_x, good_y = _images(), torch.arange(6)
    with pytest.raises(ValueError, match=message):
        ImageData(images, labels, good_x, good_y)
    with pytest.raises(ValueError, match=message):
        ImageData(good_x, good_y, images, labels)


def test_image_sizes_must_agree():
    with pytest.raises(ValueError, match="same size"):
        ImageData(_images(), torch.arange(6),
                  torch.zeros(6, 32, 32, dtype=torch.uint8), torch.arange(6))


# ----------------------------------------------------------------------------- batching


def test_normalize_uses_the_0_1_scale():
    x = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    out = normalize(x, mean=0.2, std=0.5)
    assert out.shape == (1, 1, 2, 2) and out.dtype == torch.float32
    expected = (torch.tensor([[0.0, 1.0], [0.2, 0.4]]) - 0.2) / 0.5
    torch.testing.assert_close(out[0, 0], expected)


def test_shuffled_batches_visit_each_image_at_most_once_per_pass():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1).expand(10, 2, 2).contiguous()
    labels = torch.arange(10)
    batches = Batches(images, labels, batch_size=4, mean=0.0, std=1.0, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
    assert len(batches) == 2  # the incomplete last batch is dropped while training
    seen = torch.cat([y for _, y in batches])
    assert len(seen) == 8 and len(set(seen.tolist())) == 8
    for xb, yb in batches:
        assert xb.shape == (4, 1, 2, 2)
        torch.testing.assert_close(xb[:, 0, 0, 0], yb.float() / 255)  # images follow labels
    orders = [torch.cat([y for _, y in batches]).tolist() for _ in range(3)]
    assert orders[0] != orders[1] or orders[1] != orders[2]  # a new order every pass


def test_unshuffled_batches_cover_everything_in_order():
    labels = torch.arange(10)
    batches = Batches(torch.zeros(10, 3, 3, dtype=torch.uint8), labels, batch_size=4,
                      mean=0.0, std=1.0)
    assert len(batches) == 3
    assert torch.cat([y for _, y in batches]).tolist() == list(range(10))


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        Batches(_images(), torch.arange(6), batch_size=0, mean=0.0, std=1.0)


# ----------------------------------------------------------------------------- augmentation


def test_random_shift_moves_each_image_within_the_limit():
    torch.manual_seed(0)
    images = torch.rand(32, 1, 8, 8) + 1.0  # no pixel equals the fill value
    out = random_shift(images, max_shift=2, fill=-1.0,
                       generator=torch.Generator().manual_seed(1))
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    offsets = set()
    for i in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])]
        assert len(matches) == 1, f"image {i} is not a shifted copy"
        offsets.add(matches[0])
    assert len(offsets) > 5  # different images get different offsets


def test_random_shift_is_repeatable_and_zero_is_identity():
    images = torch.rand(4, 1, 6, 6)
    a = random_shift(images, 1, 0.0, torch.Generator().manual_seed(3))
    b = random_shift(images, 1, 0.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert random_shift(images, 0) is images
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        random_shift(torch.rand(6, 6), 1)


def test_no_warning_when_mnist_is_there(mnist_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mnist(mnist_root, download=False)
