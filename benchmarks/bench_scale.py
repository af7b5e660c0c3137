"""Scale: how the cost of ``publish_many`` and ``parse_event`` grows with the count.

What it measures, for 1,000, 10,000 and 100,000 realistic events (``benchmarks/_events``:
the four detail-types in turn, metadata with four keys, one nested):

* **publish_many** of a *generator* of that many events through
  ``TfsoEventBridgeClient`` (defaults) against the loopback PutEvents stub in its own
  process: events/s, the client's CPU µs per event (``time.process_time`` of the
  measuring process), and its peak memory (``ru_maxrss`` of a fresh child process per
  count, minus that child's footprint before it publishes), so the figure is what the
  publish held: the entries (validated detail JSON), the batches and the results.
* **parse_event** over that many EventBridge envelopes (bytes, built before the clock):
  µs per event.

Cost per event should stay flat as the count grows; memory grows with the count,
because ``publish_many`` validates every event before it sends any (nothing is sent
when one is invalid) and returns one result per event.

Run: ``.venv/bin/python -m benchmarks.bench_scale`` (``--counts 1000,10000`` to choose).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks._events import iter_events
from benchmarks.bench_eventbridge import Stub, _session
from tfso_events import TfsoEventBridgeClient, parse_event

COUNTS = (1_000, 10_000, 100_000)


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _publish(url: str, n: int) -> dict[str, float]:
    async with TfsoEventBridgeClient("dev", endpoint_url=url, session=_session()) as client:
        await client.publish_many(iter_events(1))  # open and warm up
        before = _rss_kib()
        wall, cpu = time.perf_counter(), time.process_time()
        batch = await client.publish_many(iter_events(n))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert batch.ok
        assert len(batch) == n
        peak = _rss_kib() - before
    return {"events_s": n / wall, "cpu_us": cpu / n * 1e6, "peak_mib": peak / 1024}


def _parse(n: int) -> float:
    raws = []
    for i, event in enumerate(iter_events(n)):
        head = (
            f'{{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-{i:012d}",'
            f'"detail-type":"{event.detail_type}","source":"{event.source}",'
            '"account":"111122223333","time":"2024-05-01T12:00:00Z",'
            '"region":"eu-west-1","resources":[],"detail":'
        ).encode()
        raws.append(head + event.detail_json() + b"}")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for raw in raws:
            parse_event(raw)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def child(url: str, n: int) -> None:
    """One count in this (fresh) process: print its figures as JSON."""
    figures = asyncio.run(_publish(url, n))
    figures["parse_us"] = _parse(n)
    print(json.dumps(figures))


def main(argv: Sequence[str] | None = None) -> None:
    """Run every count in its own child process against one stub; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)))
    parser.add_argument("--child", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    stub = Stub()
    try:
        print("## Scale (bench_scale)\n")
        print(
            "| events | publish_many events/s | client CPU µs/event | peak memory MiB "
            "| KiB/event | parse_event µs/event |"
        )
        print("|---|---|---|---|---|---|")
        for n in (int(c) for c in args.counts.split(",")):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_scale", "--child", stub.url, str(n)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            f = json.loads(out.strip().splitlines()[-1])
            print(
                f"| {n:,} | {f['events_s']:,.0f} | {f['cpu_us']:.1f} | {f['peak_mib']:.1f} "
                f"| {f['peak_mib'] * 1024 / n:.2f} | {f['parse_us']:.2f} |",
                flush=True,
            )
    finally:
        stub.close()


if __name__ == "__main__":
    main()
