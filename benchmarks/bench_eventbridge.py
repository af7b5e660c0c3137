"""The EventBridge publisher: ``TfsoEventBridgeClient.publish_many`` against hand-written
aioboto3 loops.

What it measures, in one run on one machine, against a loopback PutEvents stub
(``benchmarks/_stub_putevents.py``) running in **its own process**, so the server's CPU
is not charged to the clients:

(o) **publish_many**: ``TfsoEventBridgeClient("dev", ...).publish_many(events)`` with
    the defaults but ``transport="lean"`` (``max_concurrency=16``): every event validated
    (encode + validating decode), checked against the PutEvents limits, chunked by 10
    entries and by size, sent through the shared retry loop, each call signed with
    SigV4 and posted over aiohttp.
(ob) the same with ``transport="botocore"`` (an aiobotocore client): the ratio
    (o)/(ob) of CPU per event is what the lean transport saves.
(a) **hand-tuned aioboto3 loop**: the best a careful hand-written client does: one
    aioboto3 client with a pool of 16 connections, entries **pre-encoded before the
    clock starts** (no validation), batches of 10, 16 workers keeping 16 calls in
    flight, no retries of failed entries.
(a+) the same hand-tuned loop given the two botocore settings the client uses
    (``parameter_validation=False`` and a fixed ``user_agent``): the floor of the
    protocol with this stack, to show what is left of the client's own overhead.
(b) **naive loop**: one ``put_events`` call per event, awaited one after the other,
    the entry built from ``event.detail_json()`` in the loop (one client, reused).
(p) **1,000 concurrent publish()**: ``asyncio.gather`` of 1,000 ``publish()`` calls on
    one client; the stub counts the ``PutEvents`` calls they cost.

Every client is opened and warmed up with one call before its clock starts. Figures:
events/s (best of ``--repeats`` rounds, the columns interleaved in each round) and the
client's CPU time per event (``time.process_time`` of this process, so of the client
alone), and the ratios (o)/(a) and (o)/(b). Targets (DESIGN.md): (o) >= 1.0x (a),
(o) >= 8x (b), (p) <= 100 calls.

Run: ``.venv/bin/python -m benchmarks.bench_eventbridge`` (``--events``,
``--naive-events``, ``--repeats`` to change the sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aioboto3
import aiobotocore
import botocore
from aiobotocore.config import AioConfig

from benchmarks._events import make_events
from tfso_events import TfsoEvent, TfsoEventBridgeClient

CONCURRENCY = 16
REGION = "eu-west-1"


def _session() -> aioboto3.Session:
    # Fixed dummy credentials: the stub checks nothing, and no real ones are read.
    return aioboto3.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
    )


def _entry(event: TfsoEvent) -> dict[str, Any]:
    return {
        "Source": event.source,
        "DetailType": event.detail_type,
        "Detail": event.detail_json().decode(),
        "EventBusName": f"tfso-{event.module}-events",
    }


# -- the stub process --------------------------------------------------------------------


class Stub:
    """The PutEvents stub in a child process; ``url``, :meth:`stats`, :meth:`reset`."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._stub_putevents"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the stub did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/stats") as response:
            stats: dict[str, int] = json.load(response)
            return stats

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/reset", method="POST")).close()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # the stub exits on EOF
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


# -- the clients -------------------------------------------------------------------------

#: A runner opens its client, warms it up, then calls ``clock`` (start) and returns when
#: every event is sent.
Runner = Callable[[str, Sequence[TfsoEvent], Callable[[], None]], Awaitable[None]]


async def run_publish_many(
    url: str, events: Sequence[TfsoEvent], start: Callable[[], None]
) -> None:
    """(o) TfsoEventBridgeClient.publish_many with transport="lean"."""
    async with TfsoEventBridgeClient(
        "dev",
        endpoint_url=url,
        session=_session(),
        max_concurrency=CONCURRENCY,
        transport="lean",
    ) as client:
        await client.publish(events[0])  # warm-up: opens the client
        start()
        result = await client.publish_many(events)
        if not result.ok:
            raise RuntimeError(f"publish_many: {len(result.failed)} failed")


async def run_publish_many_botocore(
    url: str, events: Sequence[TfsoEvent], start: Callable[[], None]
) -> None:
    """(ob) TfsoEventBridgeClient.publish_many with transport="botocore"."""
    async with TfsoEventBridgeClient(
        "dev",
        endpoint_url=url,
        session=_session(),
        max_concurrency=CONCURRENCY,
        transport="botocore",
    ) as client:
        await client.publish(events[0])  # warm-up: opens the client
        start()
        result = await client.publish_many(events)
        if not result.ok:
            raise RuntimeError(f"publish_many: {len(result.failed)} failed")


async def run_hand_tuned(url: str, events: Sequence[TfsoEvent], start: Callable[[], None]) -> None:
    """(a) pre-encoded entries, batches of 10, 16 workers, pool of 16."""
    config = AioConfig(max_pool_connections=CONCURRENCY, retries={"mode": "standard"})
    await _hand_tuned(url, events, start, config)


async def run_hand_tuned_same_config(
    url: str, events: Sequence[TfsoEvent], start: Callable[[], None]
) -> None:
    """(a+) as (a), with the client's botocore settings."""
    config = AioConfig(
        max_pool_connections=CONCURRENCY,
        retries={"mode": "standard"},
        parameter_validation=False,
        user_agent="bench",
    )
    await _hand_tuned(url, events, start, config)


async def _hand_tuned(
    url: str, events: Sequence[TfsoEvent], start: Callable[[], None], config: AioConfig
) -> None:
    entries = [_entry(event) for event in events]  # pre-encoded: before the clock
    batches = [entries[i : i + 10] for i in range(0, len(entries), 10)]
    async with _session().client("events", endpoint_url=url, config=config) as client:
        await client.put_events(Entries=batches[0])  # warm-up
        start()
        queue = iter(batches)

        async def worker() -> None:
            for batch in queue:
                response = await client.put_events(Entries=batch)
                if response["FailedEntryCount"]:
                    raise RuntimeError("hand-tuned: entries failed")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def run_naive(url: str, events: Sequence[TfsoEvent], start: Callable[[], None]) -> None:
    """(b) one put_events per event, sequential."""
    async with _session().client("events", endpoint_url=url) as client:
        await client.put_events(Entries=[_entry(events[0])])  # warm-up
        start()
        for event in events:
            await client.put_events(Entries=[_entry(event)])


async def run_concurrent_publish(
    url: str, events: Sequence[TfsoEvent], start: Callable[[], None]
) -> None:
    """(p) gather of publish() on one client (transport="lean")."""
    async with TfsoEventBridgeClient(
        "dev",
        endpoint_url=url,
        session=_session(),
        max_concurrency=CONCURRENCY,
        transport="lean",
    ) as client:
        await client.publish(events[0])
        start()
        await asyncio.gather(*(client.publish(event) for event in events))


def measure(stub: Stub, runner: Runner, n: int) -> tuple[float, float, dict[str, int]]:
    """One run of ``runner`` over ``n`` events: events/s, CPU µs per event, and what
    the stub saw after the clock started."""
    events = make_events(n)
    clock: dict[str, float] = {}

    def start() -> None:
        stub.reset()
        clock["wall"], clock["cpu"] = time.perf_counter(), time.process_time()

    async def timed() -> None:
        await runner(stub.url, events, start)
        clock["wall_end"], clock["cpu_end"] = time.perf_counter(), time.process_time()

    asyncio.run(timed())
    stats = stub.stats()
    if stats["entries"] != n:
        raise RuntimeError(f"{runner.__name__}: the stub got {stats['entries']} of {n} entries")
    wall = clock["wall_end"] - clock["wall"]
    cpu = clock["cpu_end"] - clock["cpu"]
    return n / wall, cpu / n * 1e6, stats


def main(argv: Sequence[str] | None = None) -> None:
    """Run the clients against one stub process and print events/s, CPU and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per run of (o), (a)")
    parser.add_argument("--naive-events", type=int, default=500, help="events per run of (b)")
    parser.add_argument("--concurrent", type=int, default=1000, help="publish() calls in (p)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best run counts")
    args = parser.parse_args(argv)

    print(
        f"python {platform.python_version()}, aioboto3 {aioboto3.__version__}, "
        f"aiobotocore {aiobotocore.__version__}, botocore {botocore.__version__}; "
        f"{args.repeats} rounds, concurrency {CONCURRENCY}, stub in its own process"
    )
    rows: list[tuple[str, Runner, int]] = [
        ("(o) publish_many", run_publish_many, args.events),
        ("(ob) publish_many, transport=botocore", run_publish_many_botocore, args.events),
        ("(a) hand-tuned aioboto3 loop", run_hand_tuned, args.events),
        ("(a+) (a) with the client's config", run_hand_tuned_same_config, args.events),
        ("(b) naive loop (1 event/call)", run_naive, args.naive_events),
        (f"(p) {args.concurrent} concurrent publish()", run_concurrent_publish, args.concurrent),
    ]
    best: dict[str, tuple[float, float, dict[str, int]]] = {}
    stub = Stub()
    try:
        for _ in range(args.repeats):
            for name, runner, n in rows:
                figures = measure(stub, runner, n)
                if name not in best or figures[0] > best[name][0]:
                    best[name] = figures
    finally:
        stub.close()

    print(f"{'client':<40} {'events':>7} {'events/s':>10} {'CPU µs/event':>13} {'calls':>7}")
    for name, _runner, n in rows:
        rate, cpu, stats = best[name]
        print(f"{name:<40} {n:>7} {rate:>10.0f} {cpu:>13.1f} {stats['calls']:>7}")
    rate = {name.split()[0]: figures[0] for name, figures in best.items()}
    cpu = {name.split()[0]: figures[1] for name, figures in best.items()}
    calls = best[rows[-1][0]][2]
    print(f"publish_many / hand-tuned loop:  {rate['(o)'] / rate['(a)']:.2f}x (target >= 1.0x)")
    print(f"publish_many / naive loop:       {rate['(o)'] / rate['(b)']:.1f}x (target >= 8x)")
    print(f"publish_many / (a+):             {rate['(o)'] / rate['(a+)']:.2f}x")
    print(f"CPU per event, (o) / (ob):       {cpu['(o)'] / cpu['(ob)']:.2f}x (goal <= 0.4x)")
    print(f"CPU per event, (o) / (a):        {cpu['(o)'] / cpu['(a)']:.2f}x")
    print(f"CPU per event, (o) / (a+):       {cpu['(o)'] / cpu['(a+)']:.2f}x")
    print(
        f"{args.concurrent} concurrent publish(): {calls['calls']} PutEvents calls, "
        f"at most {calls['max_entries']} entries each (target <= {args.concurrent // 10} calls)"
    )


if __name__ == "__main__":
    main()
