"""Cancellation: cancelling ``publish`` or ``publish_many`` mid-flight (request on the
wire, entries backing off, a shared coalesced call, ``asyncio.timeout``) raises
``CancelledError`` (or ``TimeoutError``) in the caller, stops all further sending for
it, never sends an accepted entry twice, and leaves the publisher usable.

What the hub holds is checked by each event's mark once the wire is quiet: a
cancelled request may still land (the server did not hear the cancellation), but no
event is ever stored twice and nothing arrives after the client has gone quiet.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.reliability.conftest import (
    api_client,
    collect_garbage,
    leftover_tasks,
    marked,
    settled,
    tally,
)
from tests.reliability.test_shutdown import eventbridge_client
from tfso_events import PublishResult, RetryPolicy
from tfso_events.local import LocalHub

#: Slow enough backoff that a cancellation lands while entries wait to be resent.
PATIENT = RetryPolicy(max_attempts=20, base_delay=0.2, max_delay=0.4)


def _client(kind: str, hub: LocalHub, **options: Any) -> Any:
    return api_client(hub, **options) if kind == "api" else eventbridge_client(hub, **options)


async def _until(condition: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.005)


def _requests(hub: LocalHub) -> int:
    return hub.api_requests + hub.put_events_calls


async def _quiet_and_unique(hub: LocalHub, tag: str) -> int:
    """Wait for the wire to go quiet, then check no event of ``tag`` is stored twice and
    nothing more arrives; return how many arrived."""
    await settled(hub)
    calls = _requests(hub)
    await asyncio.sleep(0.5)  # longer than any backoff that could still be pending
    assert _requests(hub) == calls, "requests kept coming after the cancellation"
    stored = tally(hub, tag)
    assert stored.duplicates == 0
    return stored.arrived


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
async def test_cancel_publish_with_its_request_on_the_wire(hub: LocalHub, kind: str) -> None:
    """A publish cancelled while its request is on the wire raises CancelledError;
    the event lands at most once; the same client then publishes normally."""
    before = asyncio.all_tasks()
    hub.faults.latency = 0.3
    async with _client(kind, hub) as client:
        task = asyncio.create_task(client.publish(marked(f"c1{kind}", 0)))
        await _until(lambda: _requests(hub) > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _quiet_and_unique(hub, f"c1{kind}") <= 1
        hub.faults.latency = 0.0
        result = await client.publish(marked(f"c1{kind}", 1))
        assert result.event_id in tally(hub, f"c1{kind}").ids
    del client, task
    assert await leftover_tasks(before) == set()
    collect_garbage()


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
async def test_cancel_publish_many_while_entries_back_off(hub: LocalHub, kind: str) -> None:
    """publish_many of 200 cancelled while throttled entries wait to be resent: the
    caller gets CancelledError, no retry is sent afterwards, nothing is stored twice,
    and a second publish_many of the same client delivers everything."""
    before = asyncio.all_tasks()
    hub.faults.throttle_rate = 0.5
    tag = f"c2{kind}"
    async with _client(kind, hub, retry=PATIENT) as client:
        task = asyncio.create_task(client.publish_many([marked(tag, i) for i in range(200)]))
        await _until(lambda: hub.count() >= 50)  # some accepted, the throttled backing off
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        arrived = await _quiet_and_unique(hub, tag)
        assert 50 <= arrived < 200
        hub.faults.throttle_rate = 0.0
        missing = sorted(set(range(200)) - {int(m.split("-")[1]) for m in tally(hub, tag).marks})
        batch = await client.publish_many([marked(tag, i) for i in missing])
        assert batch.ok
    stored = tally(hub, tag)
    assert (stored.arrived, stored.duplicates) == (200, 0)
    del client, task
    assert await leftover_tasks(before) == set()
    collect_garbage()


async def test_cancel_one_caller_of_a_shared_putevents_call(hub: LocalHub) -> None:
    """Among 30 coalesced publish() calls sharing PutEvents calls, cancelling 10 of
    them mid-flight raises CancelledError in those 10 only: the other 20 get their
    ids, and no event is stored twice."""
    hub.faults.latency = 0.2
    async with eventbridge_client(hub) as client:
        tasks = [asyncio.create_task(client.publish(marked("c3", i))) for i in range(30)]
        await _until(lambda: hub.put_events_calls > 0)
        for task in tasks[::3]:
            task.cancel()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = [a for a in answers if isinstance(a, asyncio.CancelledError)]
    results = [a for a in answers if isinstance(a, PublishResult)]
    assert (len(cancelled), len(results)) == (10, 20)
    stored = tally(hub, "c3")
    assert {r.event_id for r in results} <= stored.ids
    assert stored.duplicates == 0


async def test_cancel_while_queued_in_the_coalescer_sends_nothing(hub: LocalHub) -> None:
    """publish() calls cancelled while they linger in the coalescer are never sent."""
    async with eventbridge_client(hub, linger=0.3) as client:
        tasks = [asyncio.create_task(client.publish(marked("c4", i))) for i in range(5)]
        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(a, asyncio.CancelledError) for a in answers)
        await asyncio.sleep(0.5)  # past the linger
        assert hub.put_events_calls == 0
        await client.publish(marked("c4", 99))  # still usable
    assert tally(hub, "c4").marks == {"c4-99"}


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
async def test_timeout_around_publish(hub: LocalHub, kind: str) -> None:
    """asyncio.timeout around a slow publish raises TimeoutError (the cancellation is
    not swallowed or retried) and the client keeps working."""
    hub.faults.latency = 0.5
    async with _client(kind, hub) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.publish(marked(f"c5{kind}", 0))
        assert await _quiet_and_unique(hub, f"c5{kind}") <= 1
        hub.faults.latency = 0.0
        async with asyncio.timeout(10):
            await client.publish(marked(f"c5{kind}", 1))


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
async def test_cancelled_while_every_call_fails(hub: LocalHub, kind: str) -> None:
    """A publish cancelled while the hub answers every call with a 5xx (the client is
    in its retry loop) raises CancelledError at once; no retry follows it."""
    hub.faults.error_rate = 1.0
    async with _client(kind, hub, retry=PATIENT) as client:
        task = asyncio.create_task(client.publish(marked(f"c6{kind}", 0)))
        await _until(lambda: _requests(hub) > 0)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _quiet_and_unique(hub, f"c6{kind}") == 0
