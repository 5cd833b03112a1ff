"""``python -m clvmodels`` and the ``clvmodels`` console script: the batch command line.

The commands live in :mod:`clvmodels.cli`.
"""

from __future__ import annotations

import sys

from clvmodels.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
