"""Durable publishing: a transactional outbox and its relay (extra ``tfso-events[outbox]``).

A service that commits a change and then publishes its event writes twice, and a crash
or an outage between the two loses the event. Here the event is written to an outbox
table in the service's own transaction (:meth:`Outbox.add`), so both commit or neither,
and an :class:`OutboxRelay` publishes it afterwards, from any number of processes::

    from tfso_events.outbox import Outbox, OutboxRelay

    outbox = Outbox(Base.metadata)                  # the table, for Alembic

    async with session.begin():                     # the service
        session.add(order)
        await outbox.add(session, event)

    relay = OutboxRelay(DATABASE_URL, publisher, outbox=outbox)
    await relay.run(handle_signals=True)            # a worker (or `tfso-events relay`)

PostgreSQL (asyncpg) and SQLite (aiosqlite) are supported; the blocking form
:meth:`Outbox.add_sync` takes a sync ``Session``/``Connection`` of any driver. Delivery
is at least once (EventBridge's own promise is no better): see docs/outbox.md.

On the consuming side, an :class:`Inbox` is a dedupe store in the same database
(``router.handler(dedupe=inbox)``) whose "done" mark a handler writes in its own
transaction (:meth:`Inbox.mark_done`): its effects and the mark commit together, so
effects kept in that database happen exactly once.
"""

from __future__ import annotations

from tfso_events.outbox._inbox import DEFAULT_INBOX_TABLE_NAME, Inbox
from tfso_events.outbox._outbox import DeadLetter, Outbox, OutboxStatus
from tfso_events.outbox._relay import DEFAULT_LEASE, OutboxRelay, RelayStats
from tfso_events.outbox._stored import StoredEvent
from tfso_events.outbox._table import DEFAULT_TABLE_NAME

__all__ = [
    "DEFAULT_INBOX_TABLE_NAME",
    "DEFAULT_LEASE",
    "DEFAULT_TABLE_NAME",
    "DeadLetter",
    "Inbox",
    "Outbox",
    "OutboxRelay",
    "OutboxStatus",
    "RelayStats",
    "StoredEvent",
]
