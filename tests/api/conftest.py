"""Fixtures for the API client and token provider tests.

``Auth0Stub`` is a deliberately small aiohttp server on 127.0.0.1 that plays Auth0's
token endpoint and the events API with knobs the local hub does not need (a token
endpoint that fails N times or forever, holds requests open, revokes tokens, echoes the
secret in its error text). Tests that need the real protocol use the local hub.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)

CLIENT_ID = "test-client"
#: A recognisable secret, so a leak is easy to grep for.
CLIENT_SECRET = "s3cr3t-DO-NOT-LEAK-7f1c"


def bank_event(n: int = 0) -> BankTestCreatedV1Event:
    """A valid ``bank.test:created@v1`` event, numbered through ``first_name``."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=f"Karl{n}",
                last_name="Marx",
                registration_date=datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC),
                favorite_color=BankTestCreatedV1FavoriteColor.Red,
            )
        )
    )


def invalid_event() -> BankTestCreatedV1Event:
    """A ``bank.test:created@v1`` event with a naive datetime (a validation error)."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name="Naive",
                last_name="Date",
                registration_date=datetime(2023, 7, 4, 8, 5, 58),  # naive: on purpose
                favorite_color=BankTestCreatedV1FavoriteColor.Red,
            )
        )
    )


@dataclass
class Auth0Stub:
    """A token endpoint and events API with fault knobs. ``url`` has no trailing slash."""

    url: str = ""
    clients: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    token_ttl: int = 3600
    #: the next N token requests answer ``token_fail_status``; -1 means all of them.
    token_failures: int = 0
    token_fail_status: int = 503
    token_fail_headers: dict[str, str] = field(default_factory=dict)
    #: seconds each token request is held before it is answered.
    token_delay: float = 0.0
    #: when set, token requests wait for this event before being answered.
    token_gate: asyncio.Event | None = None
    #: echo the posted client secret in 401 error descriptions (a careless server).
    echo_secret: bool = False
    #: the next N event posts answer ``event_fail_status``.
    event_failures: int = 0
    event_fail_status: int = 503
    event_fail_body: dict[str, Any] = field(default_factory=lambda: {"message": "try later"})
    event_fail_headers: dict[str, str] = field(default_factory=dict)
    #: when set, event posts wait for this event before being answered.
    event_gate: asyncio.Event | None = None
    token_attempts: int = 0
    #: set when the first token request / event post arrives.
    token_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    post_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    tokens_issued: list[str] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    scopes_of: dict[str, set[str]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    event_posts: int = 0
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def register(self, client_id: str, secret: str, scopes: set[str]) -> None:
        """Allow ``client_id``/``secret`` to obtain tokens for ``scopes``."""
        self.clients[client_id] = (secret, set(scopes))

    async def token(self, request: web.Request) -> web.Response:
        self.token_attempts += 1
        self.token_arrived.set()
        form = dict(await request.post())
        self.token_forms.append({k: str(v) for k, v in form.items()})
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_gate is not None:
            await self.token_gate.wait()
        if self.token_failures:
            self.token_failures -= 1 if self.token_failures > 0 else 0
            return web.json_response(
                {"error": "server_error", "error_description": "stub says no"},
                status=self.token_fail_status,
                headers=self.token_fail_headers,
            )
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        known = self.clients.get(client_id)
        if known is None or known[0] != secret:
            text = f"Unauthorized (got {secret})" if self.echo_secret else "Unauthorized"
            return web.json_response(
                {"error": "access_denied", "error_description": text}, status=401
            )
        scope = str(form.get("scope", ""))
        if scope not in known[1]:
            return web.json_response(
                {
                    "error": "access_denied",
                    "error_description": f"Client has not been granted scopes: {scope}",
                },
                status=403,
            )
        token = f"tok-{next(self._ids)}-{secrets.token_hex(8)}"
        self.tokens_issued.append(token)
        self.scopes_of[token] = {scope}
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.token_ttl,
                "token_type": "Bearer",
                "scope": scope,
            }
        )

    async def post_event(self, request: web.Request) -> web.Response:
        self.event_posts += 1
        self.post_arrived.set()
        if self.event_gate is not None:
            await self.event_gate.wait()
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if token not in self.scopes_of or token in self.revoked:
            return web.json_response({"message": "invalid token"}, status=401)
        body = await request.json()
        module = str(body["detailType"]).split(".", 1)[0]
        if module not in self.scopes_of[token]:
            return web.json_response({"message": f"missing scope {module}"}, status=403)
        if self.event_failures:
            self.event_failures -= 1
            return web.json_response(
                self.event_fail_body,
                status=self.event_fail_status,
                headers=self.event_fail_headers,
            )
        event_id = f"evt-{next(self._ids)}"
        self.events.append({**body, "eventId": event_id})
        return web.json_response({"eventId": event_id})


@pytest.fixture
async def stub(serve: Callable[..., Awaitable[str]]) -> Auth0Stub:
    """An :class:`Auth0Stub` on a free loopback port with ``test-client`` registered
    for the ``bank`` and ``crm`` scopes."""
    state = Auth0Stub()
    state.register(CLIENT_ID, CLIENT_SECRET, {"bank", "crm"})
    app = web.Application()
    app.router.add_post("/oauth/token", state.token)
    app.router.add_post("/events", state.post_event)
    state.url = await serve(app)
    return state


@pytest.fixture
def make_event() -> Callable[[int], BankTestCreatedV1Event]:
    """The factory of valid bank events (``make_event(n)``)."""
    return bank_event


@pytest.fixture
def bad_event() -> BankTestCreatedV1Event:
    """An invalid bank event."""
    return invalid_event()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session for tests that hand one to the code under test."""
    async with aiohttp.ClientSession() as session:
        yield session


async def leftover_tasks(before: set[asyncio.Task[Any]], wait: float = 1.0) -> set[str]:
    """Names of tasks started since ``before`` still pending after up to ``wait`` s
    (the loopback server's connection handlers need a moment to see a close)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        pending = asyncio.all_tasks() - before - {asyncio.current_task()}
        if not pending or loop.time() > deadline:
            return {f"{t.get_name()}: {t.get_coro()!r}" for t in pending}
        await asyncio.sleep(0.01)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every ``tfso_events`` log record, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="tfso_events")
    return caplog


@pytest.fixture
def settle() -> Callable[..., Any]:
    """:func:`leftover_tasks`, for tests that check nothing is left running."""
    return leftover_tasks
