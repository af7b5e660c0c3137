"""The consumer inbox (tfso_events.outbox.Inbox) on SQLite and a real PostgreSQL: the
dedupe states (held, done, a lapsed holder), the router over SQS-shaped records, and the
exactly-once form: a handler's effects and its done mark commit together, whether the
handler raises, a second consumer races it, or its process is SIGKILLed mid-handler."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

from tests.outbox._inbox_consumer import effects_table
from tests.outbox.conftest import DIALECTS
from tests.outbox.helpers import order_event
from tfso_events import DedupeKeyHeldError
from tfso_events.consume import DedupeStore, EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Inbox
from tfso_events.outbox._db import async_url
from tfso_events.testing import lambda_eventbridge_event, lambda_sqs_event

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class InboxDb:
    """One test's database: an ``inbox`` whose table exists, the consumer's ``effects``
    table, and an async ``engine`` for the test's own statements."""

    dialect: str
    url: str
    engine: AsyncEngine
    inbox: Inbox
    metadata: MetaData

    async def effects(self) -> int:
        """How many effect rows committed."""
        table = self.metadata.tables[self.effects_name]
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    @property
    def effects_name(self) -> str:
        return next(name for name in self.metadata.tables if name.startswith("effects_"))


@pytest.fixture(params=DIALECTS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InboxDb]:
    """An inbox table and an effects table (their own names) on SQLite and PostgreSQL."""
    dialect: str = request.param
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    suffix = uuid.uuid4().hex[:12]
    metadata = MetaData()
    effects_table(metadata, f"effects_{suffix}")
    inbox = Inbox(url, metadata, table_name=f"inbox_{suffix}")
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        if dialect == "sqlite":
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await conn.run_sync(metadata.create_all)
    try:
        yield InboxDb(dialect, url, engine, inbox, metadata)
    finally:
        await inbox.aclose()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


def failures(answer: object) -> int:
    """How many records an SQS batch response fails."""
    assert isinstance(answer, dict)
    return len(answer["batchItemFailures"])


def effecting_router(
    db: InboxDb, *, fail: bool = False, pause: float = 0.0, inbox: Inbox | None = None
) -> EventRouter:
    """A router whose handler inserts one effect row and marks its key done (in
    ``inbox``, default the test's) in one transaction; then it waits ``pause`` seconds
    and raises if ``fail``."""
    effects = db.metadata.tables[db.effects_name]
    marking = inbox or db.inbox
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def on_created(event: BankTestCreatedV1Event) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(effects.insert().values(event_id=event.id))
            await marking.mark_done(conn)
            await asyncio.sleep(pause)
            if fail:
                raise RuntimeError("the handler failed after writing")

    return router


async def test_claim_is_held_then_done_and_a_lapsed_holder_changes_nothing(db: InboxDb) -> None:
    """claim/complete/release: a held key answers held, a completed one done; a holder
    whose lease ended loses the key to the next claim and can neither complete nor
    release it; a released key and an expired done key are free again."""
    inbox = db.inbox
    assert isinstance(inbox, DedupeStore)
    # Leases and windows that must still run at the next check are 1 s (a loaded
    # machine may stall a few hundred ms between two statements); those that must have
    # ended are slept past.
    first = await inbox.claim("k", lease=1.0)
    assert first.state == "claimed"
    assert first.token
    assert (await inbox.claim("k", lease=30)).state == "held"
    await asyncio.sleep(1.2)  # the first holder's lease ends
    second = await inbox.claim("k", lease=30)
    assert second.state == "claimed"
    assert second.token != first.token
    assert first.token is not None
    assert second.token is not None
    assert await inbox.complete("k", first.token, ttl=60) is False
    assert await inbox.release("k", first.token) is False
    assert (await inbox.claim("k", lease=30)).state == "held"
    assert await inbox.release("k", second.token) is True
    third = await inbox.claim("k", lease=30)
    assert third.state == "claimed"
    assert third.token is not None
    assert await inbox.complete("k", third.token, ttl=1.0) is True
    assert (await inbox.claim("k", lease=30)).state == "done"
    assert await inbox.release("k", third.token) is False  # done stays done
    await asyncio.sleep(1.2)  # the dedupe window ends
    assert (await inbox.claim("k", lease=30)).state == "claimed"


async def test_the_router_skips_a_duplicate_and_fails_a_held_record(db: InboxDb) -> None:
    """SQS-shaped records through router.handler(dedupe=inbox): a record whose key
    another consumer holds fails (listed in batchItemFailures) and runs nothing; once
    handled, a duplicate is skipped and acknowledged; the effect happened once."""
    body = json.dumps(lambda_eventbridge_event(order_event(1)))
    key = f"{BankTestCreatedV1Event.detail_type}#{json.loads(body)['id']}"
    handler = effecting_router(db).handler(dedupe=db.inbox, lease=30)
    other = await db.inbox.claim(key, lease=30)  # another consumer is on it
    assert failures(await handler.process(lambda_sqs_event(body), None)) == 1
    assert await db.effects() == 0
    assert other.token is not None
    assert await db.inbox.release(key, other.token)
    assert failures(await handler.process(lambda_sqs_event(body), None)) == 0
    assert failures(await handler.process(lambda_sqs_event(body, body), None)) == 0
    assert await db.effects() == 1


async def test_a_handler_that_raises_leaves_neither_effect_nor_done_mark(db: InboxDb) -> None:
    """The handler writes its effect and its done mark, then raises: both roll back, the
    record fails, and the redelivery runs the handler, whose effect then counts once."""
    body = json.dumps(lambda_eventbridge_event(order_event(2)))
    failing = effecting_router(db, fail=True).handler(dedupe=db.inbox, lease=30)
    assert failures(await failing.process(lambda_sqs_event(body), None)) == 1
    assert await db.effects() == 0
    working = effecting_router(db).handler(dedupe=db.inbox, lease=30)
    assert failures(await working.process(lambda_sqs_event(body), None)) == 0
    assert failures(await working.process(lambda_sqs_event(body), None)) == 0
    assert await db.effects() == 1


async def test_a_lapsed_claim_cannot_mark_done_and_its_effects_roll_back(db: InboxDb) -> None:
    """mark_done with a claim whose lease ended and was taken by another consumer raises
    DedupeKeyHeldError, so the transaction holding its effect rolls back."""
    effects = db.metadata.tables[db.effects_name]
    old = await db.inbox.claim("k", lease=0.2)
    await asyncio.sleep(0.4)
    new = await db.inbox.claim("k", lease=30)
    assert old.token is not None
    assert new.state == "claimed"

    async def effect_and_mark() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(effects.insert().values(event_id="k"))
            await db.inbox.mark_done(conn, key="k", token=old.token)

    with pytest.raises(DedupeKeyHeldError):
        await effect_and_mark()
    assert await db.effects() == 0
    assert (await db.inbox.claim("k", lease=30)).state == "held"


async def test_two_concurrent_consumers_of_one_key_make_one_effect(db: InboxDb) -> None:
    """Two consumers (each its own inbox engine) get the same record at once: one runs
    the handler; the other's record fails as held (or, when its claim waited for the
    first commit, is skipped as done); redelivered, it is skipped. One effect."""
    body = json.dumps(lambda_eventbridge_event(order_event(3)))
    second_inbox = Inbox(db.url, MetaData(), table_name=db.inbox.table.name)
    try:
        first = effecting_router(db, pause=0.3).handler(dedupe=db.inbox, lease=30)
        second = effecting_router(db, pause=0.3, inbox=second_inbox).handler(
            dedupe=second_inbox, lease=30
        )
        answers = await asyncio.gather(
            first.process(lambda_sqs_event(body), None),
            second.process(lambda_sqs_event(body), None),
        )
        assert sorted(failures(answer) for answer in answers)[0] == 0
        assert failures(await first.process(lambda_sqs_event(body), None)) == 0
        assert failures(await second.process(lambda_sqs_event(body), None)) == 0
    finally:
        await second_inbox.aclose()
    assert await db.effects() == 1


async def test_mark_done_sync_joins_a_blocking_session(db: InboxDb) -> None:
    """A sync handler with a blocking Session (sqlite3, psycopg): its effect and the done
    mark commit together; a duplicate is skipped."""
    effects = db.metadata.tables[db.effects_name]
    engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://"))
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    def on_created(event: BankTestCreatedV1Event) -> None:
        with Session(engine) as session, session.begin():
            session.execute(effects.insert().values(event_id=event.id))
            db.inbox.mark_done_sync(session)

    body = json.dumps(lambda_eventbridge_event(order_event(4)))
    try:
        handler = router.handler(dedupe=db.inbox, lease=30)
        assert failures(await handler.process(lambda_sqs_event(body, body), None)) == 0
    finally:
        engine.dispose()
    assert await db.effects() == 1


async def test_mark_done_outside_a_claim_says_what_to_do(db: InboxDb) -> None:
    """mark_done with no claim being handled refuses, naming the two ways to give one."""
    async with db.engine.begin() as conn:
        with pytest.raises(ValueError, match="handler\\(dedupe=inbox\\)"):
            await db.inbox.mark_done(conn)


async def test_a_consumer_killed_mid_handler_leaves_neither_and_redelivery_runs_once(
    db: InboxDb,
) -> None:
    """A consumer process SIGKILLed after its handler wrote the effect and the done mark,
    before the commit: neither is in the database and the key is held until its lease
    ends; the redelivery after it makes the effect exactly once, a duplicate none."""
    body = json.dumps(lambda_eventbridge_event(order_event(5)))
    lease = 4.0
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.outbox._inbox_consumer",
        db.url,
        db.inbox.table.name,
        db.effects_name,
        body,
        str(lease),
        "hang",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line.strip() == b"written"
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert await db.effects() == 0
    handler = effecting_router(db).handler(dedupe=db.inbox, lease=30)
    assert failures(await handler.process(lambda_sqs_event(body), None)) == 1  # still held
    # Redelivered until the lease has ended (a redelivery is how a consumer sees it end).
    async with asyncio.timeout(lease + 10):
        sqs = lambda_sqs_event(body)
        while failures(await handler.process(sqs, None)):  # noqa: ASYNC110
            await asyncio.sleep(0.25)
    assert failures(await handler.process(lambda_sqs_event(body), None)) == 0
    assert await db.effects() == 1


async def test_purge_deletes_only_expired_keys(db: InboxDb) -> None:
    """purge() deletes rows whose lease or window ended and keeps held and done keys."""
    await db.inbox.claim("lapsed", lease=0.2)
    await db.inbox.claim("held", lease=30)
    done = await db.inbox.claim("done", lease=30)
    assert done.token is not None
    assert await db.inbox.complete("done", done.token, ttl=60)
    await asyncio.sleep(0.4)
    async with db.engine.begin() as conn:
        assert await db.inbox.purge(conn) == 1
    assert (await db.inbox.claim("held", lease=30)).state == "held"
    assert (await db.inbox.claim("done", lease=30)).state == "done"


def test_the_inbox_ddl_creates_the_table_on_sqlite(tmp_path: Path) -> None:
    """Inbox.ddl gives statements SQLite accepts, building the table the MetaData describes."""
    import sqlite3

    inbox = Inbox(f"sqlite:///{tmp_path / 'x.db'}")
    statements = inbox.ddl("sqlite")
    assert "CREATE TABLE tfso_inbox" in statements
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.executescript(statements)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(tfso_inbox)")]
    assert columns == [column.name for column in inbox.table.columns]


async def test_a_key_the_column_cannot_hold_is_claimed_and_done_like_any(db: InboxDb) -> None:
    """Keys longer than the 512-character column (a business key from an event's
    content) or holding a NUL are claimed, held, done and released as any key, on
    both databases (PostgreSQL failed every claim of them: the record never ran), and
    two long keys differing only past the column's length stay two keys."""
    long_a, long_b = "k" * 600 + "a", "k" * 600 + "b"
    for key in (long_a, "a\x00b"):
        claim = await db.inbox.claim(key, lease=30)
        assert claim.state == "claimed"
        assert claim.token is not None
        assert (await db.inbox.claim(key, lease=30)).state == "held"
        assert await db.inbox.complete(key, claim.token, ttl=60) is True
        assert (await db.inbox.claim(key, lease=30)).state == "done"
    other = await db.inbox.claim(long_b, lease=30)
    assert other.state == "claimed"
    assert other.token is not None
    assert await db.inbox.release(long_b, other.token) is True
