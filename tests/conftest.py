"""Shared test set-up: hypothesis profiles, the MNIST folder and the headless browser."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
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


# ---- MNIST ------------------------------------------------------------------------------------

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


# ---- headless Chromium (one per test module, so each module's servers end with it) ----------

@pytest.fixture(scope="module")
def screenshots() -> Path:
    from .browser import artifacts_dir

    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}", file=sys.stderr)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM_FLAGS, chromium_path

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
