"""``Outbox``: the table, ``add()`` in the caller's transaction, and the admin reads
(status, dead letters, redrive)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, MetaData, Table, bindparam, case, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import tfso_events.telemetry as telemetry
from tfso_events.errors import EventValidationError
from tfso_events.models._base import TfsoEvent
from tfso_events.outbox._db import POSTGRESQL, Dialect, dialect_of
from tfso_events.outbox._lease import Lease, utcnow
from tfso_events.outbox._table import DEFAULT_TABLE_NAME, ddl, outbox_table
from tfso_events.publishing.eventbridge import DEFAULT_MAX_REQUEST_BYTES, TfsoEventBridgeClient

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["DeadLetter", "Outbox", "OutboxStatus"]

#: The ordering_key column's length.
_MAX_KEY = 256

_COLUMNS = ("detail_type", "source", "module", "bus", "detail", "resources", "ordering_key")


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """What ``tfso-events outbox status`` shows.

    ``backlog``: rows waiting to be published (not dead letters), of which ``leased``
    are held by a relay right now and ``retrying`` failed at least once;
    ``oldest_age``: seconds since the oldest of them was added (``None`` when there is
    none); ``dead``: dead letters.
    """

    backlog: int
    leased: int
    retrying: int
    oldest_age: float | None
    dead: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row that failed for good: its ``id``, the event's ``detail_type`` and
    ``source``, its ``ordering_key``, when it was added and buried, how often it was
    tried, the ``reason`` and the stored ``detail`` JSON."""

    id: int
    detail_type: str
    source: str
    ordering_key: str | None
    added_at: dt.datetime
    dead_at: dt.datetime
    attempts: int
    reason: str
    detail: str


class Outbox:
    """The transactional outbox: events written in the caller's own transaction, and
    published by an :class:`~tfso_events.outbox.OutboxRelay` after it commits.

    ::

        outbox = Outbox(Base.metadata)          # the table joins the app's MetaData

        async with session.begin():
            session.add(order)
            await outbox.add(session, OrderCreated(...))   # same transaction

    ``metadata`` (default: a new ``MetaData``) receives the table, so Alembic's
    autogenerate sees it; ``table_name`` (default ``tfso_outbox``) names it.
    ``event_bus_name`` and ``max_request_bytes`` are the EventBridge publisher's options
    of the same name: ``add()`` validates exactly as that publisher does with them.
    """

    def __init__(
        self,
        metadata: MetaData | None = None,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        event_bus_name: str | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        existing = metadata.tables.get(table_name) if metadata is not None else None
        self.table: Table = (
            existing
            if existing is not None
            else outbox_table(metadata if metadata is not None else MetaData(), table_name)
        )
        """The outbox :class:`~sqlalchemy.Table`."""
        # The EventBridge publisher's own checks (detail, DetailType, Source, size,
        # resources): what add() accepts is what a publisher accepts. It never connects.
        self._checker = TfsoEventBridgeClient(
            "dev", event_bus_name, max_request_bytes=max_request_bytes
        )
        self._inserts: dict[Dialect, Insert] = {}

    def __repr__(self) -> str:
        return f"Outbox(table={self.table.fullname!r})"

    @property
    def channel(self) -> str:
        """The PostgreSQL ``NOTIFY`` channel ``add()`` signals (the table's name)."""
        return self.table.name

    def ddl(self, dialect: str) -> str:
        """The ``CREATE TABLE``/``CREATE INDEX`` statements for ``postgresql`` or
        ``sqlite`` (for a schema managed without Alembic)."""
        return ddl(self.table, dialect)

    # -- add ---------------------------------------------------------------------------

    async def add(
        self,
        conn: AsyncConnection | AsyncSession,
        *events: TfsoEvent,
        ordering_key: str | None = None,
    ) -> None:
        """Write ``events`` to the outbox in ``conn``'s transaction (an
        ``AsyncConnection`` or ``AsyncSession``); they are published after it commits,
        and never if it rolls back.

        Every event is validated first, exactly as the publishers validate:
        :class:`~tfso_events.EventValidationError` (with the field path and the event's
        position) and nothing is written when any is invalid. No network call. On
        PostgreSQL a ``NOTIFY`` in the same transaction wakes the relays at commit.
        ``ordering_key``: the events of one key are published one at a time, in the
        order their transactions committed.
        """
        rows = self._rows(events, ordering_key)
        if not rows:
            return
        given: object = conn  # (checked at run time too: a sync one would fail obscurely)
        if isinstance(given, AsyncSession):
            connection = await given.connection()
        elif isinstance(given, AsyncConnection):
            connection = given
        else:
            raise TypeError(
                f"outbox.add() takes an AsyncConnection or AsyncSession, not "
                f"{type(conn).__name__}; for a sync Connection or Session, use add_sync()"
            )
        dialect = dialect_of(connection.dialect.name)
        if ordering_key is not None and dialect == POSTGRESQL:
            await connection.execute(*self._key_lock(ordering_key))
        await connection.execute(self._insert(dialect), self._params(dialect, rows))

    def add_sync(
        self, conn: Connection | Session, *events: TfsoEvent, ordering_key: str | None = None
    ) -> None:
        """:meth:`add` for blocking code: a SQLAlchemy ``Connection`` or ``Session``."""
        rows = self._rows(events, ordering_key)
        if not rows:
            return
        given: object = conn
        if isinstance(given, AsyncConnection | AsyncSession):
            raise TypeError(
                f"outbox.add_sync() takes a sync Connection or Session, not "
                f"{type(conn).__name__}; await outbox.add() instead"
            )
        connection = conn if isinstance(conn, Connection) else conn.connection()
        dialect = dialect_of(connection.dialect.name)
        if ordering_key is not None and dialect == POSTGRESQL:
            connection.execute(*self._key_lock(ordering_key))
        connection.execute(self._insert(dialect), self._params(dialect, rows))

    def _rows(self, events: Sequence[TfsoEvent], ordering_key: str | None) -> list[dict[str, Any]]:
        if ordering_key is not None:
            if not isinstance(ordering_key, str):
                raise TypeError(f"ordering_key must be a str or None, got {type(ordering_key)}")
            # Refused here, before any statement: on PostgreSQL the column's limit or a
            # NUL fails the caller's whole transaction with a driver error.
            if len(ordering_key) > _MAX_KEY or "\x00" in ordering_key:
                raise ValueError(
                    f"ordering_key must be at most {_MAX_KEY} characters without NUL "
                    f"(got {len(ordering_key)}); use a shorter id of the aggregate, or "
                    "a hash of it"
                )
        entry = self._checker._entry
        # The current trace context goes into the stored detail.metadata, so the relay's
        # publish continues the trace of the transaction that added the row.
        observed = telemetry.capturing()
        rows = []
        for index, event in enumerate(events):
            try:
                payload = entry(index, event, None, observed).payload
            except EventValidationError as exc:
                exc.add_note(f"outbox.add: event #{index}; nothing was written")
                raise
            resources = payload.get("Resources")
            rows.append(
                {
                    "detail_type": payload["DetailType"],
                    "source": payload["Source"],
                    "module": type(event).module,
                    "bus": payload["EventBusName"],
                    "detail": payload["Detail"],
                    "resources": json.dumps(resources) if resources else None,
                    "ordering_key": ordering_key,
                }
            )
        return rows

    def _key_lock(self, key: str) -> tuple[Any, dict[str, str]]:
        # A transaction-scoped advisory lock per key: transactions adding for one key
        # run one after the other, so their ids (assigned after the lock) follow their
        # commit order. Namespaced by the table, so the application's own advisory
        # locks do not collide with ours by chance.
        return (
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"{self.table.fullname}:{key}"},
        )

    def _insert(self, dialect: Dialect) -> Insert:
        statement = self._inserts.get(dialect)
        if statement is not None:
            return statement
        t = self.table
        if dialect == POSTGRESQL:
            # The NOTIFY rides in the INSERT (one statement, one round trip): a
            # one-row subquery calling pg_notify() is the FROM of the inserted row.
            # PostgreSQL delivers it at commit, once per transaction however many rows.
            notify = select(func.pg_notify(bindparam("channel"), "").label("n")).subquery()
            values = select(
                *(bindparam(name, type_=t.c[name].type) for name in _COLUMNS)
            ).select_from(notify)
            statement = t.insert().from_select(list(_COLUMNS), values)
        else:
            statement = t.insert()
        self._inserts[dialect] = statement
        return statement

    def _params(self, dialect: Dialect, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if dialect == POSTGRESQL:
            channel = self.channel
            for row in rows:
                row["channel"] = channel
        else:  # SQLite's CURRENT_TIMESTAMP has whole seconds: the time is ours
            now = utcnow()
            for row in rows:
                row["added_at"] = row["next_try_at"] = now
        return rows

    # -- admin -------------------------------------------------------------------------

    async def status(self, conn: AsyncConnection) -> OutboxStatus:
        """Backlog, leased and retrying rows, the oldest row's age, dead letters."""
        t = self.table
        live = t.c.dead_at.is_(None)
        # The relays' clock: the server's on PostgreSQL (so a caller whose clock is
        # off still sees the leases the relays see), the caller's on SQLite.
        now: Any = (
            func.clock_timestamp()
            if dialect_of(conn.dialect.name) == POSTGRESQL
            else bindparam("at", utcnow(), type_=t.c.added_at.type)
        )
        leased = case((live & (t.c.lease_expires_at > now), 1), else_=0)
        query = select(
            func.coalesce(func.sum(case((live, 1), else_=0)), 0),
            func.coalesce(func.sum(leased), 0),
            func.coalesce(func.sum(case((live & t.c.last_error.is_not(None), 1), else_=0)), 0),
            func.min(case((live, t.c.added_at), else_=None)),
            func.coalesce(func.sum(case((live, 0), else_=1)), 0),
            now.label("now"),
        )
        backlog, leased_count, retrying, oldest, dead, now_value = (await conn.execute(query)).one()
        age = None
        if oldest is not None:
            age = max(0.0, (_aware(now_value) - _aware(oldest)).total_seconds())
        return OutboxStatus(int(backlog), int(leased_count), int(retrying), age, int(dead))

    async def dead_letters(self, conn: AsyncConnection, *, limit: int = 100) -> list[DeadLetter]:
        """The dead letters, oldest first (at most ``limit``)."""
        t = self.table
        rows = await conn.execute(
            select(
                t.c.id,
                t.c.detail_type,
                t.c.source,
                t.c.ordering_key,
                t.c.added_at,
                t.c.dead_at,
                t.c.attempts,
                t.c.last_error,
                t.c.detail,
            )
            .where(t.c.dead_at.is_not(None))
            .order_by(t.c.id)
            .limit(limit)
        )
        return [
            DeadLetter(
                row.id,
                row.detail_type,
                row.source,
                row.ordering_key,
                _aware(row.added_at),
                _aware(row.dead_at),
                row.attempts,
                row.last_error or "",
                row.detail,
            )
            for row in rows
        ]

    async def redrive(self, conn: AsyncConnection, ids: Sequence[int] | None = None) -> int:
        """Make dead letters (every one, or those of ``ids``) due again, with their
        attempts reset; returns how many. The relays publish them as any other row."""
        lease = Lease(self.table, dialect_of(conn.dialect.name))
        result = await conn.execute(lease.redrive(ids), lease.params())
        return int(getattr(result, "rowcount", 0) or 0)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back naive; ours are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
