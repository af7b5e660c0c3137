"""The blocking facade: one private loop per client, usable from scripts, running loops and
threads, refusing calls from its own loop thread, flushing on close and at exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tfso_events import ConfigurationError, EventValidationError, PublishError
from tfso_events.examples import sample_events
from tfso_events.local import LocalHub
from tfso_events.sync import TfsoEventApiClient, TfsoEventBridgeClient


@pytest.fixture
def threaded_hub() -> Iterator[LocalHub]:
    """A hub serving from its own thread, so blocking calls in the test can reach it."""
    with LocalHub(seed=0) as hub:
        yield hub


def api_client(hub: LocalHub, **options: object) -> TfsoEventApiClient:
    return TfsoEventApiClient(
        "local",
        "local-client",
        "local-secret",
        api_url=hub.url,
        auth0_domain=hub.url,
        **options,
    )


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tfso-events-api")]


def test_publish_and_publish_many_block_until_delivered(threaded_hub: LocalHub) -> None:
    """publish returns the event's id and publish_many a BatchResult once the hub has them."""
    events = sample_events()
    with api_client(threaded_hub) as client:
        first = client.publish(events[0])
        batch = client.publish_many(events)
    assert first.event_id
    assert batch.ok
    assert len(batch.succeeded) == len(events)
    ids = {r.event_id for r in threaded_hub.received()}
    assert {first.event_id, *batch.event_ids} <= ids
    assert threaded_hub.count() == len(events) + 1


def test_close_stops_the_loop_thread_and_refuses_new_work(threaded_hub: LocalHub) -> None:
    """close() stops the private loop thread; later calls raise ConfigurationError."""
    before = len(_loop_threads())
    client = api_client(threaded_hub)
    assert len(_loop_threads()) == before + 1
    client.publish(sample_events()[1])
    client.close()
    client.close()  # idempotent
    assert len(_loop_threads()) == before
    with pytest.raises(ConfigurationError, match="closed"):
        client.publish(sample_events()[1])
    assert "closed" in repr(client)


def test_errors_surface_as_the_async_client_raises_them(threaded_hub: LocalHub) -> None:
    """Validation errors and PublishError cross the thread boundary unchanged."""
    bad = sample_events()[0]
    bad.detail.content.favorite_color = "Purple"  # type: ignore[attr-defined]
    with api_client(threaded_hub, max_concurrency=2) as client:
        with pytest.raises(EventValidationError, match="favoriteColor"):
            client.publish(bad)
        threaded_hub.faults.error_rate = 1.0
        from tfso_events import RetryPolicy

        with api_client(threaded_hub, retry=RetryPolicy(max_attempts=2, base_delay=0)) as quick:
            with pytest.raises(PublishError) as info:
                quick.publish_many(sample_events()[:2])
            assert info.value.result is not None
            assert len(info.value.result.failed) == 2
    assert threaded_hub.count() == 0


def test_works_from_eight_threads_at_once(threaded_hub: LocalHub) -> None:
    """One facade shared by 8 threads delivers every event exactly once, with one token."""
    events = sample_events() * 10
    with api_client(threaded_hub) as client, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client.publish, events))
    assert len({r.event_id for r in results}) == len(events)
    assert threaded_hub.count() == len(events)
    assert threaded_hub.token_requests == 1


def test_works_inside_a_running_event_loop(threaded_hub: LocalHub) -> None:
    """Called from a coroutine (as in a notebook cell), the facade blocks but works."""

    async def cell() -> str:
        with api_client(threaded_hub) as client:
            return client.publish(sample_events()[2]).event_id

    event_id = asyncio.run(cell())
    assert [r.event_id for r in threaded_hub.received()] == [event_id]


def test_call_from_its_own_loop_thread_raises_instead_of_deadlocking(
    threaded_hub: LocalHub,
) -> None:
    """A call made on the facade's own loop thread raises a clear RuntimeError."""
    with api_client(threaded_hub) as client:

        async def reenter() -> None:
            client.publish(sample_events()[0])

        loop = client._runner.loop  # the facade's private loop, reached only to re-enter it
        future = asyncio.run_coroutine_threadsafe(reenter(), loop)
        with pytest.raises(RuntimeError, match="deadlock"):
            future.result(timeout=10)


SCRIPT = """
import sys, warnings
warnings.simplefilter("error")
from tfso_events.examples import sample_events
from tfso_events.sync import TfsoEventApiClient, TfsoEventBridgeClient

url = sys.argv[1]
client = TfsoEventApiClient("local", "local-client", "local-secret", api_url=url,
                            auth0_domain=url)
print(client.publish(sample_events()[0]).event_id)
{ending}
"""


@pytest.mark.parametrize("ending", ["client.close()", "pass  # left open on purpose"])
def test_plain_script_exits_cleanly(threaded_hub: LocalHub, ending: str) -> None:
    """In a plain script the facade publishes, and exit is clean whether or not it was
    closed: no hang, no warning, exit status 0."""
    script = textwrap.dedent(SCRIPT).format(ending=ending)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, threaded_hub.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    event_id = done.stdout.strip()
    assert [r.event_id for r in threaded_hub.received()] == [event_id]


def test_eventbridge_facade_coalesces_from_threads(
    threaded_hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocking EventBridge client, shared by 8 threads, delivers every event once and
    coalesces concurrent publishes into PutEvents calls of up to 10 entries."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    events = sample_events() * 20
    with (
        TfsoEventBridgeClient("dev", endpoint_url=threaded_hub.url) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        results = list(pool.map(client.publish, events))
        batch = client.publish_many(sample_events())
    assert batch.ok
    assert len({r.event_id for r in results}) == len(events)
    assert threaded_hub.count(via="eventbridge") == len(events) + len(sample_events())
    # 8 threads keep up to 8 publishes pending, so some calls carry several entries
    # (how many depends on thread timing; the exact bound is pinned by the async tests)
    assert threaded_hub.put_events_calls < len(events) + 1
    assert {r.event_bus_name for r in threaded_hub.received()} == {"tfso-bank-events"}


def test_close_racing_publishers_never_hangs(threaded_hub: LocalHub) -> None:
    """Threads publishing while close() runs each get an id or ConfigurationError, and
    every id they got is at the hub."""
    client = api_client(threaded_hub)
    ids: list[str] = []
    refused = 0
    start = threading.Barrier(5)

    def publisher() -> None:
        nonlocal refused
        start.wait()
        for event in sample_events() * 5:
            try:
                ids.append(client.publish(event).event_id)
            except ConfigurationError:
                refused += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(publisher) for _ in range(4)]
        start.wait()
        client.close()
        for future in futures:
            future.result(timeout=30)
    assert len(ids) + refused == 4 * 20
    assert set(ids) <= {r.event_id for r in threaded_hub.received()}
