"""Outages and backlogs in both publishers: the client's circuit, the retry deadline
counted from the client's progress, and the bound on pending ``publish()`` calls.

Real servers on 127.0.0.1: the local hub, stopped and started again on its port for an
outage, and the Auth0/events API stub for a target that answers 503 for a while. The
bigger reproduction of the issue (40,000 ``publish()`` calls against a target that
answers after 0.5 s) runs with ``TFSO_SOAK=full``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest

from tests.reliability.conftest import marked, tally
from tfso_events import (
    ConfigurationError,
    DeliveryError,
    PublishResult,
    RetryPolicy,
    TfsoEventApiClient,
    TfsoEventBridgeClient,
)
from tfso_events import sync as tfso_sync
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.publishing._protocols import Publisher

KINDS = ["eventbridge", "api"]
FULL = os.environ.get("TFSO_SOAK") == "full"


def _client(kind: str, url: str, **options: Any) -> TfsoEventBridgeClient | TfsoEventApiClient:
    if kind == "eventbridge":
        session = aioboto3.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
        )
        return TfsoEventBridgeClient("dev", endpoint_url=url, session=session, **options)
    return TfsoEventApiClient(
        "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=url, auth0_domain=url, **options
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def hub_on_a_port() -> AsyncIterator[LocalHub]:
    """A local hub on a fixed free port, so that it can stop and start again there."""
    hub = LocalHub(port=_free_port(), seed=0)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("tfso_events") and r.levelno >= logging.WARNING
    ]


async def _publish_through_an_outage(
    client: Publisher, hub: LocalHub, tag: str, *, down: float, rate: float = 25
) -> tuple[list[PublishResult | BaseException], float]:
    """Publish ``rate`` events a second (each its own ``publish()``, not awaited in
    turn, as a service handling requests does) for 0.5 s, with the hub stopped for
    ``down`` seconds, and 0.5 s after it is back; return every outcome and how long
    after the hub's return the last one came."""
    tasks: list[asyncio.Task[PublishResult]] = []
    count = 0

    async def produce(seconds: float) -> None:
        nonlocal count
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tasks.append(asyncio.ensure_future(client.publish(marked(tag, count))))
            count += 1
            await asyncio.sleep(1 / rate)

    await produce(0.5)
    await asyncio.gather(*tasks)  # (the first ones open the connections and the token)
    await hub.stop()
    await produce(down)
    await hub.start()
    back = time.monotonic()
    await produce(0.5)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes, time.monotonic() - back


@pytest.mark.parametrize("kind", KINDS)
async def test_an_outage_logs_a_handful_of_lines_and_delivers_everything_after(
    hub_on_a_port: LocalHub, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """The hub stops for 3 s while publishes keep coming, under the default policy:
    none fails, the log has at most 3 WARNING lines (down, back up), never one per
    retry, and every event is at the hub within seconds of its return."""
    caplog.set_level(logging.DEBUG, logger="tfso_events")
    hub = hub_on_a_port
    async with _client(kind, hub.url) as client:
        outcomes, drained = await _publish_through_an_outage(client, hub, kind, down=3.0)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert failures == []
    assert tally(hub, kind).arrived == len(outcomes)  # (at least once: a copy may repeat)
    lines = _warnings(caplog)
    print(f"{kind}: {len(outcomes)} publishes, {len(lines)} WARNING lines, {drained:.1f} s")
    assert 2 <= len(lines) <= 3, lines
    assert "is not answering" in lines[0]
    assert "is answering again after" in lines[-1]
    assert drained < 10, drained


@pytest.mark.parametrize("kind", KINDS)
async def test_an_outage_longer_than_the_deadline_fails_events_with_their_reason(
    hub_on_a_port: LocalHub, kind: str
) -> None:
    """With a 1 s deadline and the hub down for 3 s, the publishes made while it is
    down fail with a retryable DeliveryError naming the connection failure, the others
    succeed and are at the hub: every publish is accounted for, none lost silently."""
    hub = hub_on_a_port
    policy = RetryPolicy(deadline=1.0)
    async with _client(kind, hub.url, retry=policy) as client:
        outcomes, _ = await _publish_through_an_outage(client, hub, kind, down=3.0)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    sent = [o for o in outcomes if isinstance(o, PublishResult)]
    assert len(failed) + len(sent) == len(outcomes)
    assert failed
    assert sent
    for error in failed:
        assert isinstance(error, DeliveryError), repr(error)
        assert error.retryable
        assert "connection_error" in str(error) or "RetryDeadline" in str(error), str(error)
        assert "retry deadline" in str(error)
    assert tally(hub, kind).ids >= {result.event_id for result in sent}


async def test_a_503_outage_is_probed_one_request_at_a_time(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """160 publish() calls against an events API answering 503 for 1.5 s: after the
    circuit opens, one probe at a time goes out instead of 160 publishes retrying each
    on its own (a few dozen requests, not hundreds), and all 160 are delivered."""
    from aiohttp import web

    from tests.api.conftest import CLIENT_ID, CLIENT_SECRET, Auth0Stub, bank_event

    caplog.set_level(logging.DEBUG, logger="tfso_events")
    stub = Auth0Stub()
    stub.register(CLIENT_ID, CLIENT_SECRET, {"bank"})
    app = web.Application()
    app.router.add_post("/oauth/token", stub.token)
    app.router.add_post("/events", stub.post_event)
    stub.url = await serve(app)
    async with TfsoEventApiClient(
        "local", CLIENT_ID, CLIENT_SECRET, api_url=stub.url, auth0_domain=stub.url
    ) as client:
        await client.publish(bank_event(-1))  # the token, and the connections
        stub.event_failures = 10**9
        before = stub.event_posts
        work = asyncio.gather(*(client.publish(bank_event(n)) for n in range(160)))
        await asyncio.sleep(1.5)
        during = stub.event_posts - before
        stub.event_failures = 0
        results = await work
    assert len(results) == 160
    assert len({event["eventId"] for event in stub.events}) == 161
    # 16 sends in flight when it went down, then probes at 0.25 s, 0.5 s, 1 s, ...
    print(f"{during} requests in 1.5 s of 503s for 160 pending publishes")
    assert during <= 40, during
    assert len(_warnings(caplog)) == 2, _warnings(caplog)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_slow_healthy_target_fails_none_of_a_backlog(hub: LocalHub, kind: str) -> None:
    """A backlog of publish() calls against a hub that answers after 0.2 s and never
    fails, 4 sends at a time, with a 0.5 s deadline: it takes seconds to drain and none
    fails, because the deadline counts from the client's last accepted event (each
    coalesced batch used to count its own wait for a connection slot: most failed)."""
    hub.faults.latency = 0.2
    count = 400 if kind == "eventbridge" else 80  # ~2 s at 10 entries per call, or 1
    async with _client(kind, hub.url, max_concurrency=4, retry=RetryPolicy(deadline=0.5)) as c:
        outcomes = await asyncio.gather(
            *(c.publish(marked(kind, n)) for n in range(count)), return_exceptions=True
        )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert tally(hub, kind).arrived == count


@pytest.mark.skipif(not FULL, reason="the issue's 40,000-call backlog: TFSO_SOAK=full")
async def test_the_issues_backlog_of_40000_publishes_fails_none(hub: LocalHub) -> None:
    """The issue's reproduction: 40,000 publish() calls at once against a hub answering
    after 0.5 s, default policy: 0 failures (20,960 DeliveryError before)."""
    hub.faults.latency = 0.5
    started = time.monotonic()
    async with _client("eventbridge", hub.url) as client:
        outcomes = await asyncio.gather(
            *(client.publish(marked("big", n)) for n in range(40_000)), return_exceptions=True
        )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    print(f"40,000 publishes in {time.monotonic() - started:.0f} s, {len(failures)} failed")
    assert failures == []
    assert tally(hub, "big").arrived == 40_000


@pytest.mark.parametrize("kind", KINDS)
async def test_pending_publishes_are_bounded(hub: LocalHub, kind: str) -> None:
    """1,000 publish() calls at once of events carrying 20 KB each (made before the
    measure starts) against a hub answering after 1 s:
    with max_pending=50 the client holds at most 50 of them, so its memory stays under
    13 MB while the rest wait in publish(); then all 1,000 are delivered."""
    hub.faults.latency = 1.0
    filler = "x" * 20_000
    events = [marked(filler, n) for n in range(1000)]
    tracemalloc.start()
    try:
        async with _client(kind, hub.url, max_pending=50) as client:
            await client.open()
            before = tracemalloc.get_traced_memory()[0]
            work = asyncio.gather(*map(client.publish, events), return_exceptions=True)
            await asyncio.sleep(0.5)
            held = tracemalloc.get_traced_memory()[0] - before
            hub.faults.latency = 0  # (measured: now deliver the rest quickly)
            outcomes = await work
    finally:
        tracemalloc.stop()
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    # Measured: 4-9 MB (the suite's DEBUG log capture included); with the default
    # max_pending, 1,000 encoded events and their batches: over 25 MB.
    assert held < 13_000_000, held
    assert tally(hub, filler).arrived == 1000


def test_the_sync_facade_takes_max_pending() -> None:
    """max_pending is a keyword option of both blocking clients too, checked at once."""
    with pytest.raises(ConfigurationError, match="max_pending"):
        tfso_sync.TfsoEventBridgeClient("dev", max_pending=0)
    with pytest.raises(ConfigurationError, match="max_pending"):
        tfso_sync.TfsoEventApiClient("local", "id", "secret", max_pending=0)


async def test_a_cancelled_probe_lets_the_next_publish_probe(serve: Any) -> None:
    """The publish whose send is the probe of a down target is cancelled while the
    probe hangs: the next publish probes in its place and succeeds at once, instead of
    waiting out its deadline for an answer that will never come."""
    from aiohttp import web

    from tests.api.conftest import CLIENT_ID, CLIENT_SECRET, Auth0Stub, bank_event

    stub = Auth0Stub()
    stub.register(CLIENT_ID, CLIENT_SECRET, {"bank"})
    app = web.Application()
    app.router.add_post("/oauth/token", stub.token)
    app.router.add_post("/events", stub.post_event)
    stub.url = await serve(app, shutdown_timeout=0.1)
    policy = RetryPolicy(deadline=20, base_delay=0.001, max_delay=0.002)
    async with TfsoEventApiClient(
        "local", CLIENT_ID, CLIENT_SECRET, api_url=stub.url, auth0_domain=stub.url, retry=policy
    ) as client:
        await client.publish(bank_event(0))
        stub.event_failures = 10**9
        first = asyncio.ensure_future(client.publish(bank_event(1)))
        async with asyncio.timeout(10):  # 5 failures bring it down...
            while stub.event_posts < 6:  # noqa: ASYNC110 - the stub has no hook to await
                await asyncio.sleep(0.005)
        stub.event_gate = hang = asyncio.Event()  # ...and the probe, after 0.125 s, hangs
        async with asyncio.timeout(10):
            while stub.event_posts < 7:  # noqa: ASYNC110 - the stub has no hook to await
                await asyncio.sleep(0.01)
        first.cancel()
        stub.event_gate, stub.event_failures = None, 0
        async with asyncio.timeout(3):
            result = await client.publish(bank_event(2))
        assert result.event_id
        hang.set()
    assert first.cancelled()
