"""``python -m cnncourse``: the ``cnncourse`` command, for when its script is not on PATH."""

import sys

from cnncourse.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
