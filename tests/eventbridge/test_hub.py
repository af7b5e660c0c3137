"""TfsoEventBridgeClient against the local hub's PutEvents, with the hub's faults."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.eventbridge.conftest import bank_event
from tfso_events import RetryPolicy, parse_event
from tfso_events.local import LocalHub
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

FAST = RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.01)


@pytest.mark.parametrize("transport", ["lean", "botocore"])
async def test_hub_stores_what_was_published(hub: LocalHub, transport: Any) -> None:
    """The hub receives each event once, on tfso-bank-events, with the id the client
    returned and the detail exactly as validated (through either transport)."""
    events = [bank_event(i) for i in range(25)]
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, transport=transport) as client:
        batch = await client.publish_many(events)
    records = {r.event_id: r for r in hub.received(via="eventbridge")}
    assert len(records) == 25
    for event, event_id in zip(events, batch.event_ids, strict=True):
        assert event_id is not None
        record = records[event_id]
        assert record.event_bus_name == "tfso-bank-events"
        assert parse_event(record.envelope()) == type(event).parse(record.envelope())
        assert type(event).parse(record.envelope()).detail == event.detail


async def test_hub_throttling_30_percent_over_2000_events(hub: LocalHub) -> None:
    """With the hub throttling 30% of entries, all 2,000 events are delivered and the
    hub holds each exactly once."""
    hub.faults.throttle_rate = 0.3
    events = [bank_event(i) for i in range(2000)]
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, retry=FAST) as client:
        batch = await client.publish_many(events)
    assert batch.ok
    assert max(r.attempts for r in batch.succeeded) > 1
    stored = Counter(r.detail["content"]["firstName"] for r in hub.received())
    assert len(stored) == 2000
    assert set(stored.values()) == {1}
    assert {r.event_id for r in hub.received()} == set(batch.event_ids)


async def test_hub_whole_call_errors_are_retried(hub: LocalHub) -> None:
    """Whole-call 500s from the hub (error_rate) are retried (botocore's retries, then
    the client's), and every event ends up stored once."""
    hub.faults.error_rate = 0.3
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, retry=FAST) as client:
        results = await asyncio.gather(*(client.publish(bank_event(i)) for i in range(60)))
    assert len({r.event_id for r in results}) == 60
    assert hub.count() == 60


async def test_hub_concurrent_publishes_share_calls(hub: LocalHub) -> None:
    """1,000 concurrent publish() calls reach the hub in at most 100 PutEvents calls."""
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await asyncio.gather(*(client.publish(bank_event(i)) for i in range(1000)))
    assert hub.put_events_calls <= 100
    assert hub.count() == 1000


async def test_hub_size_limit_agrees_with_the_client() -> None:
    """The client's chunks, sized with AWS's formula, are accepted by a hub enforcing the
    same max_request_bytes (a small one, so every call is size-bound)."""
    async with LocalHub(max_request_bytes=4096) as small:
        events = [bank_event(first_name=f"{i:03d}" + "ø" * 400) for i in range(30)]
        async with TfsoEventBridgeClient(
            "dev", endpoint_url=small.url, max_request_bytes=4096
        ) as client:
            batch = await client.publish_many(events)
        assert batch.ok
        assert small.count() == 30
        assert small.put_events_calls > 3  # fewer than 10 entries fit in one call
