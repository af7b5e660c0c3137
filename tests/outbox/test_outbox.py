"""The outbox and its relay on SQLite and on a real PostgreSQL: ``add()`` commits with
the caller's transaction, the relay publishes the stored wire bytes through the real
publishers to the local hub, dead letters, ordering keys, leases and NOTIFY."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

import pytest
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tests.outbox.conftest import Database
from tests.outbox.helpers import (
    api_client,
    bridge_client,
    first_name,
    names,
    order_event,
    rows,
    unknown_event,
)
from tfso_events import EventTooLargeError, EventValidationError, RetryPolicy
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Outbox, OutboxRelay
from tfso_events.outbox._lease import Lease
from tfso_events.testing import MemoryPublisher, build


async def test_add_commits_and_rolls_back_with_the_callers_transaction(
    database: Database,
) -> None:
    """Rows added in a transaction exist after its commit and not after its rollback,
    through an AsyncConnection and an AsyncSession alike."""
    outbox, engine = database.outbox, database.engine
    async with engine.begin() as conn:
        await outbox.add(conn, order_event(1), order_event(2))
    async with engine.connect() as conn:
        await outbox.add(conn, order_event(3))
        await conn.rollback()
    async with AsyncSession(engine) as session, session.begin():
        await outbox.add(session, order_event(4))
    async with AsyncSession(engine) as session, session.begin():
        await outbox.add(session, order_event(5))
        await session.rollback()
    assert await rows(engine, outbox) == 3


async def test_add_sync_takes_a_blocking_session_and_connection(database: Database) -> None:
    """The blocking form writes in a sync Session's and a sync Connection's transaction
    (sqlite3 and psycopg), and a rollback leaves nothing."""
    outbox = database.outbox
    url = database.url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            outbox.add_sync(session, order_event(1))
        with engine.begin() as conn:
            outbox.add_sync(conn, order_event(2), ordering_key="k")
        with engine.connect() as conn:
            outbox.add_sync(conn, order_event(3))
            conn.rollback()
    finally:
        engine.dispose()
    assert await rows(database.engine, outbox) == 2


async def test_an_invalid_event_writes_nothing_and_names_its_path(database: Database) -> None:
    """add() validates exactly as the publishers: one invalid event among valid ones
    raises EventValidationError with its field path and position, and no row is written
    (so the transaction may go on or roll back as the caller decides)."""
    outbox, engine = database.outbox, database.engine
    bad = build(BankTestCreatedV1Event, content__favorite_color="Mauve")
    async with engine.begin() as conn:
        with pytest.raises(EventValidationError) as caught:
            await outbox.add(conn, order_event(1), bad, order_event(2))
        huge = build(BankTestCreatedV1Event, content__first_name="x" * 300_000)
        with pytest.raises(EventTooLargeError):
            await outbox.add(conn, huge)
    assert caught.value.path == "$.content.favoriteColor"
    assert "outbox.add: event #1; nothing was written" in caught.value.__notes__
    assert await rows(engine, outbox) == 0


@pytest.mark.parametrize("via", ["api", "eventbridge"])
async def test_the_relay_publishes_the_stored_bytes_and_deletes_each_row(
    database: Database, hub: LocalHub, via: str
) -> None:
    """The relay publishes every committed row through the real publisher to the hub,
    with the detail exactly as add() stored it (an int in a float field stays an int),
    and deletes the rows; nothing is left."""
    outbox, engine = database.outbox, database.engine
    events = [order_event(n) for n in range(25)]
    async with engine.begin() as conn:
        await outbox.add(conn, *events)
    client = api_client(hub) if via == "api" else bridge_client(hub)
    async with client:
        relay = OutboxRelay(database.url, client, outbox=outbox, batch_size=10)
        try:
            assert await relay.drain() == 25
        finally:
            await relay.aclose()
    assert sorted(names(hub)) == sorted(f"order-{n}" for n in range(25))
    wire = {json.loads(e.detail_json())["content"]["firstName"]: e.detail_json() for e in events}
    for record in hub.received():
        sent = json.dumps(record.detail, separators=(",", ":")).encode()
        assert sent == wire[record.detail["content"]["firstName"]]
    assert await rows(engine, outbox) == 0
    assert (relay.stats.published, relay.stats.batches) == (25, 3)


async def test_a_detail_type_unknown_to_this_version_is_published_raw(
    database: Database, hub: LocalHub
) -> None:
    """A row whose detail-type the relay's catalog does not know (a newer service wrote
    it) goes out with its stored detail, source and detail-type."""
    async with database.engine.begin() as conn:
        await database.outbox.add(conn, unknown_event())
    async with bridge_client(hub) as client:
        relay = OutboxRelay(database.url, client, outbox=database.outbox)
        try:
            assert await relay.drain() == 1
        finally:
            await relay.aclose()
    [record] = hub.received()
    assert (record.detail_type, record.detail) == (
        "bank.test:renamed@v9",
        {"content": {"x": 1}, "metadata": {}},
    )


async def test_a_permanent_refusal_is_a_dead_letter_and_redrive_resends_it(
    database: Database,
) -> None:
    """An event the hub refuses for good (a strict hub and an unknown detail-type) goes
    to the dead letters with the hub's reason while the others are published; redrive
    makes it due again and a relay then publishes it."""
    outbox, engine = database.outbox, database.engine
    async with engine.begin() as conn:
        await outbox.add(conn, order_event(1), unknown_event(), order_event(2))
    async with LocalHub(strict=True) as strict, bridge_client(strict) as client:
        relay = OutboxRelay(database.url, client, outbox=outbox)
        try:
            assert await relay.drain() == 2
        finally:
            await relay.aclose()
        assert relay.stats.dead == 1
    async with engine.connect() as conn:
        [dead] = await outbox.dead_letters(conn)
        status = await outbox.status(conn)
    assert dead.detail_type == "bank.test:renamed@v9"
    assert "bank.test:renamed@v9" in dead.reason
    assert dead.attempts == 1
    assert (status.backlog, status.dead) == (0, 1)
    async with engine.begin() as conn:
        assert await outbox.redrive(conn) == 1
    async with LocalHub() as lenient, bridge_client(lenient) as client:
        relay = OutboxRelay(database.url, client, outbox=outbox)
        try:
            assert await relay.drain() == 1
        finally:
            await relay.aclose()
        assert [r.detail_type for r in lenient.received()] == ["bank.test:renamed@v9"]
    assert await rows(engine, outbox) == 0


async def test_a_passing_failure_waits_in_the_table_and_is_retried(database: Database) -> None:
    """A throttled event that outlives the publisher's retry budget is not lost: it
    stays with its error and a later next_try_at, and a later pass publishes it."""
    outbox, engine = database.outbox, database.engine
    async with engine.begin() as conn:
        await outbox.add(conn, order_event(1))
    publisher = MemoryPublisher()
    publisher.throttle(times=100)
    quick = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0, adaptive=False)
    relay = OutboxRelay(database.url, publisher, outbox=outbox, retry=quick, max_backoff=0.2)
    try:
        assert await relay.drain() == 0
        async with engine.connect() as conn:
            status = await outbox.status(conn)
        assert (status.backlog, status.retrying, status.dead) == (1, 1, 0)
        publisher.reset()
        await asyncio.sleep(0.25)
        assert await relay.drain() == 1
    finally:
        await relay.aclose()
    assert len(publisher.records) == 1


async def test_rows_of_one_ordering_key_go_one_at_a_time_in_order(database: Database) -> None:
    """Rows with an ordering key are published in the order they were added, one per
    claim, while unkeyed rows go in bulk."""
    outbox, engine = database.outbox, database.engine
    for n in range(5):
        async with engine.begin() as conn:
            await outbox.add(conn, order_event(n), ordering_key="a")
            await outbox.add(conn, order_event(100 + n), ordering_key="b")
    async with engine.begin() as conn:
        await outbox.add(conn, *(order_event(200 + n) for n in range(20)))
    publisher = MemoryPublisher()
    relay = OutboxRelay(database.url, publisher, outbox=outbox, concurrency=1)
    try:
        assert await relay.drain() == 30
    finally:
        await relay.aclose()
    sent = [first_name(e) for e in publisher.events]
    assert [n for n in sent if n in {f"order-{i}" for i in range(5)}] == [
        f"order-{i}" for i in range(5)
    ]
    assert [n for n in sent if n.startswith("order-10")] == [f"order-{100 + i}" for i in range(5)]
    assert relay.stats.batches >= 5  # a key's next row waits for the previous one's answer


async def test_an_expired_lease_is_reclaimed_and_its_old_holder_changes_nothing(
    database: Database,
) -> None:
    """Rows claimed by a relay that then stalls past its lease are claimed again by
    another; the stalled one's delete (its old token) then removes nothing."""
    outbox, engine = database.outbox, database.engine
    async with engine.begin() as conn:
        await outbox.add(conn, order_event(1), order_event(2))
    dialect = "postgresql" if database.dialect == "postgresql" else "sqlite"
    lease = Lease(outbox.table, dialect)  # type: ignore[arg-type]
    async with engine.begin() as conn:
        claimed = (
            await conn.execute(
                lease.claim(), {"token": "stalled", "limit": 10} | lease.params(lease=1.0)
            )
        ).all()
    assert len(claimed) == 2
    publisher = MemoryPublisher()
    relay = OutboxRelay(database.url, publisher, outbox=outbox)
    try:
        assert await relay.drain() == 0  # leased: not due (1 s: a loaded machine stalls)
        await asyncio.sleep(1.1)
        assert await relay.drain() == 2  # expired: reclaimed
    finally:
        await relay.aclose()
    async with engine.begin() as conn:
        pairs = lease.delete_params([(1, "stalled"), (2, "stalled")])
        gone = await conn.execute(lease.delete(), pairs)
    assert gone.rowcount == 0


async def test_the_delete_of_a_flush_removes_only_rows_still_leased_to_their_token(
    database: Database,
) -> None:
    """The one DELETE of a flush matches (id, token) pairs: a row whose lease expired
    and was claimed again under another token stays; the new holder's pair removes it."""
    outbox, engine = database.outbox, database.engine
    async with engine.begin() as conn:
        await outbox.add(conn, *(order_event(n) for n in range(3)))
    lease = Lease(outbox.table, "postgresql" if database.dialect == "postgresql" else "sqlite")

    async def claim(token: str, limit: int, seconds: float) -> list[int]:
        params = {"token": token, "limit": limit} | lease.params(lease=seconds)
        async with engine.begin() as conn:
            return list((await conn.execute(lease.claim(), params)).scalars().all())

    old = await claim("old", 2, 0.1)
    await asyncio.sleep(0.2)
    new = await claim("new", 3, 60)
    assert (len(old), len(new)) == (2, 3)
    async with engine.begin() as conn:
        stale = [(row, "old") for row in old]
        gone = await conn.execute(lease.delete(), lease.delete_params(stale))
        assert gone.rowcount == 0
        mixed = [(old[0], "old"), (old[1], "new"), (new[2], "new")]
        gone = await conn.execute(lease.delete(), lease.delete_params(mixed))
        assert gone.rowcount == 2
    remaining = [old[0]]
    async with engine.connect() as conn:
        left = (await conn.execute(select(outbox.table.c.id))).scalars().all()
    assert left == remaining


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_notify_wakes_an_idle_relay_at_commit(database: Database) -> None:
    """On PostgreSQL an idle relay polling every 30 s publishes a committed row within
    two seconds: add()'s NOTIFY wakes it (SQLite has no NOTIFY: its relays poll)."""
    publisher = MemoryPublisher()
    relay = OutboxRelay(database.url, publisher, outbox=database.outbox, poll_interval=30)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # idle, listening
        async with database.engine.begin() as conn:
            await database.outbox.add(conn, order_event(1))
        async with asyncio.timeout(2):
            while not publisher.records:  # noqa: ASYNC110 - no arrival hook to await
                await asyncio.sleep(0.01)
    finally:
        await relay.stop()
        await running


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_relay_listens_again_after_its_listening_connection_is_terminated(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """After the server ends the relay's LISTEN connection (pg_terminate_backend), the
    relay listens again, saying so in two lines: a row committed next is published
    within 3 s, not at the 30 s poll."""
    caplog.set_level(logging.INFO, logger="tfso_events.outbox")
    publisher = MemoryPublisher()
    relay = OutboxRelay(database.url, publisher, outbox=database.outbox, poll_interval=30)
    running = asyncio.create_task(relay.run())
    listening = text("SELECT pid FROM pg_stat_activity WHERE query ILIKE :listen")
    channel = {"listen": f"LISTEN %{database.outbox.channel}%"}
    try:
        async with asyncio.timeout(10):
            while True:  # a transaction per look: the activity view is read once in each
                async with database.engine.begin() as conn:
                    pids = (await conn.execute(listening, channel)).scalars().all()
                if pids:
                    break
                await asyncio.sleep(0.05)
        assert len(pids) == 1, pids
        async with database.engine.begin() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        await asyncio.sleep(1.0)  # the relay notices (asyncpg says so at once) and listens again
        async with database.engine.begin() as conn:
            await database.outbox.add(conn, order_event(1))
        async with asyncio.timeout(3):
            while not publisher.records:  # noqa: ASYNC110 - no arrival hook to await
                await asyncio.sleep(0.01)
    finally:
        await relay.stop()
        await running
    lines = [r.getMessage() for r in caplog.records if r.name == "tfso_events.outbox"]
    assert [line.split(" (")[0] for line in lines] == [
        "not listening for new outbox rows",
        "listening for new outbox rows again",
    ], lines


async def test_stop_finishes_the_batch_in_flight(database: Database, hub: LocalHub) -> None:
    """stop() while a batch is being published waits for its answers and settles its
    rows: they are published once and gone, and run() returns."""
    async with database.engine.begin() as conn:
        await database.outbox.add(conn, *(order_event(n) for n in range(5)))
    hub.faults.latency = 0.5
    async with api_client(hub) as client:
        relay = OutboxRelay(database.url, client, outbox=database.outbox, poll_interval=0.05)
        running = asyncio.create_task(relay.run())
        while relay.stats.claimed < 5:  # noqa: ASYNC110 - no claim hook to await
            await asyncio.sleep(0.01)
        await relay.stop()
        await running
    assert (hub.count(), relay.stats.published) == (5, 5)
    assert await rows(database.engine, database.outbox) == 0


async def test_the_ddl_builds_the_table_the_metadata_describes(database: Database) -> None:
    """`outbox ddl` for the dialect creates a table with the Table's columns and
    indexes (so a schema made from it and one made by Alembic agree)."""
    outbox = Outbox(MetaData(), table_name="ddl_made")
    async with database.engine.begin() as conn:
        for statement in outbox.ddl(database.dialect).split(";"):
            if statement.strip():
                await conn.execute(text(statement))

        def shape(sync_conn: object) -> tuple[list[str], list[str]]:
            inspector = inspect(sync_conn)
            columns = [c["name"] for c in inspector.get_columns("ddl_made")]
            indexes = sorted(str(i["name"]) for i in inspector.get_indexes("ddl_made"))
            return columns, indexes

        columns, indexes = await conn.run_sync(shape)
        await conn.execute(text("DROP TABLE ddl_made"))
    assert columns == [c.name for c in outbox.table.columns]
    assert indexes == sorted(str(i.name) for i in outbox.table.indexes)


def test_import_tfso_events_loads_no_database_stack() -> None:
    """`import tfso_events`, parse_event and the consume router load neither SQLAlchemy
    nor a database driver; only tfso_events.outbox does."""
    code = (
        "import sys, tfso_events\n"
        "from tfso_events import parse_event\n"
        "from tfso_events.consume import EventRouter\n"
        "bad = [m for m in ('sqlalchemy', 'asyncpg', 'aiosqlite', 'psycopg') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import tfso_events.outbox\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_relay_refuses_an_in_memory_sqlite() -> None:
    """A relay cannot share an in-memory SQLite with a service: it says so."""
    from tfso_events import ConfigurationError

    with pytest.raises(ConfigurationError, match="SQLite file"):
        OutboxRelay("sqlite://", MemoryPublisher())


def test_the_outbox_names_are_exported_and_documented() -> None:
    """tfso_events.outbox exports its deliberate list, each name with a docstring."""
    import tfso_events.outbox as module

    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type):
            assert value.__doc__, name


async def test_transactions_adding_for_one_key_commit_in_the_order_of_their_rows(
    database: Database,
) -> None:
    """A second transaction adding for a key another open transaction holds waits for
    its commit (PostgreSQL: the key's advisory lock; SQLite: the write lock), so the
    key's rows are published in commit order."""
    outbox, engine = database.outbox, database.engine
    first = await engine.connect()
    second = await engine.connect()
    try:
        await first.begin()
        await outbox.add(first, order_event(1), ordering_key="account-7")
        await second.begin()
        adding = asyncio.ensure_future(outbox.add(second, order_event(2), ordering_key="account-7"))
        await asyncio.sleep(0.3)
        assert not adding.done(), "the second transaction should wait for the first"
        await first.commit()
        await asyncio.wait_for(adding, 10)
        await second.commit()
    finally:
        await first.close()
        await second.close()
    publisher = MemoryPublisher()
    relay = OutboxRelay(database.url, publisher, outbox=outbox)
    try:
        assert await relay.drain() == 2
    finally:
        await relay.aclose()
    sent = [first_name(e) for e in publisher.events]
    assert sent == ["order-1", "order-2"]


async def test_the_wrong_form_for_the_connection_says_which_to_use(database: Database) -> None:
    """add() with a sync connection and add_sync() with an async one raise TypeError
    naming the other form, and write nothing."""
    engine = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn, pytest.raises(TypeError, match="add_sync"):
            await database.outbox.add(conn, order_event(1))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    async with database.engine.begin() as conn:
        with pytest.raises(TypeError, match=r"await outbox\.add\(\)"):
            database.outbox.add_sync(conn, order_event(1))  # type: ignore[arg-type]
    assert await rows(database.engine, database.outbox) == 0


@pytest.mark.parametrize("key", ["k" * 257, "a\x00b"], ids=["longer-than-256", "nul"])
async def test_an_ordering_key_the_column_cannot_hold_is_refused_before_any_statement(
    database: Database, key: str
) -> None:
    """An ordering key over 256 characters or with a NUL raises ValueError before any
    statement, on both databases (PostgreSQL failed the caller's transaction with a
    driver error; SQLite stored it), and the transaction goes on."""
    async with database.engine.begin() as conn:
        with pytest.raises(ValueError, match="ordering_key"):
            await database.outbox.add(conn, order_event(1), ordering_key=key)
        await database.outbox.add(conn, order_event(2), ordering_key="k" * 256)
    assert await rows(database.engine, database.outbox) == 1


async def test_status_on_postgresql_reads_the_servers_clock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status() on PostgreSQL counts leases and ages rows by the server's clock, as the
    relays do: a caller whose clock runs an hour ahead still sees the live lease and a
    fresh row (the clock is patched: a machine's skew has no other stand-in)."""
    import datetime as dt

    from sqlalchemy.ext.asyncio import create_async_engine

    import tfso_events.outbox._outbox as outbox_module
    from tfso_events.outbox._db import async_url

    outbox = Outbox(MetaData(), table_name="outbox_clock")
    engine = create_async_engine(async_url(postgres_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(outbox.table.metadata.create_all)
            await outbox.add(conn, order_event(1))
            await conn.execute(
                outbox.table.update().values(
                    lease_token="t", lease_expires_at=text("clock_timestamp() + interval '60 s'")
                )
            )
        ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        monkeypatch.setattr(outbox_module, "utcnow", lambda: ahead)
        async with engine.connect() as conn:
            status = await outbox.status(conn)
        assert status.leased == 1
        assert status.oldest_age is not None
        assert status.oldest_age < 60
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(outbox.table.metadata.drop_all)
        await engine.dispose()
