"""The statements that share an outbox between relays: claim a batch under a lease,
settle each row with the lease's token, and the bookkeeping around them.

The claim is one statement (as faststream-outbox and eventsourcing's PostgreSQL
recorder do it): ``UPDATE ... SET lease_token = :token ... WHERE id IN (SELECT id ...
ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ...``. A row is due when it is not
dead, its ``next_try_at`` has come, and nobody holds a live lease on it: an expired
lease (a relay that died, or stalled past its lease) is reclaimed by the same statement.
``SKIP LOCKED`` lets any number of relays claim at once, each passing over the rows
another is claiming; PostgreSQL is the coordinator. On SQLite the claim runs in an
immediate transaction (:func:`._db.relay_engine`): one writer at a time.

Every later write names the row *and* the token (``WHERE id = :id AND lease_token =
:token``; the delete of a flush matches ``(id, token)`` pairs), so a relay whose lease
was taken over changes nothing: the new holder's outcome stands.

Ordering keys: a keyed row is due only while no older live row has its key, so a key's
rows go one at a time, oldest first. On PostgreSQL, :meth:`Outbox.add
<tfso_events.outbox.Outbox.add>` takes a transaction-scoped advisory lock on the key
before its insert, so two transactions adding for one key commit in ``id`` order; on
SQLite writers are serial anyway.

Times: on PostgreSQL every time is the server's clock (``clock_timestamp()``), so relays
on machines whose clocks disagree still agree on leases; on SQLite, one file on one
machine, the relay's clock is bound as a parameter.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Interval,
    String,
    Table,
    Update,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy import DateTime as _DateTime
from sqlalchemy.dialects.postgresql import ARRAY

from tfso_events.outbox._db import POSTGRESQL, Dialect

__all__ = ["Claimed", "Lease"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """One row claimed by a relay: what it needs to publish it."""

    id: int
    detail_type: str
    source: str
    module: str
    detail: str
    resources: str | None
    ordering_key: str | None
    attempts: int


def utcnow() -> dt.datetime:
    """Now, in UTC (the clock of the SQLite statements)."""
    return dt.datetime.now(dt.UTC)


class Lease:
    """The lease statements of one outbox table on one dialect."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table = table
        self.dialect = dialect
        self._pg = dialect == POSTGRESQL

    # -- clocks ------------------------------------------------------------------------

    def _now(self) -> ColumnElement[Any]:
        if self._pg:
            return func.clock_timestamp()
        return bindparam("now", type_=_DateTime(timezone=True))

    def _in(self, name: str) -> ColumnElement[Any]:
        """Now plus the timedelta parameter ``name``; on SQLite a datetime parameter."""
        if self._pg:
            return func.clock_timestamp() + bindparam(name, type_=Interval())
        return bindparam(f"{name}_at", type_=_DateTime(timezone=True))

    def params(self, **deltas: float) -> dict[str, Any]:
        """Parameters of the clock: ``now`` (SQLite), and each ``name=seconds`` as a
        timedelta (PostgreSQL) or a datetime (SQLite)."""
        if self._pg:
            return {name: dt.timedelta(seconds=secs) for name, secs in deltas.items()}
        now = utcnow()
        found: dict[str, Any] = {"now": now}
        for name, secs in deltas.items():
            found[f"{name}_at"] = now + dt.timedelta(seconds=secs)
        return found

    # -- claim -------------------------------------------------------------------------

    def claim(self) -> Update:
        """Claim at most ``:limit`` due rows for ``:token`` until now + ``lease``."""
        t = self.table
        now = self._now()
        older = t.alias("older")
        due = (
            select(t.c.id)
            .where(
                t.c.dead_at.is_(None),
                t.c.next_try_at <= now,
                or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < now),
                or_(
                    t.c.ordering_key.is_(None),
                    ~exists().where(
                        older.c.ordering_key == t.c.ordering_key,
                        older.c.id < t.c.id,
                        older.c.dead_at.is_(None),
                    ),
                ),
            )
            .order_by(t.c.id)
            .limit(bindparam("limit"))
        )
        if self._pg:
            due = due.with_for_update(skip_locked=True)
        return (
            t.update()
            .where(t.c.id.in_(due.scalar_subquery()))
            .values(
                lease_token=bindparam("token"),
                lease_expires_at=self._in("lease"),
                attempts=t.c.attempts + 1,
            )
            .returning(
                t.c.id,
                t.c.detail_type,
                t.c.source,
                t.c.module,
                t.c.detail,
                t.c.resources,
                t.c.ordering_key,
                t.c.attempts,
            )
        )

    # -- settle (each with the lease's token) -------------------------------------------

    def delete(self) -> Delete:
        """Remove the published rows of ``:pairs`` (:meth:`delete_params`), each only
        while it is still leased to the token it was published under: one statement
        for every row settled in one flush, whatever lease it came from."""
        t = self.table
        if self._pg:
            pairs = (
                func.unnest(
                    bindparam("ids", type_=ARRAY(BigInteger())),
                    bindparam("tokens", type_=ARRAY(String())),
                )
                .table_valued("id", "token")
                .render_derived()
            )
            return t.delete().where(t.c.id == pairs.c.id, t.c.lease_token == pairs.c.token)
        each = func.json_each(bindparam("pairs", type_=String())).table_valued("value")
        wanted = select(
            func.json_extract(each.c.value, "$[0]"), func.json_extract(each.c.value, "$[1]")
        )
        return t.delete().where(tuple_(t.c.id, t.c.lease_token).in_(wanted))

    def delete_params(self, pairs: Sequence[tuple[int, str]]) -> dict[str, Any]:
        """The parameters of :meth:`delete` for ``(id, token)`` pairs: two arrays on
        PostgreSQL, one JSON array of pairs on SQLite (bound once, not a parameter a
        row, so the statement is compiled once whatever the count)."""
        if self._pg:
            return {"ids": [pair[0] for pair in pairs], "tokens": [pair[1] for pair in pairs]}
        return {"pairs": json.dumps(pairs)}

    def retry_later(self) -> Update:
        """Release row ``:id`` (leased to ``:token``) for another try after ``delay``,
        noting ``:error``. Executed once per row (``delay`` differs)."""
        t = self.table
        return (
            t.update()
            .where(t.c.id == bindparam("row"), t.c.lease_token == bindparam("token"))
            .values(
                next_try_at=self._in("delay"),
                last_error=bindparam("error"),
                lease_token=None,
                lease_expires_at=None,
            )
        )

    def bury(self) -> Update:
        """Move row ``:id`` (leased to ``:token``) to the dead letters with ``:error``."""
        t = self.table
        return (
            t.update()
            .where(t.c.id == bindparam("row"), t.c.lease_token == bindparam("token"))
            .values(
                dead_at=self._now(),
                last_error=bindparam("error"),
                lease_token=None,
                lease_expires_at=None,
            )
        )

    def hurry(self) -> Update:
        """Make every live row that waits for a later try due now (the target is back)."""
        t = self.table
        now = self._now()
        return (
            t.update()
            .where(t.c.dead_at.is_(None), t.c.lease_token.is_(None), t.c.next_try_at > now)
            .values(next_try_at=now)
        )

    # -- dead letters ----------------------------------------------------------------------

    def redrive(self, ids: Sequence[int] | None) -> Update:
        """Give dead letters (all, or those of ``ids``) a fresh start, due now."""
        t = self.table
        where: list[ColumnElement[bool]] = [t.c.dead_at.is_not(None)]
        if ids is not None:
            where.append(t.c.id.in_(list(ids)))
        return (
            t.update()
            .where(and_(*where))
            .values(dead_at=None, next_try_at=self._now(), attempts=0, lease_token=None)
        )
