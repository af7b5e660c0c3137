"""No redirect is ever followed by the events POST or the token POST, and a 2xx without
an event id is not a success (issue 24, item 1).

Every server is real, on 127.0.0.1: the local hub issues tokens, and small aiohttp stubs
play an events API or an Auth0 domain that redirects, and the *other origin* the
redirect points at, which records everything that reaches it and answers ``200`` to
anything (as a login page or another API would).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.api.conftest import bank_event
from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    PublishError,
    RetryPolicy,
    TfsoEventApiClient,
)
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub

Serve = Callable[..., Awaitable[str]]
#: Retries allowed, so that a test would see a 3xx retried if it were.
RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


@dataclass
class Elsewhere:
    """The origin a redirect points at: records every request, answers 200 to all."""

    url: str = ""
    seen: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)
    answer: dict[str, object] = field(default_factory=lambda: {"ok": True})

    async def any(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.path, request.headers.get("Authorization"), body))
        return web.json_response(self.answer)


@dataclass
class Redirector:
    """An origin that answers every request with ``status`` and ``Location: target``
    (a path on itself when ``target`` starts with ``/``); it records what it got."""

    url: str = ""
    status: int = 301
    target: str = ""
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def any(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.seen.append((request.method, request.path, request.headers.get("Authorization")))
        if request.path.startswith("/moved"):  # the same-origin target: 200 to anything
            return web.json_response({"ok": True})
        return web.Response(status=self.status, headers={"Location": self.target})


@pytest.fixture
async def elsewhere(serve: Serve) -> Elsewhere:
    """The other origin, on its own port."""
    state = Elsewhere()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.any)
    state.url = await serve(app)
    return state


@pytest.fixture
async def redirector(serve: Serve) -> Redirector:
    """The redirecting origin, on its own port."""
    state = Redirector()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.any)
    state.url = await serve(app)
    return state


def _client(auth0: str, api: str) -> TfsoEventApiClient:
    return TfsoEventApiClient(
        "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, auth0_domain=auth0, api_url=api,
        retry=RETRY,
    )  # fmt: skip


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_events_post_redirect_to_another_origin_fails(
    hub: LocalHub, redirector: Redirector, elsewhere: Elsewhere, status: int
) -> None:
    """A 3xx from the events API to another origin fails the publish with an error
    naming the status and the Location; nothing reaches that origin and the POST is not
    retried."""
    redirector.status, redirector.target = status, f"{elsewhere.url}/events"
    async with _client(hub.url, redirector.url) as client:
        with pytest.raises(DeliveryError) as info:
            await client.publish(bank_event(0))
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert f"HTTP {status}" in str(error)
    assert f"{elsewhere.url}/events" in str(error)
    assert error.code == f"http_{status}"
    assert elsewhere.seen == []
    assert [m for m, _, _ in redirector.seen] == ["POST"]


async def test_same_origin_redirect_sends_no_get_with_the_token(
    hub: LocalHub, redirector: Redirector
) -> None:
    """A same-origin 301 is not followed: no GET (with or without the bearer token)
    goes to the new path, and the publish fails instead of succeeding with no id."""
    redirector.target = "/moved/events"
    async with _client(hub.url, redirector.url) as client:
        with pytest.raises(DeliveryError, match="HTTP 301"):
            await client.publish(bank_event(0))
    assert [(m, p) for m, p, _ in redirector.seen] == [("POST", "/events")]


async def test_publish_many_reports_each_redirect_as_a_failure(
    hub: LocalHub, redirector: Redirector, elsewhere: Elsewhere
) -> None:
    """publish_many: every redirected event ends in ``failed`` with the status and the
    Location as its reason, each posted exactly once."""
    redirector.status, redirector.target = 307, f"{elsewhere.url}/events"
    async with _client(hub.url, redirector.url) as client:
        result = await client.publish_many([bank_event(n) for n in range(3)], raise_on_error=False)
    assert [r.event_id for r in result.results if hasattr(r, "event_id")] == []
    assert len(result.failed) == 3
    assert all("HTTP 307" in f.reason and elsewhere.url in f.reason for f in result.failed)
    assert len(redirector.seen) == 3
    assert elsewhere.seen == []


async def test_redirect_to_the_real_hub_is_not_followed(
    hub: LocalHub, redirector: Redirector
) -> None:
    """Even a redirect to a working events API (the hub) is refused: the event is not
    stored there, and the hub's ``GET /events`` 200 is never taken for a success."""
    redirector.target = f"{hub.url}/events"
    async with _client(hub.url, redirector.url) as client:
        with pytest.raises(DeliveryError, match="HTTP 301"):
            await client.publish(bank_event(0))
    assert hub.api_requests == 0
    assert hub.count() == 0


@pytest.mark.parametrize(
    "answer",
    [{"ok": True}, {"eventId": ""}, {"eventId": None}, {"message": "welcome"}],
    ids=["no-id", "empty-id", "null-id", "html-like"],
)
async def test_a_2xx_without_an_event_id_is_a_failure(
    hub: LocalHub, elsewhere: Elsewhere, answer: dict[str, object]
) -> None:
    """A 2xx whose body carries no event id (a proxy or a page, not the events API) is
    a failure naming the URL, not a PublishResult with an empty id; it is not resent."""
    elsewhere.answer = answer
    async with _client(hub.url, elsewhere.url) as client:
        with pytest.raises(DeliveryError) as info:
            await client.publish(bank_event(0))
        result = await client.publish_many([bank_event(1)], raise_on_error=False)
    assert info.value.code == "missing_event_id"
    assert "without the event id" in str(info.value)
    assert [f.code for f in result.failed] == ["missing_event_id"]
    assert len(elsewhere.seen) == 2


async def test_the_hub_answers_with_an_event_id(hub: LocalHub) -> None:
    """The counterpart: the hub's 200 carries the event id, and publish returns it."""
    async with _client(hub.url, hub.url) as client:
        result = await client.publish(bank_event(0))
    assert result.event_id
    assert hub.received()[0].event_id == result.event_id


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_token_post_redirect_never_reposts_the_secret(
    hub: LocalHub, redirector: Redirector, elsewhere: Elsewhere, status: int
) -> None:
    """A 3xx from the Auth0 domain (307/308 would re-post the form) is not followed:
    the client secret never reaches the other origin, the token request is not retried,
    and the error names the status and the Location."""
    redirector.status, redirector.target = status, f"{elsewhere.url}/oauth/token"
    async with _client(redirector.url, hub.url) as client:
        with pytest.raises(ConfigurationError) as info:
            await client.publish(bank_event(0))
    text = str(info.value)
    assert f"HTTP {status}" in text
    assert f"{elsewhere.url}/oauth/token" in text
    assert isinstance(info.value, DeliveryError)
    assert not isinstance(info.value, AuthenticationError)
    assert elsewhere.seen == []
    assert [(m, p) for m, p, _ in redirector.seen] == [("POST", "/oauth/token")]
    assert all(DEFAULT_CLIENT_SECRET.encode() not in body for *_, body in elsewhere.seen)
    assert hub.api_requests == 0


async def test_a_redirect_is_a_publish_error_for_publish_many_too(
    hub: LocalHub, redirector: Redirector, elsewhere: Elsewhere
) -> None:
    """publish_many with a redirecting Auth0 domain raises a PublishError that is also a
    ConfigurationError (the same rule as for publish)."""
    redirector.status, redirector.target = 308, f"{elsewhere.url}/oauth/token"
    async with _client(redirector.url, hub.url) as client:
        with pytest.raises(PublishError) as info:
            await client.publish_many([bank_event(0), bank_event(1)])
    assert isinstance(info.value, ConfigurationError)
    assert elsewhere.seen == []
