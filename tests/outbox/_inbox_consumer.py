"""A consumer process for the inbox crash test: the router with an ``Inbox`` handles one
SQS-shaped record whose handler inserts an effect row and marks its key done in one
transaction. With ``hang``, it prints ``written`` once both are written (not committed)
and waits there to be killed.

    python -m tests.outbox._inbox_consumer DB INBOX_TABLE EFFECTS_TABLE ENVELOPE LEASE [hang]
"""

from __future__ import annotations

import asyncio
import json
import sys

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import create_async_engine

from tfso_events.consume import EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Inbox
from tfso_events.outbox._db import async_url
from tfso_events.testing import lambda_sqs_event


def effects_table(metadata: MetaData, name: str) -> Table:
    """The consumer's own table: one row per time a handler's effect committed."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
    )


async def main() -> int:
    url, inbox_name, effects_name, event_json, lease = sys.argv[1:6]
    hang = sys.argv[6:] == ["hang"]
    metadata = MetaData()
    effects = effects_table(metadata, effects_name)
    inbox = Inbox(url, metadata, table_name=inbox_name)
    engine = create_async_engine(async_url(url))
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def on_created(event: BankTestCreatedV1Event) -> None:
        async with engine.begin() as conn:
            await conn.execute(effects.insert().values(event_id=event.id))
            await inbox.mark_done(conn)
            if hang:
                print("written", flush=True)
                await asyncio.sleep(3600)

    handler = router.handler(dedupe=inbox, lease=float(lease))
    answer = await handler.process(lambda_sqs_event(event_json), None)
    await inbox.aclose()
    await engine.dispose()
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
