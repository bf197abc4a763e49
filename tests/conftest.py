"""Shared test set-up: hypothesis profiles and the MNIST folder."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# At least 200 examples for every property, in CI and locally alike; torch's first calls are
# slow, so no per-example deadline.
settings.register_profile(
    "default", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


# ---- MNIST fixtures (issue 3: data and training; owned by the training-engine helper) --------

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

MNIST_DIR = Path(os.environ.get("CNNCOURSE_DATA")
                 or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The folder with MNIST's test-set IDX files: ``$CNNCOURSE_DATA``, else
    ``../shared/data/mnist`` next to the repository. Tests using it skip when it is absent."""
    if not any((MNIST_DIR / name).is_file()
               for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte")):
        pytest.skip(f"MNIST test files not found in {MNIST_DIR} (set CNNCOURSE_DATA to their "
                    "folder)")
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist(mnist_root):
    """``load_mnist`` on that folder: 8,000 training and 2,000 validation images."""
    from cnncourse.data import load_mnist

    return load_mnist(mnist_root, download=False)


# ---- end of MNIST fixtures -------------------------------------------------------------------
