"""The outbox table: a SQLAlchemy :class:`~sqlalchemy.Table` (so Alembic's autogenerate
sees it in the application's ``MetaData``) and its plain DDL.

One row is one event waiting to be published:

* ``id`` — a 64-bit integer the database assigns at insert (an identity column on
  PostgreSQL, SQLite's rowid): unique, and sortable in the order rows were written. It
  is the order of an ordering key (see :mod:`._lease`), and a number the database
  assigns needs no clock agreed between machines;
* ``detail_type``, ``source``, ``module`` — the event's class constants as they go on
  the wire (``module`` picks the default bus and the Auth0 scope);
* ``bus`` — the bus name the event was written for (``tfso-{module}-events`` unless
  the outbox was given one);
* ``detail`` — the validated detail JSON exactly as it goes on the wire
  (``event.detail_json()``), as text: never re-encoded, so the relay sends those bytes;
* ``resources`` — the event's ``resources`` as a JSON array, when it has any;
* ``ordering_key`` — optional; rows of one key are published one at a time, in order;
* ``added_at``, ``next_try_at``, ``attempts``, ``last_error`` — when it was written,
  when it may next be tried, how often a relay claimed it, why the last try failed;
* ``lease_token``, ``lease_expires_at`` — the relay holding it, and until when;
* ``dead_at`` — set when it failed for good (a dead letter, with ``last_error`` its
  reason); ``outbox redrive`` clears it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from tfso_events.outbox._db import dialect_of

__all__ = ["DEFAULT_TABLE_NAME", "ddl", "outbox_table"]

#: The table's name unless the application chooses another.
DEFAULT_TABLE_NAME = "tfso_outbox"
#: PostgreSQL's ``fillfactor`` of the outbox table (see :func:`outbox_table`).
FILLFACTOR = 50


def outbox_table(metadata: MetaData, name: str = DEFAULT_TABLE_NAME) -> Table:
    """The outbox :class:`~sqlalchemy.Table`, defined in ``metadata``."""
    return Table(
        name,
        metadata,
        # BIGINT on PostgreSQL; INTEGER PRIMARY KEY on SQLite (only that is its rowid,
        # assigned under the write lock, hence in commit order there).
        Column(
            "id",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("detail_type", String(128), nullable=False),
        Column("source", String(256), nullable=False),
        Column("module", String(64), nullable=False),
        Column("bus", String(1600), nullable=False),
        Column("detail", Text(), nullable=False),
        Column("resources", Text(), nullable=True),
        Column("ordering_key", String(256), nullable=True),
        Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("next_try_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer(), nullable=False, server_default=text("0")),
        Column("last_error", Text(), nullable=True),
        Column("lease_token", String(36), nullable=True),
        Column("lease_expires_at", DateTime(timezone=True), nullable=True),
        Column("dead_at", DateTime(timezone=True), nullable=True),
        # The claim walks live rows in id order; the ordering check looks up a key's
        # older rows.
        Index(f"ix_{name}_live", "dead_at", "id"),
        Index(f"ix_{name}_ordering_key", "ordering_key", "id"),
        # AUTOINCREMENT: an id is never reused, even after the table was emptied.
        sqlite_autoincrement=True,
        # Half of each page left free: a relay's claim rewrites every row it claims (its
        # lease), and with room on the page PostgreSQL does it as a heap-only update,
        # without new index entries. Measured (benchmarks/bench_outbox.py's database-only
        # drain): the server's CPU per row relayed 18-24 µs at the default 100, 10-14 µs
        # at 50. The table is a queue, small when the relays keep up: the space is cheap.
        postgresql_with={"fillfactor": FILLFACTOR},
    )


def ddl(table: Table, dialect: str) -> str:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of ``table`` for ``dialect``
    (``postgresql`` or ``sqlite``), each ending with ``;``."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.engine import Dialect

    compiled_dialect: Dialect = (
        postgresql.dialect() if dialect_of(dialect) == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
    )
    statements = [str(CreateTable(table).compile(dialect=compiled_dialect)).strip()]
    statements += [
        str(CreateIndex(index).compile(dialect=compiled_dialect)).strip()
        for index in sorted(table.indexes, key=lambda index: str(index.name))
    ]
    return "".join(f"{statement};\n\n" for statement in statements).rstrip() + "\n"
