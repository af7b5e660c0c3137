"""How many ``publish()`` calls a client holds at once; beyond it, ``publish()`` waits.

A service that calls ``publish()`` faster than the target accepts events (a slow
endpoint, an outage) would otherwise pile up entries, payloads and batches without
limit. :class:`PendingLimit` admits at most ``max_pending`` calls into the client; the
next ones wait, in order, before their event is even encoded, so the caller slows to
the target's pace (backpressure) and the client's memory stays bounded. A waiting call
keeps its retry deadline: when the client has had nothing accepted for that long, it
is reported failed without having been sent.

Pure Python (asyncio): importing it costs nothing at cold start.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from tfso_events.errors import DeliveryError

if TYPE_CHECKING:
    from tfso_events.publishing._batching import RetryPolicy
    from tfso_events.publishing._circuit import Circuit

__all__ = ["DEFAULT_MAX_PENDING", "PendingLimit"]

#: Default ``max_pending`` of both clients: ``publish()`` calls held at once (queued,
#: in flight or retrying); the next ones wait. About 2 KiB of the client's memory each,
#: plus the payload; far more than the 160 events in flight at the default concurrency.
DEFAULT_MAX_PENDING = 10_000


class PendingLimit:
    """At most ``limit`` holders at a time; the others wait in arrival order."""

    __slots__ = ("_free", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the pending limit must be at least 1")
        self.limit = limit
        self._free = asyncio.Semaphore(limit)

    @property
    def full(self) -> bool:
        """Whether the next :meth:`acquire` waits."""
        return self._free.locked()

    async def acquire(self, policy: RetryPolicy, circuit: Circuit, since: float) -> None:
        """Take a place, waiting for one under ``policy``'s deadline, counted like a
        publish's (from the later of ``since`` and the client's last progress, re-read
        while waiting). Raises :class:`~tfso_events.DeliveryError` (retryable, nothing
        sent) when it runs out first."""
        if not self._free.locked():
            await self._free.acquire()  # (returns at once)
            return
        budget = policy.deadline if policy.deadline is not None else math.inf
        while True:
            remaining = max(since, circuit.last_progress) + budget - time.monotonic()
            if remaining <= 0:
                raise DeliveryError(
                    f"gave up before it was sent: {self.limit} publishes were pending "
                    f"(max_pending) and the client had no event accepted for "
                    f"{policy.deadline:g} s (the retry deadline); last failure "
                    f"{circuit.last_failure or 'none: the target is slow'}",
                    code="RetryDeadline",
                    attempts=0,
                    retryable=True,
                )
            try:
                async with asyncio.timeout(remaining):
                    await self._free.acquire()
                return
            except TimeoutError:
                continue  # the client made progress meanwhile, perhaps: look again

    def release(self) -> None:
        """Give a place back."""
        self._free.release()
