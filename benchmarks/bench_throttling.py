"""Throttling: what a rate-limited account receives, with and without the adaptive rate.

The local hub (in this process) with a rate quota (``hub.faults.quota``, default 2,000
entries/s) receives ``publish_many`` of 20,000 realistic events from
``TfsoEventBridgeClient`` twice: with the default policy (adaptive send rate) and with
``RetryPolicy(adaptive=False)`` (backoff and jitter, but at full speed: the retry storm).
Figures: seconds, failed events, throttled entries the hub answered, the most attempts
one event took, and how many times the adaptive rate was cut. Fewer throttled entries
for the same delivered events is the point; the time is bounded by the quota.

Then random throttling that does not depend on the rate (``hub.faults.throttle_rate``,
default 30% of entries refused whatever the rate): the same events with the default
policy, with ``adaptive=False`` and, for the time the retries alone cost, with no
throttling. The adaptive rate must not slow this down much: cutting the rate cannot
lower a share refused at any rate.

Run: ``.venv/bin/python -m benchmarks.bench_throttling`` (``--events``, ``--quota``,
``--throttle-rate``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence

from benchmarks._events import make_events
from tfso_events import RetryPolicy, TfsoEventBridgeClient
from tfso_events.local import LocalHub


async def run(
    adaptive: bool, events: int, quota: float | None, throttle_rate: float = 0.0
) -> dict[str, float]:
    """One publish_many of ``events`` under ``quota`` (or none) and ``throttle_rate``;
    the figures of the run."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    batch_events = make_events(events)
    async with LocalHub(seed=0) as hub:
        policy = RetryPolicy(adaptive=adaptive)
        async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, retry=policy) as client:
            await client.publish(batch_events[0])  # open and warm up
            hub.faults.quota = quota  # a full bucket from here
            hub.faults.throttled_by_quota = 0
            hub.faults.throttle_rate = throttle_rate
            calls = hub.put_events_calls
            start = time.perf_counter()
            batch = await client.publish_many(batch_events, raise_on_error=False)
            elapsed = time.perf_counter() - start
            cuts = client._rate.cuts if client._rate is not None else 0
        return {
            "seconds": elapsed,
            "failed": len(batch.failed),
            "throttled": hub.faults.throttled_by_quota,
            "max_attempts": max(r.attempts for r in batch.results),
            "cuts": cuts,
            "calls": hub.put_events_calls - calls,
        }


def main(argv: Sequence[str] | None = None) -> None:
    """Both runs, one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--quota", type=float, default=2000.0)
    parser.add_argument("--throttle-rate", type=float, default=0.3)
    args = parser.parse_args(argv)
    print(f"## Throttling (bench_throttling): {args.events:,} events, quota {args.quota:g}/s\n")
    print("| policy | seconds | failed | throttled entries sent | max attempts | rate cuts |")
    print("|---|---|---|---|---|---|")
    for label, adaptive in (("default (adaptive)", True), ("adaptive=False", False)):
        f = asyncio.run(run(adaptive, args.events, args.quota))
        print(
            f"| {label} | {f['seconds']:.1f} | {f['failed']:.0f} | {f['throttled']:,.0f} "
            f"| {f['max_attempts']:.0f} | {f['cuts']:.0f} |",
            flush=True,
        )
    print(
        f"\n## Random throttling: {args.events:,} events, "
        f"{args.throttle_rate:.0%} of entries throttled at any rate\n"
    )
    print("| run | seconds | failed | PutEvents calls | max attempts | rate cuts |")
    print("|---|---|---|---|---|---|")
    runs = (
        ("default (adaptive)", True, args.throttle_rate),
        ("adaptive=False", False, args.throttle_rate),
        ("no throttling (default policy)", True, 0.0),
    )
    for label, adaptive, throttle_rate in runs:
        f = asyncio.run(run(adaptive, args.events, None, throttle_rate))
        print(
            f"| {label} | {f['seconds']:.1f} | {f['failed']:.0f} | {f['calls']:,.0f} "
            f"| {f['max_attempts']:.0f} | {f['cuts']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
