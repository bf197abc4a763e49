"""The lessons' claims on the offline fallback (the synthetic digits), at 1 and 2 threads: the
same check as ``test_claims.py`` runs on MNIST."""

from __future__ import annotations

import pytest

from .test_claims import EXPERIMENTS, THREADS, check_every_claim


@pytest.mark.slow
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_claim_holds_for_three_seeds_offline(name, threads, tmp_path, monkeypatch):
    check_every_claim(name, "offline", threads, tmp_path, monkeypatch)
