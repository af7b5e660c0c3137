"""Crashes and outages on SQLite and a real PostgreSQL: an order service commits each
order with its event (tfso_events.outbox), `tfso-events relay` processes publish to the
local hub, and processes are SIGKILLed at random moments. Whatever is killed, the hub
ends with an event for every committed order and none for an order never committed;
duplicates (at-least-once) are counted and bounded by what was in flight at the kills.

Default: 1,000 orders and 3 kills per run (250 orders for the four relays); TFSO_SOAK=full:
5,000 orders and 5 kills."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import signal
import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from tests.outbox._service import orders_table
from tests.outbox.conftest import Database
from tests.outbox.helpers import bridge_client, names, order_event, rows
from tfso_events.local import LocalHub
from tfso_events.outbox import OutboxRelay

SOAK = os.environ.get("TFSO_SOAK") == "full"
ORDERS, KILLS = (5000, 5) if SOAK else (1000, 3)
#: How long the relays may take to empty the outbox once the service is done.
DRAIN_WITHIN = 300 if SOAK else 60
SERVICE = Path(__file__).with_name("_service.py")
#: Rows one relay holds at most: --batch-size x --batches.
BATCH, BATCHES = 50, 2


class Run:
    """The processes of one crash run and what they share."""

    def __init__(self, database: Database, hub: LocalHub, tmp: Path, seed: int) -> None:
        self.database = database
        self.hub = hub
        self.tmp = tmp
        self.random = random.Random(seed)
        self.orders = orders_table(MetaData(), f"orders_{database.outbox.table.name}")
        self.logs: list[Path] = []

    async def create_orders_table(self) -> None:
        async with self.database.engine.begin() as conn:
            await conn.run_sync(self.orders.metadata.create_all)

    async def service(self, rate: float, orders: int = ORDERS) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVICE),
            self.database.url,
            self.database.outbox.table.name,
            self.orders.name,
            str(orders),
            str(rate),
            stdout=asyncio.subprocess.DEVNULL,
            env=os.environ | {"PYTHONPATH": str(SERVICE.parents[2])},
        )

    async def relay(self, *options: str) -> asyncio.subprocess.Process:
        """Start `tfso-events relay` and return once it has said it is relaying."""
        log = self.tmp / f"relay-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tfso_events",
                "relay",
                "--db", self.database.url,
                "--table", self.database.outbox.table.name,
                "--via", "eventbridge",
                "--env", "local",
                "--endpoint-url", self.hub.url,
                "--poll-interval", "0.1",
                "--batch-size", str(BATCH),
                "--batches", str(BATCHES),
                *options,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )  # fmt: skip
        async with asyncio.timeout(30):
            while b"relaying" not in log.read_bytes():
                assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.05)
        return process

    async def drained(self, within: float) -> None:
        """Wait until the outbox is empty."""
        async with asyncio.timeout(within):
            while await rows(self.database.engine, self.database.outbox):  # noqa: ASYNC110
                await asyncio.sleep(0.1)

    async def committed(self) -> set[str]:
        async with self.database.engine.connect() as conn:
            ids = (await conn.execute(select(self.orders.c.id))).scalars().all()
        return {f"order-{n}" for n in ids}

    def check(self, committed: set[str], in_flight_bound: int) -> int:
        """0 lost, none invented; returns the duplicates (asserted within the bound)."""
        received = collections.Counter(names(self.hub))
        assert not committed - set(received), "committed orders whose event never arrived"
        assert not set(received) - committed, "events of orders that were never committed"
        duplicates = sum(received.values()) - len(received)
        assert duplicates <= in_flight_bound
        return duplicates


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        return await process.wait()


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.wait()


async def test_relays_killed_at_random_moments_lose_nothing(
    database: Database, hub: LocalHub, tmp_path: Path
) -> None:
    """A relay SIGKILLed at random moments while the service commits, and restarted
    each time: every committed order's event reaches the hub, no other event does, and
    the duplicates are at most the rows the relay held at its kills."""
    run = Run(database, hub, tmp_path, seed=25)
    await run.create_orders_table()
    hub.faults.latency = 0.01  # answers take a moment: kills land with batches in flight
    service = await run.service(rate=ORDERS / 3)
    relay = await run.relay("--lease", "2")
    for _ in range(KILLS):
        await asyncio.sleep(run.random.uniform(0.5, 1.5))
        await _kill(relay)
        relay = await run.relay("--lease", "2")
    assert await service.wait() == 0
    await run.drained(within=DRAIN_WITHIN)
    assert await _stop(relay) == 0
    duplicates = run.check(await run.committed(), in_flight_bound=KILLS * BATCH * BATCHES)
    print(f"relay kills: {ORDERS} orders, {KILLS} kills, {duplicates} duplicates")


async def test_a_service_killed_at_random_moments_leaves_whole_orders_only(
    database: Database, hub: LocalHub, tmp_path: Path
) -> None:
    """The service SIGKILLed at random moments mid-stream and restarted (it goes on
    from its last committed order): the hub holds exactly the events of the committed
    orders, none of a transaction the kill cut short, and no duplicates (no relay died)."""
    run = Run(database, hub, tmp_path, seed=26)
    await run.create_orders_table()
    relay = await run.relay("--lease", "10")
    service = await run.service(rate=ORDERS / 3)
    for _ in range(KILLS):
        await asyncio.sleep(run.random.uniform(0.5, 1.0))
        await _kill(service)
        service = await run.service(rate=ORDERS / 3)
    assert await service.wait() == 0
    await run.drained(within=DRAIN_WITHIN)
    assert await _stop(relay) == 0
    committed = await run.committed()
    assert len(committed) == ORDERS
    assert run.check(committed, in_flight_bound=0) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_four_relays_share_one_postgresql_and_publish_each_event_once(
    database: Database, hub: LocalHub, tmp_path: Path
) -> None:
    """Four relay processes on one PostgreSQL, woken together by every commit: each
    event is published exactly once (no lease expires in this run), all of them share
    the work, and each relay stops cleanly on SIGTERM."""
    run = Run(database, hub, tmp_path, seed=27)
    await run.create_orders_table()
    relays = await asyncio.gather(*(run.relay("--lease", "30") for _ in range(4)))
    service = await run.service(rate=0, orders=ORDERS // 4)
    assert await service.wait() == 0
    await run.drained(within=DRAIN_WITHIN)
    assert [await _stop(relay) for relay in relays] == [0, 0, 0, 0]
    assert run.check(await run.committed(), in_flight_bound=0) == 0
    published = [_published(log) for log in run.logs]
    assert sum(published) == ORDERS // 4
    assert sum(1 for count in published if count) >= 2, published


def _published(log: Path) -> int:
    for line in log.read_text().splitlines():
        if "stopped:" in line:
            return int(line.split("stopped:")[1].split()[0])
    raise AssertionError(f"no summary in {log}: {log.read_text()[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_outage_of_the_hub_costs_a_few_log_lines_and_no_event(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The hub stops for a few seconds while the service keeps adding: every add()
    succeeds (it never touches the network), the relay says so in a handful of lines
    (not one per retry), and everything is delivered within seconds of the hub's return."""
    outage = 20.0 if SOAK else 5.0
    outbox, engine = database.outbox, database.engine
    hub = LocalHub(port=_free_port())
    await hub.start()
    caplog.set_level(logging.INFO, logger="tfso_events")
    async with bridge_client(hub) as client:
        relay = OutboxRelay(
            database.url, client, outbox=outbox, lease=6, poll_interval=0.1, max_backoff=1
        )
        running = asyncio.create_task(relay.run())
        try:
            added = 0
            for _ in range(50):
                async with engine.begin() as conn:
                    await outbox.add(conn, order_event(added))
                added += 1
            await hub.stop()
            caplog.clear()
            loop = asyncio.get_running_loop()
            until = loop.time() + outage
            while loop.time() < until:
                async with engine.begin() as conn:
                    await outbox.add(conn, order_event(added))
                added += 1
                await asyncio.sleep(0.02)
            waiting = await rows(engine, outbox)
            await hub.start()
            async with asyncio.timeout(15):
                while hub.count() < added:  # noqa: ASYNC110 - the hub has no arrival hook
                    await asyncio.sleep(0.05)
        finally:
            await relay.stop()
            await running
            await hub.stop()
    # The relay's own lines, and the publisher's (by their loggers' real names: a name
    # that matched nothing would make the bounds below pass on nothing, hence the lower
    # bound on its calls). Its circuit says once that the target went down and once that
    # it is back (a "still down" a minute); its calls (the relay's probes, 0.5-1 s apart
    # at max_backoff=1) each log what they gave up on: a line per probe, not per retry.
    lines = [r.getMessage() for r in caplog.records if r.name == "tfso_events.outbox"]
    circuit = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tfso_events.publishing" and r.levelno >= logging.WARNING
    ]
    calls = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tfso_events.publishing.eventbridge" and r.levelno >= logging.WARNING
    ]
    print(f"outage {outage:g} s: relay {len(lines)}, circuit {len(circuit)}, calls {len(calls)}")
    assert waiting > 0, "the outage should have left rows waiting"
    assert len(lines) <= 3, lines
    assert "fails" in lines[0]
    assert "works again" in lines[-1]
    # The circuit opens after 5 sends in a row fail: a loaded machine may not get that
    # many probes into a 5 s outage, so its lines are bounded and, when there are any,
    # down first and up last; every failed probe is a call line, hence at least one.
    assert len(circuit) <= 2 + outage // 60, circuit
    if circuit:
        assert "not answering" in circuit[0]
        assert "answering again" in circuit[-1]
    assert 1 <= len(calls) <= outage / 0.5 + 2, calls
    assert set(names(hub)) == {f"order-{n}" for n in range(added)}
