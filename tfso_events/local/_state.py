"""What every endpoint of one hub shares: tokens, store, faults, limits and counters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tfso_events.local._bus import Bus
from tfso_events.local._faults import Faults
from tfso_events.local._store import EventStore
from tfso_events.local._tokens import TokenIssuer

__all__ = ["HubState"]


@dataclass
class HubState:
    """The hub's state; counters are plain ints (one event loop writes them)."""

    tokens: TokenIssuer
    store: EventStore
    faults: Faults
    max_request_bytes: int
    strict: bool
    bus: Bus
    token_attempts: int = 0
    token_requests: int = 0
    api_requests: int = 0
    put_events_calls: int = 0

    async def delay(self) -> None:
        """Wait ``faults.latency`` seconds, if any."""
        latency = self.faults.latency
        if latency > 0:
            await asyncio.sleep(latency)
