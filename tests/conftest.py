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
