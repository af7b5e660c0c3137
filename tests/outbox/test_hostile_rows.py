"""Rows that ``add()`` never writes (another writer, a hand edit, a hostile one) in a
real outbox, relayed to the local hub: each becomes a dead letter with its reason, and
the rows around it are published; none stops the relay or holds the others back."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, text

from tests.outbox.conftest import Database
from tests.outbox.helpers import bridge_client, names, order_event, rows
from tfso_events.local import LocalHub
from tfso_events.outbox import Outbox, OutboxRelay


async def _add_around(database: Database, poison: dict[str, Any]) -> None:
    """Five good orders, the poison row, five more (the poison row in the same claim)."""
    outbox = database.outbox
    async with database.engine.begin() as conn:
        await outbox.add(conn, *(order_event(n) for n in range(5)))
    good = order_event(99)
    row = {
        "detail_type": good.detail_type,
        "source": good.source,
        "module": "bank",
        "bus": "tfso-bank-events",
        "detail": good.detail_json().decode(),
        "resources": None,
    } | poison
    async with database.engine.begin() as conn:
        await conn.execute(outbox.table.insert().values(**row))
    async with database.engine.begin() as conn:
        await outbox.add(conn, *(order_event(n) for n in range(5, 10)))


async def _drain(database: Database, hub: LocalHub) -> OutboxRelay:
    async with bridge_client(hub) as publisher:
        relay = OutboxRelay(database.url, publisher, outbox=database.outbox)
        try:
            await asyncio.wait_for(relay.drain(), 30)
        finally:
            await relay.aclose()
    return relay


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        ({"resources": "5"}, "resources"),
        ({"resources": '"arn:aws:s3:::bucket"'}, "resources"),
        ({"resources": '[1, "arn:aws:s3:::bucket"]'}, "resources"),
        ({"module": "a/b c"}, "module"),
    ],
    ids=["resources-number", "resources-string", "resources-not-strings", "module-not-a-name"],
)
async def test_a_row_the_publisher_cannot_take_is_a_dead_letter_and_the_rest_go(
    database: Database, hub: LocalHub, poison: dict[str, Any], reason: str
) -> None:
    """A row whose resources are JSON but not an array of strings, or whose module names
    no bus, becomes a dead letter saying so; the 10 rows around it reach the hub."""
    await _add_around(database, poison)
    relay = await _drain(database, hub)
    assert sorted(names(hub)) == sorted(f"order-{n}" for n in range(10))
    assert relay.stats.dead == 1
    async with database.engine.connect() as conn:
        (letter,) = await database.outbox.dead_letters(conn)
        status = await database.outbox.status(conn)
    assert reason in letter.reason
    assert (status.backlog, status.dead) == (0, 1)


async def test_a_sqlite_row_that_is_not_utf8_is_a_dead_letter_and_the_rest_go(
    tmp_path: Path, hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SQLite row whose detail is not UTF-8 (written by another program) becomes a
    dead letter, `outbox dead` lists it, and the rows around it are published (it
    failed every claim, so nothing was published at all)."""
    from tfso_events.cli import main

    path = tmp_path / "app.db"
    url = f"sqlite:///{path}"
    outbox = Outbox(MetaData())
    engine = create_engine(url)
    with engine.begin() as conn:
        outbox.table.metadata.create_all(conn)
        outbox.add_sync(conn, *(order_event(n) for n in range(5)))
    engine.dispose()
    good = order_event(99)
    with sqlite3.connect(path) as db:  # bytes that no UTF-8 decoder takes, as TEXT
        db.execute(
            "INSERT INTO tfso_outbox (detail_type, source, module, bus, detail, added_at, "
            "next_try_at) VALUES (?, ?, 'bank', 'tfso-bank-events', CAST(x'7bff7d' AS TEXT), "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
            (good.detail_type, good.source),
        )
    db.close()
    engine = create_engine(url)
    with engine.begin() as conn:
        outbox.add_sync(conn, *(order_event(n) for n in range(5, 10)))
        assert conn.execute(text("SELECT count(*) FROM tfso_outbox")).scalar() == 11
    engine.dispose()
    async with bridge_client(hub) as publisher:
        relay = OutboxRelay(url, publisher, outbox=outbox)
        try:
            await asyncio.wait_for(relay.drain(), 30)
        finally:
            await relay.aclose()
    assert sorted(names(hub)) == sorted(f"order-{n}" for n in range(10))
    assert relay.stats.dead == 1
    assert await asyncio.to_thread(main, ["outbox", "dead", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "UTF-8" in out


async def test_a_hostile_row_does_not_stop_a_running_relay(
    database: Database, hub: LocalHub
) -> None:
    """run() goes on past a row it cannot publish: rows added after it are published."""
    await _add_around(database, {"resources": "5"})
    async with bridge_client(hub) as publisher:
        relay = OutboxRelay(database.url, publisher, outbox=database.outbox, poll_interval=0.05)
        running = asyncio.create_task(relay.run())
        try:
            for _ in range(200):
                if len(names(hub)) >= 10 or running.done():
                    break
                await asyncio.sleep(0.05)
            async with database.engine.begin() as conn:
                await database.outbox.add(conn, order_event(10))
            for _ in range(200):
                if len(names(hub)) >= 11 or running.done():
                    break
                await asyncio.sleep(0.05)
            assert not running.done(), running.exception()
        finally:
            await relay.stop()
            await running
    assert sorted(names(hub)) == sorted(f"order-{n}" for n in range(11))
    assert await rows(database.engine, database.outbox) == 1  # the dead letter
