"""Helpers for the reliability suite: numbered events whose arrival can be counted one
by one in the hub's store, publishers pointed at a hub, and leak checks (tasks, threads,
sessions)."""

from __future__ import annotations

import asyncio
import collections
import gc
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tfso_events import RetryPolicy, TfsoEventApiClient
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub, ReceivedEvent
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)

#: Quick retries: the faults are injected on loopback, waiting longer proves nothing.
QUICK = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.05)


def marked(tag: str, n: int) -> BankTestCreatedV1Event:
    """A valid event whose ``first_name`` is ``"{tag}-{n}"``: its mark in the store."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=f"{tag}-{n}",
                last_name="Soak",
                favorite_color=BankTestCreatedV1FavoriteColor.Blue,
                registration_date=datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
            ),
            timestamp=datetime(2024, 2, 29, 12, 0, 1, tzinfo=UTC),
        )
    )


def mark_of(record: ReceivedEvent) -> str:
    """The mark (``first_name``) of a stored event."""
    return str(record.detail["content"]["firstName"])


@dataclass(frozen=True, slots=True)
class Tally:
    """What the hub's store holds of the marks ``"{tag}-*"``: how many distinct events
    arrived, how many arrived more than once (``duplicates`` counts the extra copies),
    the marks and ids stored."""

    arrived: int
    duplicates: int
    marks: frozenset[str]
    ids: frozenset[str]


def tally(hub: LocalHub, tag: str) -> Tally:
    """Count the hub's copies of every ``"{tag}-*"`` event."""
    prefix = f"{tag}-"
    records = [r for r in hub.received() if mark_of(r).startswith(prefix)]
    counts = collections.Counter(mark_of(r) for r in records)
    return Tally(
        arrived=len(counts),
        duplicates=sum(c - 1 for c in counts.values()),
        marks=frozenset(counts),
        ids=frozenset(r.event_id for r in records),
    )


class Server(Protocol):
    """Anything that plays Auth0 and the events API at ``url`` (a hub, a stub)."""

    @property
    def url(self) -> str: ...


def api_client(hub: Server, **options: Any) -> TfsoEventApiClient:
    """A :class:`TfsoEventApiClient` for ``hub``'s ready client (quick retries)."""
    options.setdefault("retry", QUICK)
    return TfsoEventApiClient(
        "local",
        options.pop("client_id", DEFAULT_CLIENT_ID),
        options.pop("secret", DEFAULT_CLIENT_SECRET),
        api_url=options.pop("api_url", hub.url),
        auth0_domain=options.pop("auth0_domain", hub.url),
        **options,
    )


async def settled(hub: LocalHub, *, quiet: float = 0.3, within: float = 10.0) -> int:
    """Wait until the hub has received no request for ``quiet`` seconds (what a
    cancelled client left on the wire has landed); return its event count."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen = (-1, -1, -1)
    while loop.time() < deadline:
        now = (hub.api_requests, hub.put_events_calls, hub.token_attempts)
        if now == seen:
            return hub.count()
        seen = now
        await asyncio.sleep(quiet)
    raise AssertionError(f"the hub kept receiving requests for {within} s")


async def leftover_tasks(before: Iterable[asyncio.Task[Any]], wait: float = 2.0) -> set[str]:
    """Tasks started since ``before`` still pending after up to ``wait`` seconds (the
    hub's connection handlers on the same loop need a moment to see a close)."""
    known = set(before)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        pending = asyncio.all_tasks() - known - {asyncio.current_task()}
        if not pending or loop.time() > deadline:
            return {f"{t.get_name()}: {t.get_coro()!r}" for t in pending}
        await asyncio.sleep(0.01)


def leftover_threads(before: Iterable[threading.Thread], wait: float = 5.0) -> set[str]:
    """Threads started since ``before`` still alive after up to ``wait`` seconds."""
    known = set(before)
    for thread in set(threading.enumerate()) - known:
        thread.join(wait)
    return {t.name for t in set(threading.enumerate()) - known if t.is_alive()}


def collect_garbage() -> None:
    """Collect now: an unclosed aiohttp session or connector warns (ResourceWarning and
    'Unclosed client session' are errors in this suite) when it is collected."""
    gc.collect()
    gc.collect()
