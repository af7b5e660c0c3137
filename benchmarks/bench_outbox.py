"""The transactional outbox (tfso_events.outbox) against what it adds to.

What it measures, in one run on one machine, on SQLite (a file, WAL) and on a
PostgreSQL cluster this benchmark starts (tests/outbox/_postgres.py; fsync off, so the
database's own disk cost does not hide the library's):

(1) **add() in a transaction ÷ bare INSERT**: ``N`` transactions, each ``BEGIN;
    outbox.add(conn, event); COMMIT``, against the same transactions writing the same
    row (its detail encoded before the clock starts) with a bare Core ``INSERT``. The
    difference is add()'s validation (the publishers' own) and, on PostgreSQL, the
    NOTIFY riding in the INSERT.
(2) **relay throughput ÷ bare publish_many**: ``N`` rows waiting in the outbox, drained
    by one :class:`OutboxRelay` (claim, rebuild, publish, delete as answers arrive), and
    by four relay processes at once (PostgreSQL), against one
    ``TfsoEventBridgeClient.publish_many`` of the same events; all to the same loopback
    PutEvents stub in its own process (benchmarks/_stub_putevents.py). Goal (DESIGN.md):
    >= 0.8x with one relay.
(3) **commit -> PutEvents latency**: a relay runs while events are committed one at a
    time (every 20 ms); per event, the time from its commit returning to its PutEvents
    answer, p50 and p99, with LISTEN/NOTIFY (PostgreSQL) and polling (every 1 s, the
    default; SQLite always polls). Goal: p50 <= 50 ms with LISTEN/NOTIFY.

(2) runs ``--repeats`` (3) interleaved rounds, each a bare run then the relays; each
round's ratio is taken within the round and the min, median and max of them printed
(this machine's noise moves both sides of a round together more than it moves rounds).
With them, this process's CPU per event (``time.process_time``): when the relay's
process is what bounds it, the CPU ratio is the throughput ratio it can reach; on
SQLite the database's own work runs in that process too. add() is the best of 3.

Run: ``.venv/bin/python -m benchmarks.bench_outbox`` (``--events``, ``--adds``,
``--latency-events``, ``--repeats`` to change the sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks._events import make_events
from benchmarks.bench_eventbridge import CONCURRENCY, Stub, _session
from tfso_events import TfsoEvent, TfsoEventBridgeClient
from tfso_events.outbox import Outbox, OutboxRelay
from tfso_events.outbox._db import async_url
from tfso_events.results import BatchResult, OnResult, PublishFailure, PublishResult

_ROOT = str(Path(__file__).resolve().parents[1])


@contextlib.contextmanager
def databases() -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of a SQLite file and, when PostgreSQL is installed, a cluster."""
    sys.path.insert(0, _ROOT)
    from tests.outbox._postgres import bindir, postgres_cluster

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        found = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        if bindir() is not None:
            found.append(("postgresql", stack.enter_context(postgres_cluster())))
        else:
            print("(PostgreSQL is not installed: SQLite only)")
        yield found


async def _fresh(url: str, name: str) -> tuple[AsyncEngine, Outbox]:
    outbox = Outbox(MetaData(), table_name=name)
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await conn.run_sync(outbox.table.metadata.drop_all)
        await conn.run_sync(outbox.table.metadata.create_all)
    return engine, outbox


# -- (1) add() ÷ bare INSERT -----------------------------------------------------------


async def bench_add(url: str, n: int) -> tuple[float, float]:
    """Seconds per transaction: add() and the bare INSERT of the same row."""
    engine, outbox = await _fresh(url, "bench_add")
    events = make_events(n)
    rows = [
        {
            "detail_type": e.detail_type,
            "source": e.source,
            "module": e.module,
            "bus": f"tfso-{e.module}-events",
            "detail": e.detail_json().decode(),
        }
        for e in events
    ]
    insert = outbox.table.insert()
    try:
        best_add = best_bare = float("inf")
        for _ in range(3):  # interleaved rounds, the best of each
            started = time.perf_counter()
            for event in events:
                async with engine.begin() as conn:
                    await outbox.add(conn, event)
            best_add = min(best_add, (time.perf_counter() - started) / n)
            started = time.perf_counter()
            for row in rows:
                async with engine.begin() as conn:
                    await conn.execute(insert, row)
            best_bare = min(best_bare, (time.perf_counter() - started) / n)
    finally:
        await engine.dispose()
    return best_add, best_bare


# -- (2) relay throughput ÷ bare publish_many ----------------------------------------------


async def _fill(url: str, name: str, events: Sequence[TfsoEvent]) -> Outbox:
    engine, outbox = await _fresh(url, name)
    async with engine.begin() as conn:
        for start in range(0, len(events), 500):
            await outbox.add(conn, *events[start : start + 500])
    await engine.dispose()
    return outbox


class Rate(NamedTuple):
    """Events per second (wall clock), this process's CPU seconds per event, and the
    PostgreSQL cluster's (its server processes', read from /proc; 0 on SQLite)."""

    per_second: float
    cpu_per_event: float
    server_cpu_per_event: float = 0.0


def server_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL cluster at ``url``'s port: its
    postmaster (found by the ``-p <port>`` of its command line) and its children
    (backends, background workers). 0.0 for SQLite or without /proc."""
    port = make_url(url).port
    if port is None or not Path("/proc").is_dir():
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    postmaster = None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            stats[int(proc.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"postgres") and f"-p {port}".encode() in b" ".join(argv):
                postmaster = int(proc.name)
    if postmaster is None:
        return 0.0
    return sum(cpu for pid, (parent, cpu) in stats.items() if postmaster in (pid, parent))


async def bare_publish_many(stub_url: str, events: Sequence[TfsoEvent]) -> Rate:
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=stub_url, session=_session(), max_concurrency=CONCURRENCY
    ) as client:
        await client.publish(events[0])  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        result = await client.publish_many(events)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.ok
    return Rate(len(events) / elapsed, cpu / len(events))


async def one_relay(url: str, stub_url: str, events: Sequence[TfsoEvent], **options: Any) -> Rate:
    outbox = await _fill(url, "bench_relay", events)
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=stub_url, session=_session(), max_concurrency=CONCURRENCY
    ) as client:
        await client.publish(events[0])  # warm-up
        relay = OutboxRelay(url, client, outbox=outbox, **options)
        try:
            started, cpu, server = time.perf_counter(), time.process_time(), server_cpu(url)
            published = await relay.drain()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            server = server_cpu(url) - server
        finally:
            await relay.aclose()
    assert published == len(events), published
    return Rate(len(events) / elapsed, cpu / len(events), server / len(events))


_WORKER = """
import asyncio, sys
from benchmarks.bench_eventbridge import CONCURRENCY, _session
from tfso_events import TfsoEventBridgeClient
from tfso_events.outbox import Outbox, OutboxRelay
async def main(url, stub):
    async with TfsoEventBridgeClient("dev", endpoint_url=stub, session=_session(),
                                     max_concurrency=CONCURRENCY) as client:
        relay = OutboxRelay(url, client, outbox=Outbox(table_name="bench_relay"))
        print("ready", flush=True)
        sys.stdin.readline()
        print(await relay.drain(), flush=True)
        await relay.aclose()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def four_relays(url: str, stub_url: str, events: Sequence[TfsoEvent]) -> float:
    """Four relay processes, started and ready before the clock; drained together."""
    asyncio.run(_fill(url, "bench_relay", events))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, stub_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONPATH": _ROOT},
        )
        for _ in range(4)
    ]
    pipes = [(worker.stdin, worker.stdout) for worker in workers]
    for _stdin, stdout in pipes:
        if stdout is None or stdout.readline().strip() != "ready":
            raise RuntimeError("a relay process did not start")
    started = time.perf_counter()
    for stdin, _stdout in pipes:
        if stdin is not None:
            stdin.write("go\n")
            stdin.flush()
    published = sum(int(stdout.readline()) for _stdin, stdout in pipes if stdout is not None)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.wait()
    if published != len(events):
        raise RuntimeError(f"four relays published {published} of {len(events)}")
    return len(events) / elapsed


# -- (3) commit -> PutEvents latency ----------------------------------------------------


class _Timed:
    """A publisher that notes when each event's answer arrived (its first name)."""

    def __init__(self, client: TfsoEventBridgeClient) -> None:
        self.client = client
        self.answered: dict[str, float] = {}

    async def publish_many(
        self, events: Iterable[TfsoEvent], *, on_result: OnResult | None = None, **kw: Any
    ) -> BatchResult:
        batch = list(events)

        def noted(outcome: PublishResult | PublishFailure) -> None:
            name = json.loads(batch[outcome.index].detail_json())["content"]["firstName"]
            self.answered[name] = time.perf_counter()
            if on_result is not None:
                on_result(outcome)

        return await self.client.publish_many(batch, on_result=noted, **kw)


async def latency(url: str, stub_url: str, n: int, *, listen: bool) -> tuple[float, float]:
    engine, outbox = await _fresh(url, "bench_latency")
    from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
    from tfso_events.testing import build

    async with TfsoEventBridgeClient("dev", endpoint_url=stub_url, session=_session()) as client:
        timed = _Timed(client)
        relay = OutboxRelay(url, timed, outbox=outbox, listen=listen)  # type: ignore[arg-type]
        running = asyncio.create_task(relay.run())
        await asyncio.sleep(1.0)  # listening, idle
        committed: dict[str, float] = {}
        for i in range(n):
            name = f"latency-{i}"
            event = build(BankTestCreatedV1Event, content__first_name=name)
            async with engine.begin() as conn:
                await outbox.add(conn, event)
            committed[name] = time.perf_counter()
            await asyncio.sleep(0.02)
        while len(timed.answered) < n:  # noqa: ASYNC110 - answers are noted, not signalled
            await asyncio.sleep(0.05)
        await relay.stop()
        await running
    await engine.dispose()
    delays = sorted((timed.answered[name] - at) * 1000 for name, at in committed.items())
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _spread(ratios: Sequence[float]) -> str:
    """Ratios of the interleaved rounds: median, with min and max."""
    return (
        f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, median "
        f"{statistics.median(ratios):.2f}, max {max(ratios):.2f})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="rows drained per run")
    parser.add_argument("--adds", type=int, default=1000, help="transactions per add() run")
    parser.add_argument("--latency-events", type=int, default=200, help="events timed")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of (2)")
    args = parser.parse_args(argv)
    stub = Stub()
    try:
        with databases() as found:
            for name, url in found:
                print(f"\n-- {name}")
                add, bare = asyncio.run(bench_add(url, args.adds))
                print(
                    f"(1) add() in a transaction {add * 1e6:8.0f} µs, bare INSERT "
                    f"{bare * 1e6:8.0f} µs: {add / bare:.2f}x"
                )
                events = make_events(args.events)
                bares: list[Rate] = []
                ones: list[Rate] = []
                fours: list[float] = []
                for _ in range(args.repeats):  # interleaved rounds: each ratio within one
                    bares.append(asyncio.run(bare_publish_many(stub.url, events)))
                    ones.append(asyncio.run(one_relay(url, stub.url, events)))
                    if name == "postgresql":
                        fours.append(four_relays(url, stub.url, events))
                print(
                    f"(2) bare publish_many {_median(b.per_second for b in bares):8.0f} ev/s, "
                    f"one relay {_median(o.per_second for o in ones):8.0f} ev/s (medians): "
                    + _spread(
                        [o.per_second / b.per_second for o, b in zip(ones, bares, strict=True)]
                    )
                )
                print(
                    "    this process's CPU per event: bare "
                    f"{_median(b.cpu_per_event for b in bares) * 1e6:5.0f} µs, one relay "
                    f"{_median(o.cpu_per_event for o in ones) * 1e6:5.0f} µs: "
                    + _spread(
                        [
                            b.cpu_per_event / o.cpu_per_event
                            for o, b in zip(ones, bares, strict=True)
                        ]
                    )
                )
                if name == "postgresql":
                    print(
                        "    the PostgreSQL server's CPU per event relayed: "
                        f"{_median(o.server_cpu_per_event for o in ones) * 1e6:5.0f} µs"
                    )
                if fours:
                    print(
                        f"    four relay processes {_median(fours):8.0f} ev/s: "
                        + _spread([f / b.per_second for f, b in zip(fours, bares, strict=True)])
                    )
                modes = [True, False] if name == "postgresql" else [False]
                for listen in modes:
                    p50, p99 = asyncio.run(
                        latency(url, stub.url, args.latency_events, listen=listen)
                    )
                    how = "LISTEN/NOTIFY" if listen else "polling (1 s)"
                    print(f"(3) commit -> PutEvents, {how}: p50 {p50:6.1f} ms, p99 {p99:6.1f} ms")
    finally:
        stub.close()


if __name__ == "__main__":
    main()
