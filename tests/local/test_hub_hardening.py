"""Hub input hardening: numbers it cannot read back, query values, hang-ups, JWT times,
oversized headers and client-supplied text in logs (the outside review's findings)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from joserfc import jwt

from tests.local.conftest import DETAIL_TYPE, SOURCE, api_body, sample_detail
from tfso_events.environments import AUDIENCE
from tfso_events.local import DEFAULT_CLIENT_ID, LocalHub

_AMZ = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}


def _raw_detail(**content_extra: str) -> str:
    """The sample detail as JSON text with raw (unquoted) JSON values spliced into
    ``content``: numbers no Python value can be encoded to."""
    text = json.dumps(sample_detail())
    extra = "".join(f', "{k}": {v}' for k, v in content_extra.items())
    return text.replace('"content": {', '"content": {' + extra[2:] + ", ", 1)


# 1e400 and its like are valid JSON that msgspec cannot decode untyped (out of a float's
# range): once stored, every hub.received() failed.
_HUGE = ["1e400", "-1e400", "1" + "0" * 400 + ".5"]


@pytest.mark.parametrize("number", _HUGE)
@pytest.mark.parametrize("where", ["unknownField", "accountStatement"])
async def test_numbers_out_of_range_are_refused_at_both_doors(
    hub: LocalHub, session: aiohttp.ClientSession, number: str, where: str
) -> None:
    """A detail holding a number the hub could not read back (in an unknown field or in
    the Decimal `accountStatement`) is refused by the events API (400 naming the path)
    and by PutEvents (InvalidArgument naming the path); nothing is stored and
    ``received()`` keeps working."""
    detail = _raw_detail(**{where: number})
    body = f'{{"source": "{SOURCE}", "detailType": "{DETAIL_TYPE}", "detail": {detail}}}'
    headers = {"Authorization": f"Bearer {hub.issue_token()}", "Content-Type": "application/json"}
    async with session.post(f"{hub.url}/events", data=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == 400, answer
    assert answer["path"] == f"$.detail.content.{where}"
    entries = [{"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": detail}]
    call = json.dumps({"Entries": entries}).encode()
    async with session.post(hub.url, data=call, headers=_AMZ) as response:
        result = await response.json(content_type=None)
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert f"$.Detail.content.{where}" in result["Entries"][0]["ErrorMessage"]
    assert hub.received() == []
    assert hub.count() == 0


async def test_unknown_detail_types_with_unreadable_numbers_are_refused(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """PutEvents accepts unknown detail-types unvalidated, but not one whose detail the
    hub could not read back: InvalidArgument, nothing stored."""
    entries = [{"Source": "x", "DetailType": "made.up:thing@v1", "Detail": '{"n": [1, 1e400]}'}]
    call = json.dumps({"Entries": entries}).encode()
    async with session.post(hub.url, data=call, headers=_AMZ) as response:
        result = await response.json(content_type=None)
    assert result["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "$.Detail.n[1]" in result["Entries"][0]["ErrorMessage"]
    assert hub.received() == []


async def test_a_large_integer_is_stored_only_if_it_reads_back_exactly(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """An integer of 24+ digits in an unknown field is either refused, or read back by
    ``received()`` as exactly the integer that was sent (never a rounded float)."""
    big = "123456789012345678901234567890"
    entries = [{"Source": "x", "DetailType": "made.up:thing@v1", "Detail": f'{{"n": {big}}}'}]
    call = json.dumps({"Entries": entries}).encode()
    async with session.post(hub.url, data=call, headers=_AMZ) as response:
        result = await response.json(content_type=None)
    if result["FailedEntryCount"]:
        assert hub.received() == []
    else:
        (event,) = hub.received()
        assert event.detail["n"] == int(big)


async def test_reading_the_store_never_fails_on_a_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows written before the hub refused them (a number out of a float's range) read
    back as the exact Decimal that was sent; a row whose detail is no JSON object at all
    is skipped with a warning; ``received()`` never raises."""
    db = tmp_path / "hub.db"
    async with LocalHub(db_path=db) as hub:
        pass
    with sqlite3.connect(db) as conn:
        row = "(?, 'eventbridge', 's', 'made.up:thing@v1', ?, 'default', '[]', NULL, ?)"
        sql = "INSERT INTO events (event_id, via, source, detail_type, detail, event_bus_name, "
        sql += f"resources, client_id, received_at) VALUES {row}"
        conn.execute(sql, ("e1", '{"n": 1e400, "m": 2.5}', time.time()))
        conn.execute(sql, ("e2", "not json", time.time()))
        conn.execute(sql, ("e3", '{"ok": 1}', time.time()))
    with caplog.at_level(logging.WARNING, logger="tfso_events.local"):
        async with LocalHub(db_path=db) as hub:
            received = hub.received()
    assert [e.event_id for e in received] == ["e1", "e3"]
    assert received[0].detail == {"n": Decimal("1e400"), "m": Decimal("2.5")}
    assert received[1].detail == {"ok": 1}
    assert any("skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "value", ["99999999999999999999", "9223372036854775808", "1_000", "٣", "²", "9" * 5000]
)
@pytest.mark.parametrize("name", ["limit", "after_id"])
async def test_huge_or_odd_query_numbers_are_400(
    hub: LocalHub, session: aiohttp.ClientSession, name: str, value: str
) -> None:
    """``GET /events`` answers a ``limit``/``after_id`` over SQLite's 64-bit INTEGER, or
    not written in ASCII digits, with 400 ``invalid_query`` (was 500 OverflowError)."""
    async with session.get(f"{hub.url}/events", params={name: value}) as response:
        answer = await response.json()
        assert response.status == 400, answer
    assert answer["error"] == "invalid_query"
    async with session.get(f"{hub.url}/events", params={name: "9223372036854775807"}) as response:
        assert response.status == 200


async def test_a_client_that_hangs_up_is_not_logged_as_a_bug(
    hub: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that sends half a body and hangs up (its timeout, a cancel) is logged at
    DEBUG, not as an ERROR 'unexpected error ... (a bug)' with a traceback."""
    head = (
        f"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {hub.issue_token()}\r\nContent-Length: 100000\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            _, writer = await asyncio.open_connection("127.0.0.1", hub.port)
            writer.write(head.encode() + b'{"source": "s", "detail')
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.transport.abort()
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session, session.get(f"{hub.url}/") as response:
            assert response.status == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert any("hung up" in r.getMessage() for r in caplog.records)
    assert hub.count() == 0


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_tokens_valid_only_in_the_future_are_401(
    hub: LocalHub, session: aiohttp.ClientSession, claim: str
) -> None:
    """A genuine hub-signed token whose `nbf` or `iat` is an hour ahead is refused (401
    `invalid_token`, saying it is not valid yet); nothing is stored."""
    now = int(time.time())
    claims = {
        "iss": f"{hub.url}/",
        "sub": f"{DEFAULT_CLIENT_ID}@clients",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 7200,
        "scope": "bank",
        "jti": f"future-{claim}",
        claim: now + 3600,
    }
    key = hub._state.tokens._key  # the hub's own signing key: a genuine signature
    token = jwt.encode({"alg": "RS256", "kid": hub.jwks["keys"][0]["kid"]}, claims, key)
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{hub.url}/events", json=api_body(), headers=headers) as response:
        answer = await response.json()
        assert response.status == 401, answer
    assert "not valid yet" in answer["message"]
    assert hub.count() == 0


async def test_an_oversized_header_gets_the_json_error_shape_and_is_not_logged(
    hub: LocalHub, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A 20 KB bearer token (over aiohttp's 8,190-byte header line) is answered 431 in
    the hub's JSON error shape; no log record quotes the header's content."""
    marker = "Zq" * 10_000
    headers = {"Authorization": f"Bearer {marker}", "Content-Type": "application/json"}
    with caplog.at_level(logging.DEBUG):
        async with session.post(f"{hub.url}/events", json=api_body(), headers=headers) as response:
            answer = await response.json()
            assert response.status == 431, answer
    assert answer["error"] == "request_header_too_large"
    assert "Authorization" in answer["message"]
    assert all("ZqZq" not in r.getMessage() and not r.exc_info for r in caplog.records)
    assert hub.count() == 0


async def test_client_supplied_text_is_truncated_in_logs(
    hub: LocalHub, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A 100 KB unknown detail-type is accepted (EventBridge takes any) but its warning
    quotes at most a few hundred characters of it."""
    detail_type = "x" * 100_000
    entries = [{"Source": "s", "DetailType": detail_type, "Detail": "{}"}]
    with caplog.at_level(logging.DEBUG, logger="tfso_events"):
        async with session.post(
            hub.url, data=json.dumps({"Entries": entries}), headers=_AMZ
        ) as response:
            assert response.status == 200
    assert caplog.records
    assert max(len(r.getMessage()) for r in caplog.records) < 1_000
