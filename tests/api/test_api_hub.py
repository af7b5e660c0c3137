"""TfsoEventApiClient against the local hub over real HTTP: real RS256 tokens from its
Auth0 endpoint, real verification and validation in its events API, its fault knobs."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tfso_events import (
    AuthenticationError,
    DeliveryError,
    EventValidationError,
    RetryPolicy,
    TfsoEventApiClient,
)
from tfso_events.auth import TokenProvider
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub

FAST = RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01)
MakeEvent = Callable[[int], Any]


def client(
    hub: LocalHub,
    client_id: str = DEFAULT_CLIENT_ID,
    secret: str = DEFAULT_CLIENT_SECRET,
    **kwargs: Any,
) -> TfsoEventApiClient:
    """A client for ``hub`` with fast retries."""
    kwargs.setdefault("retry", FAST)
    return TfsoEventApiClient(
        "local", client_id, secret, auth0_domain=hub.url, api_url=hub.url, **kwargs
    )


@pytest.fixture
async def short_lived_hub() -> AsyncIterator[LocalHub]:
    """A hub whose tokens live 2 s (refreshed 1 s after issue)."""
    async with LocalHub(seed=0, token_ttl=2) as started:
        yield started


async def test_200_concurrent_publishes_one_token(hub: LocalHub, make_event: MakeEvent) -> None:
    """200 concurrent publish() calls cost exactly one token request and store 200 events
    under the ids the client returned."""
    async with client(hub) as api:
        results = await asyncio.gather(*(api.publish(make_event(i)) for i in range(200)))
    assert hub.token_requests == 1
    assert hub.token_attempts == 1
    stored = hub.received(via="api")
    assert len(stored) == 200
    assert {r.event_id for r in results} == {e.event_id for e in stored}
    assert {e.detail["content"]["firstName"] for e in stored} == {f"Karl{i}" for i in range(200)}


async def test_publish_many_one_token(hub: LocalHub, make_event: MakeEvent) -> None:
    """publish_many of 100 events: one token, every event stored, ids in input order."""
    events = [make_event(i) for i in range(100)]
    async with client(hub) as api:
        result = await api.publish_many(events)
    assert result.ok
    assert hub.token_requests == 1
    by_id = {e.event_id: e for e in hub.received()}
    assert [by_id[i].detail["content"]["firstName"] for i in result.event_ids] == [  # type: ignore[index]
        f"Karl{i}" for i in range(100)
    ]


async def test_expiry_refreshes_exactly_once(
    short_lived_hub: LocalHub, make_event: MakeEvent
) -> None:
    """Past its refresh time a token is refreshed once for 20 concurrent publishes,
    and no publish meets a 401."""
    hub = short_lived_hub
    async with client(hub) as api:
        await api.publish(make_event(0))
        await asyncio.gather(*(api.publish(make_event(i)) for i in range(1, 10)))
        assert hub.token_requests == 1
        await asyncio.sleep(1.05)  # a 2 s token is refreshed 1 s after issue
        await asyncio.gather(*(api.publish(make_event(i)) for i in range(10, 30)))
    assert hub.token_requests == 2
    assert hub.token_attempts == 2
    assert hub.api_requests == hub.count() == 30


async def test_two_modules_two_tokens(hub: LocalHub) -> None:
    """A crm-capable application asking for bank and crm tokens (50 times, concurrently)
    gets exactly two tokens, one per scope."""
    hub.register_client("crm-capable", "crm-secret", ["bank", "crm"])
    async with TokenProvider(hub.url, "crm-capable", "crm-secret") as tokens:
        got = await asyncio.gather(*(tokens.get_token(s) for s in ["bank", "crm"] * 25))
        assert {t.key.scope for t in got} == {"bank", "crm"}
        assert len({t.value for t in got}) == 2
    assert hub.token_requests == 2


async def test_wrong_secret(hub: LocalHub, make_event: MakeEvent) -> None:
    """A wrong secret: AuthenticationError saying what to check, nothing posted."""
    async with client(hub, secret="wrong-secret") as api:
        with pytest.raises(AuthenticationError) as info:
            await api.publish(make_event(0))
    assert "HTTP 401" in str(info.value)
    assert "TFSO_EVENTS_CLIENT_SECRET" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    assert (hub.token_attempts, hub.api_requests) == (1, 0)


async def test_missing_scope(hub: LocalHub, make_event: MakeEvent) -> None:
    """An application without the bank scope is told it needs it, in every failure of
    publish_many, and nothing is stored."""
    hub.register_client("crm-only", "crm-secret", ["crm"])
    async with client(hub, "crm-only", "crm-secret") as api:
        result = await api.publish_many([make_event(i) for i in range(3)], raise_on_error=False)
    assert not result.ok
    assert len(result.failed) == 3
    for failure in result.failed:
        assert isinstance(failure.error, AuthenticationError)
        assert (
            "the Auth0 application needs the `bank` scope for audience "
            "https://events.24sevenoffice.com" in failure.reason
        )
    assert hub.token_attempts == 1
    assert hub.count() == 0


async def test_token_endpoint_5xx_herd(hub: LocalHub, make_event: MakeEvent) -> None:
    """With the token endpoint answering 503, 50 concurrent publishes cost the token
    retry budget (4 requests) in all and fail with one and the same cause (each a
    DeliveryError that is also an AuthenticationError)."""
    hub.faults.token_error_rate = 1.0
    async with client(hub) as api:
        results = await asyncio.gather(
            *(api.publish(make_event(i)) for i in range(50)), return_exceptions=True
        )
    assert hub.token_attempts == 4
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert all(isinstance(r, DeliveryError) for r in results)
    assert all(r.__cause__ is results[0].__cause__ is not None for r in results)
    assert "http_503" in str(results[0])
    assert hub.api_requests == 0


async def test_api_5xx_at_30_percent_all_delivered(hub: LocalHub, make_event: MakeEvent) -> None:
    """With 30 % of POST /events answered 503, all 60 events are delivered exactly once,
    some after retries."""
    hub.faults.error_rate = 0.3
    async with client(hub) as api:
        result = await api.publish_many([make_event(i) for i in range(60)])
    assert result.ok
    assert hub.count() == 60
    assert sorted(e.event_id for e in hub.received()) == sorted(result.event_ids)  # type: ignore[type-var]
    assert sum(r.attempts for r in result.succeeded) == hub.api_requests > 60
    assert hub.token_requests == 1


async def test_invalid_event_sends_nothing(
    hub: LocalHub, make_event: MakeEvent, bad_event: Any
) -> None:
    """An invalid event among valid ones: EventValidationError, no token, no request."""
    async with client(hub) as api:
        with pytest.raises(EventValidationError, match="registrationDate"):
            await api.publish_many([make_event(0), make_event(1), bad_event])
    assert (hub.token_attempts, hub.api_requests, hub.count()) == (0, 0, 0)


async def test_revoked_token_one_refresh(hub: LocalHub, make_event: MakeEvent) -> None:
    """After the hub revokes every token, 30 concurrent publishes meet 401, cause exactly
    one refresh, and all succeed."""
    async with client(hub) as api:
        await api.publish(make_event(0))
        hub.revoke_tokens()
        results = await asyncio.gather(*(api.publish(make_event(i)) for i in range(1, 31)))
    assert len(results) == 30
    assert hub.token_requests == 2
    assert hub.count() == 31


async def test_nothing_secret_in_logs_or_reprs(
    hub: LocalHub, make_event: MakeEvent, all_logs: pytest.LogCaptureFixture
) -> None:
    """With retries on both endpoints and a revoked token, no log record, repr or error
    shows the client secret or an access token."""
    hub.register_client("leaky", "leaky-secret-5e1d", ["bank"])
    hub.faults.error_rate = 0.3
    texts: list[str] = []
    async with client(hub, "leaky", "leaky-secret-5e1d") as api:
        await api.publish_many([make_event(i) for i in range(20)])
        token = await api.tokens.get_token("bank")
        hub.revoke_tokens()
        result = await api.publish(make_event(99))
        texts += [repr(api), repr(api.tokens), repr(token), repr(result), str(token.key)]
        new_token = await api.tokens.get_token("bank")
    hub.faults.error_rate = 0.0
    hub.faults.token_error_rate = 1.0
    async with client(hub, "leaky", "leaky-secret-5e1d") as api:
        with pytest.raises(AuthenticationError) as info:
            await api.publish(make_event(100))
        texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in all_logs.records]
    assert any(r.levelno == logging.WARNING for r in all_logs.records)
    everything = "\n".join(texts)
    assert "leaky-secret-5e1d" not in everything
    assert token.value not in everything
    assert new_token.value not in everything


async def test_cancellation_mid_publish(
    hub: LocalHub, make_event: MakeEvent, settle: Callable[..., Any]
) -> None:
    """Cancelling publish_many while requests are in flight raises CancelledError; after
    aclose no task of ours is pending and the session is closed."""
    before = asyncio.all_tasks()
    hub.faults.latency = 0.3
    api = client(hub)
    task = asyncio.create_task(api.publish_many([make_event(i) for i in range(40)]))
    for _ in range(500):  # until the token is in and the first POSTs are in flight
        if hub.api_requests:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert hub.token_requests == 1
    assert 0 < hub.api_requests < 40
    assert hub.count() == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await api.aclose()
    assert api.closed
    assert await settle(before, wait=2.0) == set()
    del api, task
    gc.collect()  # an unclosed aiohttp session would warn here (warnings are errors)
