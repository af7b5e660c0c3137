"""The local Event Hub: Auth0, the events API and EventBridge on 127.0.0.1.

Nobody needs AWS or Auth0 credentials to develop against tfso-events or to test it::

    from tfso_events.local import LocalHub

    async with LocalHub() as hub:
        ...  # point a publisher at hub.url
        print(hub.received())

From a shell, ``tfso-events hub`` starts one on port 8642 and prints how to point both
publishers at it; ``tfso-events tail`` follows what arrives. See ``docs/local-hub.md``.
"""

from __future__ import annotations

from tfso_events.local._faults import Faults
from tfso_events.local._hub import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOKEN_TTL,
    LocalHub,
)
from tfso_events.local._store import ReceivedEvent

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TOKEN_TTL",
    "Faults",
    "LocalHub",
    "ReceivedEvent",
]
