"""TfsoEventApiClient and TokenProvider over real loopback HTTP against Auth0Stub, for
the faults the local hub does not model (held requests, revoked tokens, echoed
secrets, scripted statuses)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    EventValidationError,
    PublishError,
    RetryPolicy,
    TfsoEventApiClient,
)
from tfso_events.auth import TokenProvider

#: What the ``stub`` fixture registers (with the bank and crm scopes).
CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cr3t-DO-NOT-LEAK-7f1c"
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005)
MakeEvent = Callable[[int], Any]


def client(stub: Any, **kwargs: Any) -> TfsoEventApiClient:
    """A client for the stub with fast retries."""
    options: dict[str, Any] = {"retry": FAST, "auth0_domain": stub.url, "api_url": stub.url}
    options.update(kwargs)
    secret = options.pop("secret", CLIENT_SECRET)
    return TfsoEventApiClient("local", CLIENT_ID, secret, **options)


async def test_wire_format(stub: Any, make_event: MakeEvent) -> None:
    """POST /events carries source, detailType and the validated detail, with a Bearer
    token fetched by client_secret_post for the event's module."""
    event = make_event(1)
    async with client(stub) as api:
        result = await api.publish(event)
    assert result.event_id == stub.events[0]["eventId"]
    assert result.detail_type == "bank.test:created@v1"
    assert result.attempts == 1
    body = stub.events[0]
    assert body["source"] == "com.24sevenoffice.banktransfer"
    assert body["detailType"] == "bank.test:created@v1"
    assert body["detail"] == json.loads(event.detail_json())
    (form,) = stub.token_forms
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "bank"
    assert form["audience"] == "https://events.24sevenoffice.com"
    assert form["client_id"] == CLIENT_ID


async def test_wrong_secret(stub: Any, make_event: MakeEvent) -> None:
    """A wrong secret fails the publish with Auth0's description, one token request and
    no event post."""
    async with client(stub, secret="not-the-secret") as api:
        with pytest.raises(AuthenticationError) as info:
            await api.publish(make_event(0))
    assert "Unauthorized" in str(info.value)
    assert "not-the-secret" not in str(info.value)
    assert (stub.token_attempts, stub.event_posts) == (1, 0)


async def test_missing_scope(stub: Any, make_event: MakeEvent) -> None:
    """An application without the module's scope gets the sentence that names it."""
    stub.register("crm-only", "crm-secret", {"crm"})
    async with (
        client(stub) as api,
        TfsoEventApiClient(
            "local", "crm-only", "crm-secret", auth0_domain=stub.url, api_url=stub.url
        ) as crm_only,
    ):
        await api.publish(make_event(0))
        with pytest.raises(AuthenticationError) as info:
            await crm_only.publish(make_event(1))
    assert (
        "the Auth0 application needs the `bank` scope for audience "
        "https://events.24sevenoffice.com" in str(info.value)
    )
    assert stub.event_posts == 1


async def test_token_endpoint_herd(stub: Any, make_event: MakeEvent) -> None:
    """With the token endpoint failing, 40 concurrent publishes make max_attempts token
    requests in all and each fails with the same cause: an AuthenticationError (each
    publish raises a DeliveryError that is also an AuthenticationError)."""
    stub.token_failures = -1
    stub.token_delay = 0.01  # let every publish queue up behind the first fetch
    async with client(stub, max_concurrency=40) as api:
        results = await asyncio.gather(
            *(api.publish(make_event(i)) for i in range(40)), return_exceptions=True
        )
    assert stub.token_attempts == 4  # DEFAULT_TOKEN_RETRY.max_attempts, not 40 x 4
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len({id(r.__cause__) for r in results}) == 1
    assert isinstance(results[0].__cause__, AuthenticationError)
    assert "gave up after 4 attempts" in str(results[0])
    assert stub.event_posts == 0


async def test_revoked_token_one_refresh_then_success(stub: Any, make_event: MakeEvent) -> None:
    """When the API answers 401 to a cached token, 20 concurrent publishes cause one
    refresh and all succeed."""
    async with client(stub) as api:
        await api.publish(make_event(0))
        stub.revoked.add(stub.tokens_issued[0])
        results = await asyncio.gather(*(api.publish(make_event(i)) for i in range(20)))
    assert len(results) == 20
    assert len(stub.tokens_issued) == 2
    assert len(stub.events) == 21


async def test_api_401_with_a_fresh_token_is_final(stub: Any, make_event: MakeEvent) -> None:
    """If the refreshed token is refused too, the publish fails with AuthenticationError
    after exactly one refresh."""
    async with client(stub) as api:
        await api.publish(make_event(0))
        stub.revoked.update(stub.tokens_issued)
        stub.scopes_of = _RevokingDict(stub)  # every new token is revoked at once
        with pytest.raises(AuthenticationError, match="HTTP 401"):
            await api.publish(make_event(1))
    assert len(stub.tokens_issued) == 2


class _RevokingDict(dict[str, set[str]]):
    """A token table that revokes each token as it is stored."""

    def __init__(self, stub: Any) -> None:
        super().__init__(stub.scopes_of)
        self._stub = stub

    def __setitem__(self, key: str, value: set[str]) -> None:
        self._stub.revoked.add(key)
        super().__setitem__(key, value)


async def test_api_403_names_the_scope(stub: Any, make_event: MakeEvent) -> None:
    """A 403 from the events API is an AuthenticationError naming the missing scope."""
    stub.event_failures, stub.event_fail_status = 1, 403
    async with client(stub) as api:
        with pytest.raises(AuthenticationError, match="needs the `bank` scope"):
            await api.publish(make_event(0))
    assert stub.event_posts == 1


async def test_api_400_is_permanent_with_the_server_message(
    stub: Any, make_event: MakeEvent
) -> None:
    """A 400 is not retried: DeliveryError http_400 quoting the API's message."""
    stub.event_failures, stub.event_fail_status = 1, 400
    stub.event_fail_body = {"message": "detail.content.age must be >= 0"}
    async with client(stub) as api:
        with pytest.raises(DeliveryError) as info:
            await api.publish(make_event(0))
    assert info.value.code == "http_400"
    assert "detail.content.age must be >= 0" in str(info.value)
    assert stub.event_posts == 1


async def test_api_400_with_a_path_is_a_validation_error(stub: Any, make_event: MakeEvent) -> None:
    """A 400 that names a JSON path becomes EventValidationError with that path."""
    stub.event_failures, stub.event_fail_status = 1, 400
    stub.event_fail_body = {"message": "bad colour", "path": "$.content.favoriteColor"}
    async with client(stub) as api:
        with pytest.raises(EventValidationError) as info:
            await api.publish(make_event(0))
    assert info.value.path == "$.content.favoriteColor"


async def test_api_429_honours_retry_after(stub: Any, make_event: MakeEvent) -> None:
    """A 429 with Retry-After is retried after that many seconds and then succeeds."""
    stub.event_failures, stub.event_fail_status = 1, 429
    stub.event_fail_headers = {"Retry-After": "0.2"}
    loop = asyncio.get_running_loop()
    async with client(stub) as api:
        await api.publish(make_event(0))  # token fetched, connection open
        stub.event_failures = 1
        started = loop.time()
        result = await api.publish(make_event(1))
        elapsed = loop.time() - started
    assert result.attempts == 2
    assert elapsed >= 0.2


async def test_retries_run_out(stub: Any, make_event: MakeEvent) -> None:
    """An API that keeps answering 503 ends in a failure entry, not a lost event."""
    stub.event_failures = 100
    async with client(stub) as api:
        result = await api.publish_many([make_event(0), make_event(1)], raise_on_error=False)
        with pytest.raises(PublishError) as info:
            await api.publish_many([make_event(2)])
    assert not result.ok
    assert [f.code for f in result.failed] == ["http_503", "http_503"]
    assert [f.attempts for f in result.failed] == [FAST.max_attempts] * 2
    assert info.value.result is not None
    assert info.value.result.failed[0].index == 0


async def test_invalid_event_sends_nothing(
    stub: Any, make_event: MakeEvent, bad_event: Any
) -> None:
    """One invalid event in publish_many: EventValidationError, no token, no post."""
    async with client(stub) as api:
        with pytest.raises(EventValidationError) as info:
            await api.publish_many([make_event(0), bad_event, make_event(2)])
        with pytest.raises(EventValidationError):
            await api.publish(bad_event)
    assert info.value.path == "$.content.registrationDate"
    assert any("event #1" in note for note in info.value.__notes__)
    assert (stub.token_attempts, stub.event_posts) == (0, 0)


async def test_missing_credentials_before_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No id/secret argument and no variables: ConfigurationError naming the fix."""
    monkeypatch.delenv("TFSO_EVENTS_CLIENT_ID", raising=False)
    monkeypatch.delenv("TFSO_EVENTS_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_CLIENT_ID"):
        TfsoEventApiClient("local")


async def test_closed_client_refuses_work(stub: Any, make_event: MakeEvent) -> None:
    """After aclose, publish and publish_many raise ConfigurationError."""
    api = client(stub)
    await api.publish(make_event(0))
    await api.aclose()
    await api.aclose()  # idempotent
    with pytest.raises(ConfigurationError, match="closed"):
        await api.publish(make_event(1))
    with pytest.raises(ConfigurationError, match="closed"):
        await api.publish_many([make_event(1)])
    assert stub.event_posts == 1


async def test_user_session_is_not_closed(
    stub: Any, make_event: MakeEvent, http: aiohttp.ClientSession
) -> None:
    """A session passed in is used and left open by aclose."""
    async with client(stub, session=http) as api:
        await api.publish(make_event(0))
    assert not http.closed
    assert len(stub.events) == 1


async def test_cancellation_mid_publish_leaves_nothing_behind(
    stub: Any, make_event: MakeEvent, settle: Callable[..., Any]
) -> None:
    """A publish cancelled while its POST is in flight raises CancelledError, and after
    aclose no task or session is left."""
    before = asyncio.all_tasks()
    stub.event_gate = asyncio.Event()
    api = client(stub)
    task = asyncio.create_task(api.publish(make_event(0)))
    await stub.post_arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await api.aclose()
    stub.event_gate.set()
    assert await settle(before) == set()
    del api, task
    gc.collect()  # an unclosed aiohttp session would warn here (warnings are errors)


async def test_cancellation_during_token_fetch(
    stub: Any, make_event: MakeEvent, settle: Callable[..., Any]
) -> None:
    """Publishes cancelled while waiting for a token leave no fetch behind after aclose."""
    before = asyncio.all_tasks()
    stub.token_gate = asyncio.Event()
    api = client(stub)
    tasks = [asyncio.create_task(api.publish(make_event(i))) for i in range(5)]
    await stub.token_arrived.wait()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await api.aclose()
    stub.token_gate.set()
    assert await settle(before) == set()
    assert stub.event_posts == 0


async def test_provider_two_modules_two_tokens(stub: Any) -> None:
    """A provider asked for bank and crm concurrently (many times) fetches two tokens."""
    async with TokenProvider(stub.url, CLIENT_ID, CLIENT_SECRET) as tokens:
        got = await asyncio.gather(*(tokens.get_token(scope) for scope in ["bank", "crm"] * 25))
    assert stub.token_attempts == 2
    assert sorted(f["scope"] for f in stub.token_forms) == ["bank", "crm"]
    assert len({t.value for t in got}) == 2


async def test_secret_and_token_never_logged_or_shown(
    stub: Any, make_event: MakeEvent, all_logs: pytest.LogCaptureFixture
) -> None:
    """Across success, retries, a refusal that echoes the secret and reprs, neither the
    secret nor any token appears in a log record, repr or error message."""
    stub.token_failures = 1
    stub.event_failures = 1
    stub.echo_secret = True
    texts: list[str] = []
    async with client(stub) as api:
        texts.append(repr(api))
        texts.append(repr(api.tokens))
        texts.append(repr(api.tokens.cache))
        result = await api.publish(make_event(0))
        token = await api.tokens.get_token("bank")
        texts += [repr(result), repr(token), str(token.key)]
    async with client(stub, secret=CLIENT_SECRET + "-wrong") as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.publish(make_event(1))
        texts += [str(info.value), repr(info.value), repr(bad)]
    texts += [r.getMessage() for r in all_logs.records]
    texts += [str(r.args) for r in all_logs.records]
    assert any(r.levelno == logging.WARNING for r in all_logs.records)  # retries were logged
    everything = "\n".join(texts)
    assert CLIENT_SECRET not in everything
    for issued in stub.tokens_issued:
        assert issued not in everything
