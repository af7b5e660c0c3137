"""``Inbox``: the consumer's side of the outbox: a dedupe store in the application's
own database, whose "done" mark a handler can write in its own transaction.

One row per dedupe key (the table, :func:`inbox_table`):

* ``key`` — the router's dedupe key (``{detail-type}#{id or business key}``);
* ``state`` — ``held`` (claimed, its handler running) or ``done``;
* ``token`` — the claim token of the holder; a done row keeps the token that did it,
  so the router's own ``complete()`` after a handler that marked its key done in its
  transaction finds its claim again;
* ``expires_at`` — while held, the end of the lease (a dead holder's key is free after
  it); while done, the end of the dedupe window;
* ``done_at`` — when it was marked done.

Every statement is one SQL statement with its condition in the ``WHERE``: a claim is an
upsert that takes the row only when it is absent or expired; ``complete``, ``release``
and :meth:`Inbox.mark_done` act only while the caller's token holds the key (``WHERE
key = :key AND token = :token``), and ``release`` only while it is still held, so a
key whose effects committed is never freed. On PostgreSQL the times are the server's
clock (consumers on machines whose clocks disagree agree on leases); on SQLite, one file
on one machine, the consumer's clock is bound as a parameter.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Index,
    Interval,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sl
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tfso_events.consume.dedupe import DONE, HELD, Claim, new_token
from tfso_events.errors import ConfigurationError, DedupeKeyHeldError
from tfso_events.outbox._db import POSTGRESQL, Dialect, dialect_of, relay_engine
from tfso_events.outbox._lease import utcnow
from tfso_events.outbox._table import ddl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["DEFAULT_INBOX_TABLE_NAME", "Inbox", "inbox_table"]

#: The inbox table's name unless the application chooses another.
DEFAULT_INBOX_TABLE_NAME = "tfso_inbox"

#: How long :meth:`Inbox.mark_done` keeps a key done unless told (the router's default
#: dedupe window: EventBridge retries a target for up to 24 hours).
DEFAULT_INBOX_TTL = 24 * 3600.0

_TIME = DateTime(timezone=True)

#: The key column's length.
_KEY_LENGTH = 512
#: What marks a key stored as a digest; a key holding it is stored as a digest too, so
#: no key can be written to look like another's digest.
_DIGEST_MARK = "#sha256:"


def inbox_table(metadata: MetaData, name: str = DEFAULT_INBOX_TABLE_NAME) -> Table:
    """The inbox :class:`~sqlalchemy.Table`, defined in ``metadata``."""
    return Table(
        name,
        metadata,
        Column("key", String(_KEY_LENGTH), primary_key=True),
        Column("state", String(8), nullable=False),
        Column("token", String(64), nullable=False),
        Column("expires_at", _TIME, nullable=False),
        Column("done_at", _TIME, nullable=True),
        # purge() deletes what expired.
        Index(f"ix_{name}_expires_at", "expires_at"),
    )


class Inbox:
    """A :class:`~tfso_events.consume.DedupeStore` in a PostgreSQL or SQLite table of
    the application's database, for ``router.handler(dedupe=inbox)``.

    ::

        inbox = Inbox(DATABASE_URL, Base.metadata)       # the table joins the app's MetaData
        handler = router.handler(dedupe=inbox)

        @router.on(OrderPaid)
        async def on_paid(event: OrderPaid) -> None:
            async with Session.begin() as session:
                session.add(Payment(order_id=event.detail.content.order_id))
                await inbox.mark_done(session)           # same transaction as the payment

    Used as a store only, it gives the router's at-least-once dedupe (held, done,
    a dead holder's key free when its lease ends). With :meth:`mark_done` (or
    :meth:`mark_done_sync`) in the handler's transaction, the handler's effects and
    its key's done mark commit together or not at all: a crash leaves neither, the
    redelivery runs the handler again, and a duplicate after the commit is skipped, so
    effects that live in this database happen exactly once.

    ``db`` is the database (a URL, or an ``AsyncEngine`` whose URL is reused): the
    inbox's claims, completions and releases run on an engine of its own, each in a
    short transaction (on SQLite, ``BEGIN IMMEDIATE``). ``metadata`` (default: a new
    ``MetaData``) receives the table, so Alembic's autogenerate sees it; ``table_name``
    (default ``tfso_inbox``) names it. ``await inbox.aclose()`` disposes of the engine
    (the router's ``LambdaHandler.close()`` calls it). The engine belongs to the event
    loop that first used it: keep one inbox per loop, as with any asyncio engine.
    """

    def __init__(
        self,
        db: str | URL | AsyncEngine,
        metadata: MetaData | None = None,
        *,
        table_name: str = DEFAULT_INBOX_TABLE_NAME,
    ) -> None:
        existing = metadata.tables.get(table_name) if metadata is not None else None
        self.table: Table = (
            existing
            if existing is not None
            else inbox_table(metadata if metadata is not None else MetaData(), table_name)
        )
        """The inbox :class:`~sqlalchemy.Table`."""
        self._db = db
        self._engine: AsyncEngine | None = None
        # Statements built once per dialect: building the claim's upsert and its cache
        # key cost about 1.6 ms of CPU a claim (benchmarks/bench_inbox.py), more than
        # the transaction it runs in on an idle SQLite.
        self._statements: dict[tuple[str, Dialect], Any] = {}
        # The claim of the record being handled in this task: the router awaits claim()
        # in the task that then runs the handler, so mark_done() finds it there.
        self._current: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
            f"tfso_inbox_claim_{id(self)}", default=None
        )

    def __repr__(self) -> str:
        return f"Inbox(table={self.table.fullname!r})"

    def ddl(self, dialect: str) -> str:
        """The ``CREATE TABLE``/``CREATE INDEX`` statements for ``postgresql`` or
        ``sqlite`` (for a schema managed without Alembic)."""
        return ddl(self.table, dialect)

    def _get_engine(self) -> AsyncEngine:
        engine = self._engine
        if engine is None:
            engine = self._engine = relay_engine(self._db)
        return engine

    async def aclose(self) -> None:
        """Dispose of the inbox's engine (a new one is made if it is used again)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    # -- clocks (as in ._lease) -----------------------------------------------------------

    @staticmethod
    def _now(dialect: Dialect) -> ColumnElement[Any]:
        if dialect == POSTGRESQL:
            return func.clock_timestamp()
        return bindparam("now", type_=_TIME)

    @staticmethod
    def _in(dialect: Dialect, name: str) -> ColumnElement[Any]:
        if dialect == POSTGRESQL:
            return func.clock_timestamp() + bindparam(name, type_=Interval())
        return bindparam(f"{name}_at", type_=_TIME)

    @staticmethod
    def _clock(dialect: Dialect, **deltas: float) -> dict[str, Any]:
        if dialect == POSTGRESQL:
            return {name: dt.timedelta(seconds=secs) for name, secs in deltas.items()}
        now = utcnow()
        found: dict[str, Any] = {"now": now}
        for name, secs in deltas.items():
            found[f"{name}_at"] = now + dt.timedelta(seconds=secs)
        return found

    # -- the DedupeStore protocol ---------------------------------------------------------

    async def claim(self, key: str, *, lease: float) -> Claim:
        """Hold ``key`` for ``lease`` seconds under a new token if it is absent or
        expired (one upsert); else say whether it is ``"held"`` or ``"done"``."""
        self._current.set(None)
        engine = self._get_engine()
        dialect = dialect_of(engine.dialect.name)
        token = new_token()
        statement = self._statement("claim", dialect)
        state_of = self._statement("state", dialect)
        for _ in range(3):  # the row may expire or be released between the two statements
            params = {"key": _stored(key), "token": token, **self._clock(dialect, lease=lease)}
            async with engine.begin() as conn:
                taken = (await conn.execute(statement, params)).scalar_one_or_none()
                if taken is not None:
                    self._current.set((key, token))
                    return Claim("claimed", token)
                row = (
                    await conn.execute(state_of, {"b_key": _stored(key), **self._clock(dialect)})
                ).one_or_none()
            if row is not None:
                return DONE if row.state == "done" else HELD
        return HELD

    async def complete(self, key: str, token: str, *, ttl: float) -> bool:
        """Mark ``key`` done for ``ttl`` seconds from now, if ``token`` holds it (or
        marked it done already, in the handler's transaction)."""
        self._forget(key, token)
        engine = self._get_engine()
        async with engine.begin() as conn:
            result = await conn.execute(*self._done(conn, key, token, ttl))
        return _count(result) == 1

    async def release(self, key: str, token: str) -> bool:
        """Free ``key`` (its handler raised), if ``token`` still holds it. A key whose
        done mark committed stays done: its effects happened."""
        self._forget(key, token)
        engine = self._get_engine()
        t = self.table
        async with engine.begin() as conn:
            result = await conn.execute(
                t.delete().where(
                    t.c.key == bindparam("b_key"),
                    t.c.token == bindparam("b_token"),
                    t.c.state == "held",
                ),
                {"b_key": _stored(key), "b_token": token},
            )
        return _count(result) == 1

    def _forget(self, key: str, token: str) -> None:
        if self._current.get() == (key, token):
            self._current.set(None)

    # -- exactly once: the done mark in the handler's transaction --------------------------

    async def mark_done(
        self,
        conn: AsyncConnection | AsyncSession,
        *,
        key: str | None = None,
        token: str | None = None,
        ttl: float = DEFAULT_INBOX_TTL,
    ) -> None:
        """Mark the key of the record being handled done, in ``conn``'s transaction (an
        ``AsyncConnection`` or ``AsyncSession``): it commits with the handler's effects,
        or rolls back with them.

        Called from a handler of a router whose ``dedupe`` is this inbox, it finds the
        record's claim itself; elsewhere pass the ``key`` and the ``token`` of a
        :meth:`claim`. Raises :class:`~tfso_events.DedupeKeyHeldError` when the claim
        no longer holds the key (its lease ran out and another consumer took it): let
        it propagate, so the transaction rolls back and the record is delivered again.
        """
        claim = self._claim_of(key, token)
        connection = await conn.connection() if isinstance(conn, AsyncSession) else conn
        result = await connection.execute(*self._done(connection, *claim, ttl))
        self._check(result, claim[0])

    def mark_done_sync(
        self,
        conn: Connection | Session,
        *,
        key: str | None = None,
        token: str | None = None,
        ttl: float = DEFAULT_INBOX_TTL,
    ) -> None:
        """:meth:`mark_done` for blocking code: a SQLAlchemy ``Connection`` or ``Session``."""
        claim = self._claim_of(key, token)
        connection = conn if isinstance(conn, Connection) else conn.connection()
        result = connection.execute(*self._done(connection, *claim, ttl))
        self._check(result, claim[0])

    def _claim_of(self, key: str | None, token: str | None) -> tuple[str, str]:
        if key is not None and token is not None:
            return key, token
        if key is not None or token is not None:
            raise ValueError("pass both key and token, or neither")
        current = self._current.get()
        if current is None:
            raise ConfigurationError(
                "Inbox.mark_done: no claim of this inbox is being handled here; call it "
                "from a handler of a router made with handler(dedupe=inbox) for an event "
                "that has a dedupe key, or pass key= and token= of your own claim()"
            )
        return current

    def _done(
        self, conn: Connection | AsyncConnection, key: str, token: str, ttl: float
    ) -> tuple[Any, dict[str, Any]]:
        dialect = dialect_of(conn.dialect.name)
        statement = self._statement("done", dialect)
        return statement, {"b_key": _stored(key), "b_token": token, **self._clock(dialect, ttl=ttl)}

    def _statement(self, name: str, dialect: Dialect) -> Any:
        """The statement ``name`` (``claim``, ``state``, ``done``) for ``dialect``,
        built on first use."""
        found = self._statements.get((name, dialect))
        if found is None:
            found = self._statements[(name, dialect)] = self._build(name, dialect)
        return found

    def _build(self, name: str, dialect: Dialect) -> Any:
        t = self.table
        if name == "claim":
            insert = (pg.insert if dialect == POSTGRESQL else sl.insert)(t)
            return (
                insert.values(key=bindparam("key"), state="held", token=bindparam("token"))
                .values(expires_at=self._in(dialect, "lease"), done_at=None)
                .on_conflict_do_update(
                    index_elements=[t.c.key],
                    set_={
                        "state": "held",
                        "token": insert.excluded.token,
                        "expires_at": insert.excluded.expires_at,
                        "done_at": None,
                    },
                    where=t.c.expires_at <= self._now(dialect),
                )
                .returning(t.c.token)
            )
        if name == "state":
            return select(t.c.state).where(
                t.c.key == bindparam("b_key"), t.c.expires_at > self._now(dialect)
            )
        # done. (b_: a bindparam named after a column is reserved for its SET value)
        return (
            t.update()
            .where(t.c.key == bindparam("b_key"), t.c.token == bindparam("b_token"))
            .values(state="done", expires_at=self._in(dialect, "ttl"), done_at=self._now(dialect))
        )

    @staticmethod
    def _check(result: Any, key: str) -> None:
        if _count(result) != 1:
            raise DedupeKeyHeldError(
                f"the claim on dedupe key {key!r} no longer holds it (its lease ended and "
                "another consumer took it, or it was released): roll this transaction "
                "back; the record is delivered again. Size the lease to the handler's "
                "longest run",
                key=key,
            )

    # -- housekeeping ------------------------------------------------------------------

    async def purge(self, conn: AsyncConnection) -> int:
        """Delete the rows whose lease or dedupe window has ended (a claim overwrites
        them anyway; this keeps the table small). Returns how many."""
        dialect = dialect_of(conn.dialect.name)
        t = self.table
        result = await conn.execute(
            t.delete().where(t.c.expires_at <= self._now(dialect)), self._clock(dialect)
        )
        return _count(result)


def _stored(key: str) -> str:
    """The key as the table holds it: itself, or, when the column cannot hold it (longer
    than 512 characters, a NUL: PostgreSQL refuses both, so the record never ran), its
    first 400 characters and a SHA-256 digest of all of it (one key, one row still)."""
    if len(key) <= _KEY_LENGTH and "\x00" not in key and _DIGEST_MARK not in key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[:400].replace(chr(0), '?')}{_DIGEST_MARK}{digest}"


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
