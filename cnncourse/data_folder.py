"""Where MNIST is looked for, without importing torch: the sandbox and the ``cnncourse``
command need the folder before any tensor exists (``import torch`` takes about 2 s)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CNNCOURSE_DATA"


def default_root() -> Path:
    """``$CNNCOURSE_DATA`` if set, else the per-user cache folder ``.../cnncourse/mnist``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnncourse")) / "mnist"
