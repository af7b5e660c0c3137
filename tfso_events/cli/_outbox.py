"""``tfso-events relay`` and ``tfso-events outbox ddl|status|dead|redrive``: the
transactional outbox from a shell (extra ``tfso-events[outbox]``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self

from tfso_events.cli._app import TARGET_ARGUMENTS, arg, command, positive_int, seconds
from tfso_events.cli._console import counted
from tfso_events.results import BatchResult, OnResult, PublishFailure, PublishResult

if TYPE_CHECKING:
    from tfso_events.models._base import TfsoEvent
    from tfso_events.outbox import Outbox
    from tfso_events.publishing._batching import RetryPolicy
    from tfso_events.publishing._protocols import Publisher

__all__ = ["demo_orders", "outbox", "relay"]

_TABLE = arg(
    "--table",
    metavar="NAME",
    default="tfso_outbox",
    help="the outbox table's name (default: %(default)s)",
)


def _missing_extra(exc: ImportError) -> int:
    print(
        f"tfso-events: the outbox needs its extra ({exc.name} is missing): "
        "pip install 'tfso-events[outbox]'",
        file=sys.stderr,
    )
    return 2


def _outbox(table: str) -> Outbox:
    from tfso_events.outbox import Outbox

    return Outbox(table_name=table)


@command(
    "relay",
    help="publish the rows of a transactional outbox (run one or many, anywhere)",
    arguments=[
        arg(
            "--db",
            metavar="URL",
            help="postgresql://... or sqlite:///app.db (default TFSO_EVENTS_OUTBOX_DB, which "
            "is safer for a URL with a password: command lines are visible to other users)",
        ),
        _TABLE,
        *TARGET_ARGUMENTS,
        arg("--concurrency", type=positive_int, metavar="N", help="requests in flight at once"),
        arg(
            "--batch-size",
            type=positive_int,
            default=500,
            metavar="N",
            help="rows per claim (default: %(default)s)",
        ),
        arg(
            "--batches",
            type=positive_int,
            default=2,
            metavar="N",
            help="batches publishing at once (default: %(default)s)",
        ),
        arg(
            "--lease",
            type=seconds,
            default=60.0,
            metavar="SECONDS",
            help="how long a claimed batch is this relay's; a dead relay's rows are "
            "published again after it (default: %(default)s)",
        ),
        arg(
            "--poll-interval",
            type=seconds,
            default=1.0,
            metavar="SECONDS",
            help="how often to look for due rows when no NOTIFY wakes the relay "
            "(default: %(default)s)",
        ),
        arg("--no-listen", action="store_true", help="never LISTEN on PostgreSQL: poll only"),
        arg(
            "--max-attempts",
            type=positive_int,
            metavar="N",
            help="claims of one row before it becomes a dead letter (default: no limit)",
        ),
        arg("-v", "--verbose", action="store_true", help="log at DEBUG"),
    ],
)
def relay(args: argparse.Namespace) -> int:
    """Publish what services wrote to the outbox table, until Ctrl-C or SIGTERM (which
    finish the batches in flight first).

    Rows are claimed in batches under a lease, so any number of relays, on any number of
    machines, share one database; each row is deleted as its answer arrives, passing
    failures are retried with backoff, refusals become dead letters (`tfso-events outbox
    dead`). On PostgreSQL a relay wakes on the NOTIFY of each commit; on SQLite it polls.
    Delivery is at least once: a relay killed mid-batch leaves those rows to be sent
    again after the lease.
    """
    if args.via == "api" and args.bus:
        print("tfso-events: --bus applies to --via eventbridge only", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiohttp", "botocore", "aiobotocore", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import sqlalchemy  # noqa: F401  (the extra's first package)
    except ImportError as exc:
        return _missing_extra(exc)
    return asyncio.run(_relay(args))


async def _relay(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from tfso_events.cli._publish import _client
    from tfso_events.environments import resolve_outbox_db
    from tfso_events.errors import ConfigurationError
    from tfso_events.outbox import OutboxRelay
    from tfso_events.publishing._batching import RetryPolicy

    # The publisher as `publish` builds it (the same options). Its retry budget per batch
    # is a third of the lease, with no count: what still fails then waits in the table
    # (--max-attempts counts the relay's claims of a row, not the publisher's tries).
    max_attempts = args.max_attempts
    args.max_attempts, args.retry_deadline = None, args.lease / 3
    try:
        db = resolve_outbox_db(args.db)
        publisher, where = _client(args)
        relay = OutboxRelay(
            db,
            publisher,
            outbox=_outbox(args.table),
            batch_size=args.batch_size,
            concurrency=args.batches,
            lease=args.lease,
            poll_interval=args.poll_interval or 1.0,
            listen=not args.no_listen,
            retry=RetryPolicy(deadline=args.lease / 3),
            max_attempts=max_attempts,
        )
    except ConfigurationError as exc:
        print(f"tfso-events: {exc}", file=sys.stderr)
        return 2
    log = logging.getLogger("tfso_events.outbox")
    # The URL as given, its password hidden (the relay's engine may open SQLite as a URI).
    shown = make_url(db).render_as_string(hide_password=True)
    log.info("relaying %r from %s to %s; Ctrl-C or SIGTERM stops", args.table, shown, where)
    try:
        await relay.run(handle_signals=True)
    finally:
        await publisher.aclose()
    stats = relay.stats
    log.info(
        "stopped: %d published, %d retried later, %d dead letters",
        stats.published,
        stats.retried,
        stats.dead,
    )
    return 0


@command(
    "outbox",
    help="the outbox table: ddl, status, dead letters, redrive",
    arguments=[
        arg("action", choices=["ddl", "status", "dead", "redrive"], help="what to do"),
        arg(
            "--db",
            metavar="URL",
            help="the database (status, dead, redrive; default TFSO_EVENTS_OUTBOX_DB)",
        ),
        arg("--dialect", choices=["postgresql", "sqlite"], help="the DDL's dialect (ddl)"),
        _TABLE,
        arg(
            "--inbox",
            nargs="?",
            const="tfso_inbox",
            metavar="NAME",
            help="ddl: also the consumer inbox table (tfso_events.outbox.Inbox; "
            "default name tfso_inbox)",
        ),
        arg(
            "--id",
            type=int,
            action="append",
            dest="ids",
            metavar="ID",
            help="redrive only this dead letter (repeatable)",
        ),
        arg(
            "--limit",
            type=positive_int,
            default=100,
            metavar="N",
            help="dead letters to list (default: %(default)s)",
        ),
        arg("--json", action="store_true", help="print JSON (status, dead)"),
    ],
)
def outbox(args: argparse.Namespace) -> int:
    """ddl: print CREATE TABLE/INDEX for --dialect (for a schema kept without Alembic).
    status: rows waiting, leased, retrying, the oldest one's age, dead letters.
    dead: each dead letter with its reason. redrive: make dead letters (all, or --id ...)
    due again; the relays then publish them."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        return _missing_extra(exc)
    if args.action == "ddl":
        if not args.dialect:
            print("tfso-events: outbox ddl needs --dialect postgresql|sqlite", file=sys.stderr)
            return 2
        sys.stdout.write(_outbox(args.table).ddl(args.dialect))
        if args.inbox:
            from sqlalchemy import MetaData

            from tfso_events.outbox._inbox import inbox_table
            from tfso_events.outbox._table import ddl

            sys.stdout.write("\n" + ddl(inbox_table(MetaData(), args.inbox), args.dialect))
        return 0
    from tfso_events.environments import resolve_outbox_db
    from tfso_events.errors import ConfigurationError

    try:
        args.db = resolve_outbox_db(args.db)
        if (missing := _missing_sqlite_file(args.db)) is not None:
            # Said before any connection: the relay's engine would not create the file
            # either, and a failed connect leaves aiosqlite's thread behind at exit.
            print(
                f"tfso-events: outbox {args.action}: no SQLite database at {missing} "
                "(unable to open database file); check --db (or TFSO_EVENTS_OUTBOX_DB)",
                file=sys.stderr,
            )
            return 1
        return asyncio.run(_admin(args))
    except ConfigurationError as exc:
        print(f"tfso-events: {exc}", file=sys.stderr)
        return 2


def _missing_sqlite_file(db: str) -> str | None:
    """The path of a SQLite URL whose file does not exist (else ``None``)."""
    from pathlib import Path

    from tfso_events.outbox._db import async_url

    url = async_url(db)
    if url.get_backend_name() != "sqlite" or url.query.get("uri") or not url.database:
        return None
    return None if Path(url.database).exists() else url.database


async def _admin(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from tfso_events._clip import clip
    from tfso_events.outbox._db import relay_engine

    box = _outbox(args.table)
    # The relay's own engine: on SQLite it reads a row that is not UTF-8 as the relay
    # does (`outbox dead` lists the dead letter such a row became).
    engine = relay_engine(args.db)
    where = engine.url.render_as_string(hide_password=True)
    try:
        async with engine.begin() as conn:
            if args.action == "status":
                status = await box.status(conn)
                _print_status(status, as_json=args.json)
            elif args.action == "dead":
                letters = await box.dead_letters(conn, limit=args.limit)
                _print_dead(letters, as_json=args.json)
            else:
                count = await box.redrive(conn, args.ids)
                print(f"{counted(count, 'dead letter')} due again")
    except (SQLAlchemyError, OSError) as exc:
        # Down, refused credentials, no such table: one line saying where and what,
        # not a driver's traceback (the URL with its password hidden).
        cause = exc.orig if isinstance(exc, SQLAlchemyError) and hasattr(exc, "orig") else exc
        print(
            f"tfso-events: outbox {args.action}: the database {where} failed "
            f"({type(cause).__name__}: {clip(cause)}); check --db (or "
            f"TFSO_EVENTS_OUTBOX_DB) and that the table {args.table!r} exists "
            "(`tfso-events outbox ddl` prints it)",
            file=sys.stderr,
        )
        return 1
    finally:
        await engine.dispose()
    return 0


def _print_status(status: Any, *, as_json: bool) -> None:
    fields = {
        "backlog": status.backlog,
        "leased": status.leased,
        "retrying": status.retrying,
        "oldest_age_seconds": status.oldest_age,
        "dead": status.dead,
    }
    if as_json:
        print(json.dumps(fields))
        return
    age = "-" if status.oldest_age is None else f"{status.oldest_age:.1f} s"
    print(f"backlog     {status.backlog} (leased {status.leased}, retrying {status.retrying})")
    print(f"oldest      {age}")
    print(f"dead        {status.dead}")


def _print_dead(letters: list[Any], *, as_json: bool) -> None:
    if as_json:
        for letter in letters:
            print(
                json.dumps(
                    {
                        "id": letter.id,
                        "detail_type": letter.detail_type,
                        "source": letter.source,
                        "ordering_key": letter.ordering_key,
                        "added_at": letter.added_at.isoformat(),
                        "dead_at": letter.dead_at.isoformat(),
                        "attempts": letter.attempts,
                        "reason": letter.reason,
                    }
                )
            )
        return
    if not letters:
        print("no dead letters")
    for letter in letters:
        # A row's text is anyone's who can write the table, and a reason quotes a
        # server: control characters are escaped (no terminal escapes, no forged lines).
        print(
            f"#{letter.id} {_printable(letter.detail_type)} "
            f"(added {letter.added_at:%Y-%m-%d %H:%M:%S}, "
            f"{counted(letter.attempts, 'attempt')}): {_printable(letter.reason)}"
        )


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


# -- `tfso-events demo`'s outbox step ---------------------------------------------------


async def demo_orders(
    publisher: Publisher, events: list[TfsoEvent]
) -> tuple[tuple[PublishResult | PublishFailure, ...], int, int]:
    """Commit one order row and its event per event, each pair in one SQLite
    transaction, then drain the outbox through ``publisher`` with an ``OutboxRelay``;
    returns each outcome, the orders committed and the rows left in the outbox."""
    import tempfile

    from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from tfso_events.outbox import Outbox, OutboxRelay

    metadata = MetaData()
    orders = Table(
        "orders", metadata, Column("id", Integer, primary_key=True), Column("kind", String(128))
    )
    box = Outbox(metadata)
    told: list[PublishResult | PublishFailure] = []
    with tempfile.TemporaryDirectory(prefix="tfso-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/orders.db"
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            for event in events:
                async with engine.begin() as conn:  # the order and its event, or neither
                    await conn.execute(orders.insert().values(kind=event.detail_type))
                    await box.add(conn, event)
            relay = OutboxRelay(url, _Told(publisher, told), outbox=box)
            try:
                await relay.drain()
            finally:
                await relay.aclose()
            async with engine.connect() as conn:
                left = await conn.scalar(select(func.count()).select_from(box.table))
                committed = await conn.scalar(select(func.count()).select_from(orders))
        finally:
            await engine.dispose()
    return tuple(told), int(committed or 0), int(left or 0)


class _Told:
    """A publisher that keeps each outcome (for the demo's check), delegating the rest."""

    def __init__(self, client: Publisher, told: list[PublishResult | PublishFailure]) -> None:
        self._client = client
        self._told = told

    async def publish(self, event: TfsoEvent) -> PublishResult:
        return await self._client.publish(event)

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = True,
        on_result: OnResult | None = None,
        retry: RetryPolicy | None = None,
    ) -> BatchResult:
        def tell(outcome: PublishResult | PublishFailure) -> None:
            self._told.append(outcome)
            if on_result is not None:
                on_result(outcome)

        return await self._client.publish_many(
            events, raise_on_error=raise_on_error, on_result=tell, retry=retry
        )

    async def open(self) -> Self:
        await self._client.open()
        return self

    async def aclose(self) -> None:
        await self._client.aclose()
