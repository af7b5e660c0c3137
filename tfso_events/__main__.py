"""``python -m tfso_events``: the ``tfso-events`` command, for when the script is not on PATH."""

from __future__ import annotations

import sys

from tfso_events.cli import main

if __name__ == "__main__":
    sys.exit(main())
