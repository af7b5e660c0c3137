"""``python -m tfso_events.cli``: the ``tfso-events`` command."""

from __future__ import annotations

import sys

from tfso_events.cli import main

if __name__ == "__main__":
    sys.exit(main())
