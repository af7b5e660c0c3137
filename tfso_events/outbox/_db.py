"""The storage floor of the outbox (and, later, of the consumer inbox): which database
we are on, engines made from a URL, SQLite's immediate transactions, and PostgreSQL's
``LISTEN``.

Two dialects are supported, PostgreSQL (asyncpg; psycopg or another driver for the
blocking forms) and SQLite (aiosqlite; the standard sqlite3 for the blocking forms).
Everything that differs between them is decided here or in :mod:`._lease`, from
:func:`dialect_of`, so the rest of the package speaks SQLAlchemy Core only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tfso_events._clip import clip
from tfso_events.errors import ConfigurationError

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "async_url",
    "dialect_of",
    "listen",
    "relay_engine",
]

log = logging.getLogger("tfso_events.outbox")

Dialect = Literal["postgresql", "sqlite"]
POSTGRESQL: Dialect = "postgresql"
SQLITE: Dialect = "sqlite"

#: How long a SQLite connection of ours waits for another writer before it gives up.
SQLITE_BUSY_TIMEOUT = 30.0


def dialect_of(name: str) -> Dialect:
    """``postgresql`` or ``sqlite`` from a SQLAlchemy dialect name; anything else is
    refused, saying what is supported."""
    if name in (POSTGRESQL, SQLITE):
        return name
    raise ConfigurationError(
        f"the outbox supports PostgreSQL and SQLite, not {name!r}: point it at a "
        "postgresql:// or sqlite:/// database"
    )


def dialect_of_connection(conn: Connection | AsyncConnection) -> Dialect:
    """The dialect of a (sync or async) SQLAlchemy connection."""
    return dialect_of(conn.dialect.name)


def async_url(db: str | URL) -> URL:
    """``db`` with an asyncio driver: ``postgresql://`` takes asyncpg, ``sqlite:///``
    aiosqlite; a URL that names an asyncio driver already is kept."""
    try:
        url = make_url(db)
    except (ArgumentError, ValueError):  # (their messages may quote the URL: a password)
        raise ConfigurationError(
            "the outbox database URL cannot be parsed: write it as "
            "postgresql://user:password@host:port/db or sqlite:///path/app.db, with "
            "special characters in the password %-encoded"
        ) from None
    backend = dialect_of(url.get_backend_name())
    driver = url.get_driver_name()
    if backend == POSTGRESQL and driver != "asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == SQLITE and driver != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    if backend == SQLITE and url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "a relay needs a SQLite file it can share with the service "
            "(sqlite:///path/to/app.db), not an in-memory database"
        )
    return url


def relay_engine(db: str | URL | AsyncEngine, *, pool_size: int = 5) -> AsyncEngine:
    """An engine of the relay's own (its connections are its own business: it disposes
    of them when it stops). From an engine, its URL is reused.

    On SQLite every transaction of this engine begins ``BEGIN IMMEDIATE``: a relay
    writes in every transaction it opens, and taking the write lock up front (instead
    of at the first write, as the driver's deferred transactions do) means two relays
    never both read and then race to upgrade, which SQLite answers with
    ``database is locked`` at once instead of waiting.
    """
    url = async_url(db.url if isinstance(db, AsyncEngine) else db)
    if url.get_backend_name() == SQLITE:
        engine = create_async_engine(
            _existing_file(url), connect_args={"timeout": SQLITE_BUSY_TIMEOUT}
        )
        _immediate_transactions(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


def _existing_file(url: URL) -> URL:
    """A SQLite URL that opens its file read-write and never creates it: a relay (or an
    inbox, or ``outbox status``) pointed at a mistyped path says it cannot open it,
    instead of leaving an empty database there and reporting a missing table forever.
    A URL that is a SQLite URI already (``?uri=true``) is kept as it is."""
    if url.query.get("uri") or not url.database:
        return url
    path = urllib.parse.quote(url.database)
    return url.set(database=f"file:{path}").update_query_dict({"mode": "rw", "uri": "true"})


def _immediate_transactions(engine: AsyncEngine) -> None:
    """SQLAlchemy's recipe for SQLite transactions it controls: the driver's own
    (implicit, deferred) BEGIN is turned off and SQLAlchemy emits ``BEGIN IMMEDIATE``."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        # SQLite stores whatever bytes a writer gave as TEXT; the driver's strict UTF-8
        # decode fails the whole claim over one such row, every time, so the relay
        # would publish nothing more. Read with surrogateescape, the row fails alone
        # when it is rebuilt (and becomes a dead letter with its reason).
        dbapi_connection.driver_connection.text_factory = _lenient_text

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _lenient_text(value: bytes) -> str:
    """SQLite TEXT as str; bytes that are not UTF-8 survive as lone surrogates."""
    return value.decode("utf-8", "surrogateescape")


#: The first wait before listening again after the LISTEN connection was lost (or
#: could not be had); doubled each failed try up to ``max_backoff``.
_RELISTEN_FIRST = 0.1
#: How often a listening connection is checked for having closed unnoticed (asyncpg
#: says so at once when the server ends it; this is the belt to those braces).
_CHECK_EVERY = 5.0


@contextlib.asynccontextmanager
async def listen(
    engine: AsyncEngine,
    channel: str,
    on_notify: Callable[[], None],
    *,
    max_backoff: float = 30.0,
) -> AsyncIterator[None]:
    """On PostgreSQL, ``LISTEN channel`` on a connection of its own for the body and
    call ``on_notify()`` for each notification (on SQLite: nothing, the caller polls).

    A lost connection (the server restarted, a failover, an idle-connection reaper,
    ``pg_terminate_backend``) or one that cannot be had is tried again with backoff
    (0.1 s, doubling, up to ``max_backoff``) for as long as the body runs; meanwhile
    the caller's polling finds the rows. Once listening again, ``on_notify()`` is called
    once, since rows committed while nobody listened sent their NOTIFY to no one. One
    log line when listening stops, one when it is back, never one per try."""
    if engine.dialect.name != POSTGRESQL:
        yield
        return
    task = asyncio.ensure_future(_keep_listening(engine, channel, on_notify, max_backoff))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _keep_listening(
    engine: AsyncEngine, channel: str, on_notify: Callable[[], None], max_backoff: float
) -> None:
    failures = 0

    def notified(*_args: object) -> None:
        on_notify()

    while True:
        lost = asyncio.Event()
        error: BaseException | None = None
        conn: AsyncConnection | None = None
        driver: Any = None
        try:
            conn = await engine.connect()
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            driver.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await driver.add_listener(channel, notified)
            if failures:
                failures = 0
                log.info("listening for new outbox rows again")
                on_notify()  # what was committed meanwhile notified no one
            while not lost.is_set() and not driver.is_closed():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_CHECK_EVERY):
                        await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down, or the connection broke
            error = exc
        finally:
            if conn is not None:
                await asyncio.shield(_release(conn, driver, channel, notified))
        failures += 1
        if failures == 1:
            why = f"{type(error).__name__}: {clip(error)}" if error else "the connection closed"
            log.warning(
                "not listening for new outbox rows (%s); polling until listening again, "
                "which is tried with backoff",
                why,
            )
        await asyncio.sleep(min(max_backoff, _RELISTEN_FIRST * 2 ** (failures - 1)))


async def _release(
    conn: AsyncConnection, driver: Any, channel: str, notified: Callable[..., None]
) -> None:
    """Give the listening connection back: clean when it still works, else invalidated
    so the pool never hands out the dead one."""
    with contextlib.suppress(Exception):
        if driver is not None and not driver.is_closed():
            await driver.remove_listener(channel, notified)
            await conn.close()
            return
        await conn.invalidate()
        await conn.close()
