"""Fixtures for the EventBridge publisher tests.

``PutEventsStub`` is a small aiohttp server on 127.0.0.1 that speaks PutEvents (AWS JSON
1.1) and records every call, with fault knobs the local hub does not have: a per-entry
error code chosen by the test, whole-call failures for the next N calls, latency, and a
gate that holds calls open. Protocol fidelity is proven against moto's server and the
local hub; the stub is for faults and for counting exactly what went over the wire.

Every test runs with dummy AWS credentials and region in the environment, and without
the developer's AWS configuration files (an ``AWS_PROFILE`` in the shell must not leak).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)

REGION = "eu-west-1"
_CONTENT_TYPE = "application/x-amz-json-1.1"


def bank_event(n: int = 0, *, first_name: str | None = None) -> BankTestCreatedV1Event:
    """A valid ``bank.test:created@v1`` event, numbered through ``first_name``
    (``Karl<n>``), so each one is recognisable in what a server received."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=first_name if first_name is not None else f"Karl{n}",
                last_name="Marx",
                registration_date=datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC),
                favorite_color=BankTestCreatedV1FavoriteColor.Red,
            ),
            timestamp=datetime(2023, 7, 4, 8, 6, tzinfo=UTC),
        )
    )


def first_name(entry: dict[str, Any]) -> str:
    """The ``firstName`` of a recorded PutEvents entry (the test's event number)."""
    name: str = json.loads(entry["Detail"])["content"]["firstName"]
    return name


def entry_size(entry: dict[str, Any]) -> int:
    """AWS's PutEvents entry size: 14 for ``Time`` if set, plus the UTF-8 bytes of
    ``Source``, ``DetailType``, ``Detail`` and each ``Resources`` item."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key) or "").encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources") or ())


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region; no AWS config files, profiles, IMDS or endpoint
    overrides from the shell; no X-Ray trace id."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "_X_AMZN_TRACE_ID":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Call:
    """One PutEvents request as the stub saw it."""

    entries: list[dict[str, Any]]
    body_bytes: int
    size: int
    status: int = 200
    #: the request's Authorization header (SigV4: names the access key and region)
    authorization: str = ""


@dataclass
class PutEventsStub:
    """A recording PutEvents endpoint with fault knobs. ``url`` has no trailing slash."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    #: every entry accepted, in order, with the EventId it was given
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: per entry: an AWS error code to answer instead of an EventId, or None
    entry_fault: Callable[[dict[str, Any]], str | None] | None = None
    #: the next calls answer these (HTTP status, __type) whole-call errors, in order
    call_failures: list[tuple[int, str]] = field(default_factory=list)
    #: answer this many results fewer than entries (a broken server)
    drop_results: int = 0
    latency: float = 0.0
    #: when set, calls wait for it before being answered
    gate: asyncio.Event | None = None
    in_flight: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def entries_sent(self) -> list[dict[str, Any]]:
        """Every entry of every call that reached the entry stage, in arrival order."""
        return [entry for call in self.calls if call.status == 200 for entry in call.entries]

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers.get("X-Amz-Target") == "AWSEvents.PutEvents"
        body = await request.read()
        entries: list[dict[str, Any]] = json.loads(body)["Entries"]
        call = Call(entries, len(body), sum(entry_size(e) for e in entries))
        call.authorization = request.headers.get("Authorization", "")
        self.calls.append(call)
        self.in_flight += 1
        self.arrived.set()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.call_failures:
            call.status, code = self.call_failures.pop(0)
            return web.json_response(
                {"__type": code, "message": f"stub: {code}"},
                status=call.status,
                content_type=_CONTENT_TYPE,
            )
        results: list[dict[str, str]] = []
        for entry in entries:
            code = self.entry_fault(entry) if self.entry_fault else None
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"stub: {code}"})
            else:
                event_id = str(uuid.uuid4())
                self.accepted.append((event_id, entry))
                results.append({"EventId": event_id})
        failed = sum("ErrorCode" in r for r in results)
        if self.drop_results:
            results = results[: -self.drop_results]
        return web.json_response(
            {"FailedEntryCount": failed, "Entries": results}, content_type=_CONTENT_TYPE
        )


@pytest.fixture
async def stub(serve: Callable[..., Awaitable[str]]) -> AsyncIterator[PutEventsStub]:
    """A started :class:`PutEventsStub` on a random loopback port, stopped after."""
    server = PutEventsStub()
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/", server.handle)
    server.url = await serve(app, handle_signals=False, shutdown_timeout=0.5)
    try:
        yield server
    finally:  # release held calls before `serve` stops the app
        if server.gate is not None:
            server.gate.set()
