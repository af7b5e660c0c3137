"""The consumer inbox (tfso_events.outbox.Inbox) against the handler transaction it guards.

What it measures, in one run on one machine, on SQLite (a file, WAL) and on a
PostgreSQL cluster this benchmark starts (tests/outbox/_postgres.py; fsync off, so the
database's own disk cost does not hide the library's), ``N`` events each:

(1) **claim + effect + mark_done ÷ the bare handler transaction**: per event,
    ``inbox.claim(key)`` (the inbox's own short transaction), then one transaction
    writing the handler's effect (an INSERT) and ``inbox.mark_done(conn, key=, token=)``,
    against the same effect transaction alone (what a handler without an inbox commits).
(2) **through the router ÷ the router without dedupe**: an EventBridge Lambda event per
    event, ``handler.process(event)`` of an ``EventRouter`` whose handler commits the
    effect with ``mark_done`` and whose ``dedupe`` is the inbox (claim, handler,
    the router's own ``complete``), against the same router and handler without dedupe
    and without the mark.

Each figure is per event; the rounds are interleaved and min/median/max of ``--repeats``
(3) ratios are printed. The ratio is the price of exactly-once effects: on a database
whose commit is the cost, about the claim's extra transaction.

Run: ``.venv/bin/python -m benchmarks.bench_inbox`` (``--events``, ``--repeats``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.bench_outbox import databases
from tfso_events.consume import EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Inbox
from tfso_events.outbox._db import async_url
from tfso_events.testing import build, lambda_eventbridge_event


async def _fresh(url: str) -> tuple[AsyncEngine, Inbox, Table]:
    metadata = MetaData()
    effects = Table(
        "bench_effects",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("key", String(512), nullable=False),
    )
    inbox = Inbox(url, metadata, table_name="bench_inbox")
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    return engine, inbox, effects


async def direct(url: str, n: int) -> tuple[float, float]:
    """Seconds per event: claim + (effect + mark_done), and the effect alone."""
    engine, inbox, effects = await _fresh(url)
    insert = effects.insert()
    run = uuid.uuid4().hex
    try:
        # Warm both paths (connections, compiled statements) before the clocks.
        for key in (f"warm-{run}-a", f"warm-{run}-b"):
            claim = await inbox.claim(key, lease=30)
            async with engine.begin() as conn:
                await conn.execute(insert, {"key": key})
                await inbox.mark_done(conn, key=key, token=claim.token)
        started = time.perf_counter()
        for i in range(n):
            key = f"{run}-{i}"
            claim = await inbox.claim(key, lease=30)
            async with engine.begin() as conn:
                await conn.execute(insert, {"key": key})
                await inbox.mark_done(conn, key=key, token=claim.token)
        with_inbox = (time.perf_counter() - started) / n
        started = time.perf_counter()
        for i in range(n):
            async with engine.begin() as conn:
                await conn.execute(insert, {"key": f"bare-{run}-{i}"})
        bare = (time.perf_counter() - started) / n
    finally:
        await inbox.aclose()
        await engine.dispose()
    return with_inbox, bare


async def routed(url: str, n: int) -> tuple[float, float]:
    """Seconds per event through the router: with the inbox as dedupe (claim, handler
    with mark_done, complete), and without dedupe."""
    engine, inbox, effects = await _fresh(url)
    insert = effects.insert()

    deduped = EventRouter()

    @deduped.on(BankTestCreatedV1Event)
    async def with_mark(event: BankTestCreatedV1Event) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert, {"key": event.id})
            await inbox.mark_done(conn)

    plain = EventRouter()

    @plain.on(BankTestCreatedV1Event)
    async def without(event: BankTestCreatedV1Event) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert, {"key": event.id})

    event = build(BankTestCreatedV1Event)
    deliveries: list[dict[str, Any]] = [
        lambda_eventbridge_event(event, event_id=str(uuid.uuid4())) for _ in range(2 * n + 2)
    ]
    with_inbox_handler = deduped.handler(dedupe=inbox)
    bare_handler = plain.handler()
    try:
        await with_inbox_handler.process(deliveries[-1])  # warm-up
        await bare_handler.process(deliveries[-2])
        started = time.perf_counter()
        for delivery in deliveries[:n]:
            await with_inbox_handler.process(delivery)
        with_inbox = (time.perf_counter() - started) / n
        started = time.perf_counter()
        for delivery in deliveries[n : 2 * n]:
            await bare_handler.process(delivery)
        bare = (time.perf_counter() - started) / n
    finally:
        await inbox.aclose()
        await engine.dispose()
    return with_inbox, bare


def _spread(ratios: Sequence[float]) -> str:
    return (
        f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, median "
        f"{statistics.median(ratios):.2f}, max {max(ratios):.2f})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args(argv)
    with databases() as found:
        for name, url in found:
            print(f"\n-- {name}")
            firsts: list[tuple[float, float]] = []
            seconds: list[tuple[float, float]] = []
            for _ in range(args.repeats):  # interleaved rounds
                firsts.append(asyncio.run(direct(url, args.events)))
                seconds.append(asyncio.run(routed(url, args.events)))
            for label, rounds in (
                ("(1) claim + effect + mark_done ÷ effect transaction", firsts),
                ("(2) router with the inbox ÷ router without dedupe ", seconds),
            ):
                ratios = [inbox / bare for inbox, bare in rounds]
                inbox_us = statistics.median(r[0] for r in rounds) * 1e6
                bare_us = statistics.median(r[1] for r in rounds) * 1e6
                print(f"{label}: {inbox_us:7.0f} / {bare_us:7.0f} µs: {_spread(ratios)}")


if __name__ == "__main__":
    main()
