"""Throttling: what a rate-limited account receives, with and without the adaptive rate.

The local hub (in this process) with a rate quota (``hub.faults.quota``, default 2,000
entries/s) receives ``publish_many`` of 20,000 realistic events from
``TfsoEventBridgeClient``: with the default policy (adaptive send rate) through each
transport, and with ``RetryPolicy(adaptive=False)`` (backoff and jitter, but at full
speed: the retry storm). Figures, as min/median/max of ``--runs`` (3) interleaved runs:
the time as a ratio to the quota's ideal (events / quota seconds; the quota's one-second
burst lets a run finish a little under it), throttled entries the hub answered per event,
rate cuts, failed events and the most attempts one event took. Fewer throttled entries
for the same delivered events is the point; the time is bounded by the quota.

Then random throttling that does not depend on the rate (``hub.faults.throttle_rate``,
default 30% of entries refused whatever the rate): the same events with the default
policy, with ``adaptive=False`` and, for the time the retries alone cost, with no
throttling; times as ratios to the no-throttling run of the same round. The adaptive
rate must not slow this down much: cutting the rate cannot lower a share refused at
any rate.

Run: ``.venv/bin/python -m benchmarks.bench_throttling`` (``--events``, ``--quota``,
``--throttle-rate``, ``--runs``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Sequence
from typing import Literal

from benchmarks._events import make_events
from tfso_events import RetryPolicy, TfsoEventBridgeClient
from tfso_events.local import LocalHub

Transport = Literal["lean", "botocore"]


async def run(
    adaptive: bool,
    events: int,
    quota: float | None,
    throttle_rate: float = 0.0,
    transport: Transport | None = None,
) -> dict[str, float]:
    """One publish_many of ``events`` under ``quota`` (or none) and ``throttle_rate``,
    through ``transport`` (default: the client's); the figures of the run."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    batch_events = make_events(events)
    options = {} if transport is None else {"transport": transport}
    async with LocalHub(seed=0) as hub:
        policy = RetryPolicy(adaptive=adaptive)
        async with TfsoEventBridgeClient(
            "dev", endpoint_url=hub.url, retry=policy, **options
        ) as client:
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


def spread(values: Sequence[float], fmt: str) -> str:
    """``min / median / max`` of ``values``, each formatted with ``fmt``."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return " / ".join(format(v, fmt) for v in (low, mid, high))


def main(argv: Sequence[str] | None = None) -> None:
    """Both parts, one table each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--quota", type=float, default=2000.0)
    parser.add_argument("--throttle-rate", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    ideal = args.events / args.quota
    print(
        f"## Throttling (bench_throttling): {args.events:,} events, quota {args.quota:g}/s "
        f"(ideal {ideal:g} s), min / median / max of {args.runs} interleaved runs\n"
    )
    quota_rows: list[tuple[str, bool, Transport | None]] = [
        ('default (adaptive), `transport="lean"`', True, "lean"),
        ('default (adaptive), `transport="botocore"`', True, "botocore"),
        ("`adaptive=False` (default transport)", False, None),
    ]
    found: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in quota_rows}
    for _ in range(args.runs):
        for label, adaptive, transport in quota_rows:
            found[label].append(asyncio.run(run(adaptive, args.events, args.quota, 0.0, transport)))
    print(
        "| policy | seconds ÷ ideal | throttled entries sent per event | rate cuts "
        "| failed | max attempts |"
    )
    print("|---|---|---|---|---|---|")
    for label, _, _ in quota_rows:
        runs = found[label]
        print(
            f"| {label} | {spread([f['seconds'] / ideal for f in runs], '.2f')} "
            f"| {spread([f['throttled'] / args.events for f in runs], '.2f')} "
            f"| {spread([f['cuts'] for f in runs], '.0f')} "
            f"| {max(f['failed'] for f in runs):.0f} "
            f"| {spread([f['max_attempts'] for f in runs], '.0f')} |",
            flush=True,
        )
    print(
        f"\n## Random throttling: {args.events:,} events, "
        f"{args.throttle_rate:.0%} of entries throttled at any rate, default transport\n"
    )
    random_rows = (
        ("default (adaptive)", True, args.throttle_rate),
        ("adaptive=False", False, args.throttle_rate),
        ("no throttling (default policy)", True, 0.0),
    )
    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(args.runs):
        rounds.append(
            {
                label: asyncio.run(run(adaptive, args.events, None, throttle_rate))
                for label, adaptive, throttle_rate in random_rows
            }
        )
    base = "no throttling (default policy)"
    print(
        "| run | seconds | ÷ no throttling | failed | PutEvents calls | max attempts | rate cuts |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, _, _ in random_rows:
        runs = [r[label] for r in rounds]
        ratios = [r[label]["seconds"] / r[base]["seconds"] for r in rounds]
        print(
            f"| {label} | {spread([f['seconds'] for f in runs], '.1f')} "
            f"| {spread(ratios, '.1f')} | {max(f['failed'] for f in runs):.0f} "
            f"| {spread([f['calls'] for f in runs], ',.0f')} "
            f"| {spread([f['max_attempts'] for f in runs], '.0f')} "
            f"| {spread([f['cuts'] for f in runs], '.0f')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
