"""Shutdown under load: ``aclose()`` / ``close()`` while hundreds of publishes wait (in
the coalescer, on the concurrency limit, in flight) gives every caller a result or an
exception, never silence; and leaves no task, session or thread behind.

Leaks are checked three ways: ``asyncio.all_tasks()`` against a snapshot, garbage
collection (an unclosed aiohttp session or connector warns, and warnings are errors in
this suite), and ``threading.enumerate()`` against a snapshot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.conftest import (
    QUICK,
    api_client,
    collect_garbage,
    leftover_tasks,
    leftover_threads,
    marked,
    tally,
)
from tfso_events import (
    ConfigurationError,
    PublishResult,
    TfsoEventBridgeClient,
)
from tfso_events import sync as blocking
from tfso_events.local import LocalHub


def eventbridge_client(hub: LocalHub, **options: Any) -> TfsoEventBridgeClient:
    """A :class:`TfsoEventBridgeClient` for ``hub`` with dummy credentials."""
    import aioboto3

    session = aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )
    options.setdefault("retry", QUICK)
    return TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=session, **options)


async def _until(condition: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.005)


def _check_every_caller_heard(
    hub: LocalHub, tag: str, answers: list[Any], expected: int
) -> list[PublishResult]:
    """Every caller got a result or an exception; every id is in the store, once."""
    results: list[PublishResult] = []
    for answer in answers:
        if isinstance(answer, PublishResult):
            results.append(answer)
        elif hasattr(answer, "results"):  # a BatchResult
            results += list(answer.succeeded)
            assert answer.ok, answer.failed[:3]
        else:
            assert isinstance(answer, Exception), f"a caller got {answer!r}"
            assert not isinstance(answer, asyncio.CancelledError)
    stored = tally(hub, tag)
    assert {r.event_id for r in results} <= stored.ids
    assert stored.duplicates == 0
    assert len(results) == expected
    return results


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
async def test_aclose_while_hundreds_of_publishes_wait(hub: LocalHub, kind: str) -> None:
    """aclose() called while 400 publish() calls and a publish_many of 100 wait behind a
    small concurrency limit: each one ends with its id (aclose drains them), later
    publishes are refused, and nothing is left running or open."""
    before = asyncio.all_tasks()
    threads = threading.enumerate()
    hub.faults.latency = 0.05
    client: Any = (
        api_client(hub, max_concurrency=8)
        if kind == "api"
        else eventbridge_client(hub, max_concurrency=2)
    )
    tasks = [asyncio.create_task(client.publish(marked(kind, i))) for i in range(400)]
    tasks.append(
        asyncio.create_task(client.publish_many([marked(kind, i) for i in range(400, 500)]))
    )
    await _until(lambda: hub.count() > 0)  # the first calls are through, most still wait
    assert hub.count() < 100
    await client.aclose()
    assert all(task.done() for task in tasks)  # aclose returned only once all had ended
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    _check_every_caller_heard(hub, kind, answers, expected=500)
    with pytest.raises(ConfigurationError, match="closed"):
        await client.publish(marked(kind, 999))
    del client, tasks, answers
    assert await leftover_tasks(before) == set()
    collect_garbage()
    assert leftover_threads(threads) == set()


async def test_eventbridge_aclose_sends_what_is_still_queued(hub: LocalHub) -> None:
    """Publishes still lingering in the coalescer when aclose() is called are sent at
    once and answered, not dropped."""
    before = asyncio.all_tasks()
    client = eventbridge_client(hub, linger=30.0)
    tasks = [asyncio.create_task(client.publish(marked("linger", i))) for i in range(7)]
    await asyncio.sleep(0.05)
    assert hub.count() == 0  # waiting out their linger
    started = time.perf_counter()
    await client.aclose()
    assert time.perf_counter() - started < 10
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    _check_every_caller_heard(hub, "linger", answers, expected=7)
    del client, tasks
    assert await leftover_tasks(before) == set()
    collect_garbage()


@pytest.fixture
def threaded_hub() -> Iterator[LocalHub]:
    """A hub on its own thread, for blocking callers."""
    with LocalHub(seed=0) as hub:
        yield hub


@pytest.mark.parametrize("kind", ["api", "eventbridge"])
def test_sync_close_while_threads_publish(threaded_hub: LocalHub, kind: str) -> None:
    """close() while 8 threads keep publishing through one blocking facade: every call
    returns an id or raises (ConfigurationError once closed), no thread hangs, every
    id is in the store once, and the facade's loop thread is gone."""
    hub = threaded_hub
    hub.faults.latency = 0.02
    threads_before = threading.enumerate()
    options: dict[str, Any] = {"retry": QUICK}
    if kind == "api":
        facade: Any = blocking.TfsoEventApiClient(
            "local", "local-client", "local-secret", api_url=hub.url, auth0_domain=hub.url,
            **options,
        )  # fmt: skip
    else:
        import aioboto3

        options["session"] = aioboto3.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
        )
        facade = blocking.TfsoEventBridgeClient("dev", endpoint_url=hub.url, **options)
    answers: list[Any] = []
    lock = threading.Lock()

    def caller(n: int) -> None:
        for i in range(40):
            try:
                answer: Any = facade.publish(marked(f"sync-{kind}", n * 100 + i))
            except Exception as exc:
                answer = exc
            with lock:
                answers.append(answer)
            if isinstance(answer, ConfigurationError):
                return

    callers = [threading.Thread(target=caller, args=(n,), name=f"caller-{n}") for n in range(8)]
    for thread in callers:
        thread.start()
    deadline = time.monotonic() + 10
    while hub.count() < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    facade.close()
    for thread in callers:
        thread.join(30)
        assert not thread.is_alive(), f"{thread.name} hangs after close()"
    results = [a for a in answers if isinstance(a, PublishResult)]
    refused = [a for a in answers if isinstance(a, ConfigurationError)]
    assert len(results) + len(refused) == len(answers), [
        a for a in answers if not isinstance(a, PublishResult | ConfigurationError)
    ][:3]
    assert len(refused) == 8  # each caller heard "closed" once and stopped
    stored = tally(hub, f"sync-{kind}")
    assert {r.event_id for r in results} <= stored.ids
    assert stored.duplicates == 0
    assert leftover_threads(threads_before) == set()
