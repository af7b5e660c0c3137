"""``publish_many(on_result=..., retry=...)`` on every publisher, against the local hub
on 127.0.0.1: each event's outcome is told once, as soon as it is final, and the
per-call retry policy replaces the client's for that call only."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import aioboto3
import pytest

from tests.conftest import Serve
from tfso_events import (
    DeliveryError,
    PublishFailure,
    PublishResult,
    RetryPolicy,
    TfsoEventApiClient,
    TfsoEventBridgeClient,
)
from tfso_events import sync as tfso_sync
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.results import BatchResult
from tfso_events.testing import MemoryPublisher, build

Outcome = PublishResult | PublishFailure


def _events(count: int) -> list[Any]:
    return [build(BankTestCreatedV1Event, content__first_name=f"n{i}") for i in range(count)]


def _api(hub: LocalHub, **options: Any) -> TfsoEventApiClient:
    return TfsoEventApiClient(
        "local", "local-client", "local-secret", api_url=hub.url, auth0_domain=hub.url, **options
    )


def _bridge(hub: LocalHub, **options: Any) -> TfsoEventBridgeClient:
    session = aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )
    return TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=session, **options)


CLIENTS: dict[str, Callable[..., Any]] = {"api": _api, "eventbridge": _bridge}


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    """A fresh local hub in its own thread (the sync facade blocks this one)."""
    with LocalHub(seed=0) as running:
        yield running


@pytest.fixture
def throttled_hub(hub: LocalHub) -> LocalHub:
    """The hub, answering a third of the events with throttling (so retries happen)."""
    hub.faults.throttle_rate = 0.3
    return hub


@pytest.mark.parametrize("via", sorted(CLIENTS))
async def test_every_outcome_is_told_once_and_matches_the_result(
    throttled_hub: LocalHub, via: str
) -> None:
    """Under 30% throttling, on_result is called exactly once per event with the very
    outcome the BatchResult holds, every one before publish_many returns; events that
    needed retries are told after their retries, not at their first answer."""
    told: list[Outcome] = []
    async with CLIENTS[via](throttled_hub) as client:
        result: BatchResult = await client.publish_many(_events(60), on_result=told.append)
    assert result.ok
    assert sorted(o.index for o in told) == list(range(60))
    assert {o.index: o for o in told} == dict(enumerate(result.results))
    assert any(o.attempts > 1 for o in told), "the fault should have forced some retries"
    assert throttled_hub.count() == 60


@pytest.mark.parametrize("via", sorted(CLIENTS))
async def test_failures_are_told_too(hub: LocalHub, via: str) -> None:
    """Events that fail for good are told as PublishFailure, with their code."""
    hub.faults.error_rate = 1.0 if via == "api" else 0.0
    hub.faults.throttle_rate = 1.0 if via == "eventbridge" else 0.0
    told: list[Outcome] = []
    async with CLIENTS[via](hub, retry=RetryPolicy(max_attempts=2, base_delay=0)) as client:
        result = await client.publish_many(_events(5), raise_on_error=False, on_result=told.append)
    assert len(told) == 5
    assert all(isinstance(o, PublishFailure) for o in told)
    assert {o.index: o for o in told} == dict(enumerate(result.results))
    assert all(o.attempts == 2 for o in told)


async def test_an_unusable_setup_is_told_for_every_event() -> None:
    """An EventBridge client that cannot connect (MemoryPublisher.misconfigure: the
    real client's connect fails) fails every event; each failure is told to on_result
    as well as returned."""
    told: list[Outcome] = []
    publisher = MemoryPublisher()
    publisher.misconfigure()
    result = await publisher.publish_many(_events(3), raise_on_error=False, on_result=told.append)
    assert [o.index for o in told] == [0, 1, 2]
    assert all(isinstance(o, PublishFailure) for o in told)
    assert told == list(result.results)


async def test_a_raising_callback_is_logged_and_nothing_is_lost(
    hub: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises does not stop delivery: every event is still published
    and in the result, and each raise is logged with the event's position."""

    def broken(outcome: Outcome) -> None:
        raise RuntimeError("bookkeeping bug")

    with caplog.at_level(logging.ERROR, logger="tfso_events"):
        async with _api(hub) as client:
            result = await client.publish_many(_events(4), on_result=broken)
    assert result.ok
    assert hub.count() == 4
    logged = [r for r in caplog.records if "on_result raised" in r.getMessage()]
    assert len(logged) == 4


@pytest.mark.parametrize("via", sorted(CLIENTS))
async def test_retry_replaces_the_policy_for_one_call(hub: LocalHub, via: str) -> None:
    """retry= applies to that call only: with every event throttled, a call with
    RetryPolicy(max_attempts=1) fails each event after one attempt, while the client's
    own policy (3 attempts) still applies to the next call."""
    hub.faults.throttle_rate = 1.0
    async with CLIENTS[via](hub, retry=RetryPolicy(max_attempts=3, base_delay=0)) as client:
        once = await client.publish_many(
            _events(2), raise_on_error=False, retry=RetryPolicy(max_attempts=1)
        )
        default = await client.publish_many(_events(2), raise_on_error=False)
    assert [f.attempts for f in once.failed] == [1, 1]
    assert [f.attempts for f in default.failed] == [3, 3]


async def test_memory_and_sync_publishers_tell_outcomes(hub: LocalHub) -> None:
    """MemoryPublisher and the sync facade take on_result too: one call per event."""
    told: list[Outcome] = []
    memory = MemoryPublisher()
    await memory.publish_many(_events(3), on_result=told.append)
    assert sorted(o.index for o in told) == [0, 1, 2]

    told.clear()
    with tfso_sync.TfsoEventApiClient(
        "local", "local-client", "local-secret", api_url=hub.url, auth0_domain=hub.url
    ) as client:
        result = client.publish_many(_events(3), on_result=told.append)
    assert result.ok
    assert sorted(o.index for o in told) == [0, 1, 2]


@pytest.mark.parametrize("via", sorted(CLIENTS))
async def test_a_throttled_failure_is_retryable(hub: LocalHub, via: str) -> None:
    """A failure whose every try was throttled is ``retryable``: the policy ran out, and
    sending the event again later may succeed."""
    hub.faults.throttle_rate = 1.0
    async with CLIENTS[via](hub, retry=RetryPolicy(max_attempts=2, base_delay=0)) as client:
        result = await client.publish_many(_events(1), raise_on_error=False)
    (failure,) = result.failed
    assert isinstance(failure.error, DeliveryError)
    assert failure.error.retryable is True


async def test_a_refused_event_is_not_retryable(hub: LocalHub, serve: Serve) -> None:
    """An event the events API refuses (400) fails at once and is not ``retryable``."""
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "no"}, status=400)

    app = web.Application()
    app.router.add_post("/events", refuse)
    api_url = await serve(app)
    async with TfsoEventApiClient(
        "local", "local-client", "local-secret", api_url=api_url, auth0_domain=hub.url
    ) as client:
        result = await client.publish_many(_events(1), raise_on_error=False)
    (failure,) = result.failed
    assert failure.attempts == 1
    assert isinstance(failure.error, DeliveryError)
    assert failure.error.retryable is False
