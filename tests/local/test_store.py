"""What arrived: the SQLite store, GET /events, hub.received() and the threaded hub."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.local.conftest import DETAIL_TYPE, SOURCE, api_body, entry, sample_detail, token_form
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

_OTHER_TYPE = "crm.customer:created@v1"


async def _fill(hub: LocalHub, session: aiohttp.ClientSession, eventbridge: Any) -> None:
    """Two API events, then three PutEvents entries (one of a type outside the catalog)."""
    async with session.post(f"{hub.url}/oauth/token", data=token_form()) as response:
        token = (await response.json())["access_token"]
    for name in ("api-1", "api-2"):
        async with session.post(
            f"{hub.url}/events",
            json=api_body(name),
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200
    answer = await eventbridge.put_events(
        Entries=[
            entry("eb-1"),
            entry(DetailType=_OTHER_TYPE, Detail='{"n": 1}'),
            entry("eb-2", Resources=["urn:x"]),
        ]
    )
    assert answer["FailedEntryCount"] == 0


async def _get(session: aiohttp.ClientSession, hub: LocalHub, **params: str) -> Any:
    async with session.get(f"{hub.url}/events", params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_get_events_lists_everything_in_arrival_order(
    hub: LocalHub, session: aiohttp.ClientSession, eventbridge: Any
) -> None:
    """GET /events returns every record, oldest first, with its fields in camelCase."""
    await _fill(hub, session, eventbridge)
    records = await _get(session, hub)
    assert [r["via"] for r in records] == ["api"] * 2 + ["eventbridge"] * 3
    first = records[0]
    assert set(first) == {
        "id",
        "eventId",
        "via",
        "source",
        "detailType",
        "detail",
        "eventBusName",
        "resources",
        "clientId",
        "receivedAt",
    }
    assert first["detail"] == sample_detail("api-1")
    assert (first["source"], first["detailType"], first["clientId"]) == (
        SOURCE,
        DETAIL_TYPE,
        "local-client",
    )
    assert records[4]["resources"] == ["urn:x"]
    assert records[4]["eventBusName"] == "tfso-bank-events"
    assert first["receivedAt"].endswith("Z")
    assert [r["eventId"] for r in records] == [r.event_id for r in hub.received()]


async def test_get_events_filters(
    hub: LocalHub, session: aiohttp.ClientSession, eventbridge: Any
) -> None:
    """detail_type, via, source, limit, after_id and order filter the list."""
    await _fill(hub, session, eventbridge)
    ids = [r["id"] for r in await _get(session, hub)]
    assert len(await _get(session, hub, via="api")) == 2
    assert len(await _get(session, hub, via="eventbridge")) == 3
    assert [r["detailType"] for r in await _get(session, hub, detail_type=_OTHER_TYPE)] == [
        _OTHER_TYPE
    ]
    assert len(await _get(session, hub, source="nobody")) == 0
    assert [r["id"] for r in await _get(session, hub, limit="2")] == ids[:2]
    assert [r["id"] for r in await _get(session, hub, after_id=str(ids[2]))] == ids[3:]
    assert [r["id"] for r in await _get(session, hub, order="desc", limit="1")] == [ids[-1]]
    assert await _get(session, hub, after_id=str(ids[-1])) == []


@pytest.mark.parametrize(
    "params",
    [{"via": "smoke"}, {"limit": "-1"}, {"limit": "many"}, {"after_id": "x"}, {"order": "up"}],
)
async def test_get_events_refuses_bad_queries(
    hub: LocalHub, session: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    """A bad filter value is a 400 with a JSON message, not a 500 or an empty list."""
    async with session.get(f"{hub.url}/events", params=params) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_query"


async def test_received_records_and_filters(
    hub: LocalHub, session: aiohttp.ClientSession, eventbridge: Any
) -> None:
    """hub.received() gives typed records, filterable like GET /events."""
    await _fill(hub, session, eventbridge)
    records = hub.received()
    assert [r.via for r in records] == ["api", "api", "eventbridge", "eventbridge", "eventbridge"]
    assert [r.detail_type for r in hub.received(_OTHER_TYPE)] == [_OTHER_TYPE]
    assert len(hub.received(via="api")) == 2
    assert hub.count() == 5
    assert hub.count(DETAIL_TYPE, via="eventbridge") == 2
    first = records[0]
    assert first.received_at.tzinfo == UTC
    assert abs((datetime.now(UTC) - first.received_at).total_seconds()) < 60
    with pytest.raises(AttributeError):
        first.source = "changed"  # type: ignore[misc]


async def test_record_parses_into_the_typed_event(hub: LocalHub, eventbridge: Any) -> None:
    """record.parse() gives the <Name>Event (and record.envelope() what a target sees)."""
    await eventbridge.put_events(Entries=[entry("Ada")])
    (record,) = hub.received()
    event = record.parse()
    assert isinstance(event, BankTestCreatedV1Event)
    assert event.detail.content.first_name == "Ada"
    assert event.id == record.event_id
    assert record.envelope()["detail-type"] == DETAIL_TYPE


async def test_clear_forgets_events_but_keeps_counters(hub: LocalHub, eventbridge: Any) -> None:
    """hub.clear() empties the store; counters and clients stay."""
    await eventbridge.put_events(Entries=[entry()])
    hub.clear()
    assert (hub.received(), hub.count(), hub.put_events_calls) == ([], 0, 1)


async def test_file_store_uses_wal_and_survives_a_restart(tmp_path: Path) -> None:
    """db_path keeps events in an SQLite file in WAL mode; a new hub on it sees them."""
    db = tmp_path / "hub.db"
    import aioboto3

    session = aioboto3.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
    )
    async with LocalHub(db_path=db) as first:
        async with session.client("events", endpoint_url=first.url) as client:
            await client.put_events(Entries=[entry("one")])
        with contextlib.closing(sqlite3.connect(db)) as reader:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert reader.execute("SELECT count(*) FROM events").fetchone() == (1,)
    async with LocalHub(db_path=db) as second:
        async with session.client("events", endpoint_url=second.url) as client:
            await client.put_events(Entries=[entry("two")])
        names = [r.detail["content"]["firstName"] for r in second.received()]
    assert names == ["one", "two"]


async def test_received_stays_readable_after_stop() -> None:
    """An in-memory hub's events can still be read after it stopped."""
    async with LocalHub() as hub, aiohttp.ClientSession() as session:
        body = json.dumps({"Entries": [entry()]}).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.PutEvents",
        }
        async with session.post(hub.url, data=body, headers=headers) as response:
            assert response.status == 200
    assert hub.count() == 1
    with pytest.raises(RuntimeError, match="not running"):
        _ = hub.url


def test_sync_with_runs_the_hub_in_a_thread() -> None:
    """`with LocalHub() as hub:` serves from a background thread for blocking code."""
    with LocalHub() as hub:
        request = urllib.request.Request(
            hub.url,
            data=json.dumps({"Entries": [entry()]}).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSEvents.PutEvents",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.load(response)
        assert answer["FailedEntryCount"] == 0
        assert hub.count() == 1
    assert "stopped" in repr(hub)


async def test_start_twice_is_an_error(hub: LocalHub) -> None:
    """start() on a running hub raises instead of leaking a second server."""
    with pytest.raises(RuntimeError, match="already running"):
        await hub.start()


async def test_index_describes_the_hub(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """GET / says what the hub is and that one URL serves all three protocols."""
    async with session.get(hub.url) as response:
        info = await response.json()
    assert info["auth0Domain"] == info["apiUrl"] == info["eventBridgeEndpoint"] == hub.url


def test_public_names() -> None:
    """tfso_events.local exports exactly its documented names; LocalHub is lazily
    importable from tfso_events too."""
    import tfso_events
    import tfso_events.local as local

    assert local.__all__ == sorted(local.__all__)
    assert set(local.__all__) == {
        "DEFAULT_CLIENT_ID",
        "DEFAULT_CLIENT_SECRET",
        "DEFAULT_MAX_REQUEST_BYTES",
        "DEFAULT_READ_TIMEOUT",
        "DEFAULT_PORT",
        "DEFAULT_TOKEN_TTL",
        "Faults",
        "LocalHub",
        "ReceivedEvent",
    }
    assert tfso_events.LocalHub is LocalHub
    assert (local.DEFAULT_PORT, local.DEFAULT_CLIENT_ID) == (8642, "local-client")
