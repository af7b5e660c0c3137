"""``publish_many`` client CPU per event and peak memory: this tree against other commits.

What it measures: ``TfsoEventBridgeClient.publish_many`` of ``--events`` (10,000)
realistic events (``benchmarks/_events``, handed over as a list built before the clock)
against the loopback PutEvents stub in its own process (``benchmarks/_stub_putevents``),
at the client's defaults (``max_concurrency=16``), for each transport (``lean``,
``botocore``) and each tree: this one and every ``--baseline`` commit (``git archive
<commit> tfso_events`` unpacked in a temporary directory and put first on
``sys.path``; a commit without the ``transport`` argument runs its only transport,
botocore). Each sample is a fresh child process: it opens the client, warms it up with
one publish, then times one ``publish_many``: the client's CPU (``time.process_time``,
so the client alone; the stub has its own process) per event, the user part of it,
and its peak memory (``ru_maxrss`` growth during the publish). One more row per tree
times the delivery core alone (``deliver()`` of the same count in batches of 10, a
transport that answers at once, no I/O; best of 5 rounds per sample), where a
change to the sending machinery is not drowned by the transport's cost and the noise
of the shared machine.

The rows are interleaved run by run (``--runs``, default 3), so a change of load on the
shared machine hits every row alike, and each ratio is taken within one run (this tree
÷ the baseline, same transport, same run): min/median/max over the runs.

Run: ``.venv/bin/python -m benchmarks.bench_pool --baseline <commit> [--baseline ...]``
(default: ``ab553e1``, main before issue 29, whose only transport was botocore).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = ("lean", "botocore")
#: main before issue 29 (performance): "today" in its table of figures.
BEFORE_ISSUE_29 = "ab553e1"


async def _publish(url: str, n: int, transport: str | None) -> dict[str, float]:
    from benchmarks._events import make_events
    from benchmarks.bench_eventbridge import _session
    from tfso_events import TfsoEventBridgeClient

    options: dict[str, Any] = {} if transport is None else {"transport": transport}
    events = make_events(n)
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=url, session=_session(), **options
    ) as client:
        await client.publish_many(events[:1])  # open and warm up
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall, cpu = time.perf_counter(), time.process_time()
        batch = await client.publish_many(events)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
        if not batch.ok or len(batch) != n:
            raise RuntimeError(f"publish_many: {len(batch.failed)} of {n} failed")
    return {
        "cpu_us": cpu / n * 1e6,
        "user_us": (after.ru_utime - before.ru_utime) / n * 1e6,
        "events_s": n / wall,
        "peak_mib": (after.ru_maxrss - before.ru_maxrss) / 1024,
    }


async def _core(n: int) -> float:
    """CPU µs per event of ``deliver()`` alone: ``n`` entries in batches of 10 through a
    transport that answers at once (one loop turn per call), best of 5 rounds."""
    from benchmarks._events import make_events
    from tfso_events.publishing import _batching as core

    # The code before the pool answered an accepted entry with an Accepted(event_id).
    accepted: Any = getattr(core, "Accepted", str)
    events = make_events(4)

    async def send(batch: Sequence[Any]) -> list[Any]:
        await asyncio.sleep(0)
        return [accepted(f"id-{entry.index}") for entry in batch]

    best = float("inf")
    slots = asyncio.Semaphore(16)
    for _ in range(5):
        entries = [core.Entry(i, events[i % 4], None, 1) for i in range(n)]
        batches = [entries[i : i + 10] for i in range(0, n, 10)]
        cpu = time.process_time()
        outcomes = await core.deliver(batches, send, max_concurrency=16, semaphore=slots)
        best = min(best, time.process_time() - cpu)
        assert len(outcomes) == n
    return best / n * 1e6


def child(url: str, n: int, transport: str) -> None:
    """One sample in this (fresh) process: print its figures as JSON."""
    if transport == "core":
        print(json.dumps({"core_us": asyncio.run(_core(n))}))
        return
    import tfso_events.publishing.eventbridge as eventbridge

    has_transport = hasattr(eventbridge, "TRANSPORTS")
    if not has_transport and transport != "botocore":
        print(json.dumps(None))
        return
    figures = asyncio.run(_publish(url, n, transport if has_transport else None))
    print(json.dumps(figures))


def _sample(tree: str, url: str, n: int, transport: str) -> dict[str, float] | None:
    # cwd and PYTHONPATH first: that tree's tfso_events; benchmarks/ comes from this tree.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, str(ROOT)])}
    code = f"from benchmarks.bench_pool import child; child({url!r}, {n}, {transport!r})"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree
    )
    if out.returncode:
        raise RuntimeError(f"the child for {tree} ({transport}) failed:\n{out.stderr[-3000:]}")
    figures: dict[str, float] | None = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(low)} / {fmt.format(mid)} / {fmt.format(high)}"


def main(argv: Sequence[str] | None = None) -> None:
    """Sample every tree and transport, interleaved; print the table and the ratios."""
    from benchmarks.bench_eventbridge import Stub

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        help=f"a commit (default: {BEFORE_ISSUE_29}, the code issue 29 measured against)",
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": str(ROOT)}
        for commit in args.baseline or [BEFORE_ISSUE_29]:
            got = subprocess.run(
                ["git", "-C", str(ROOT), "archive", commit, "tfso_events"],
                capture_output=True,
            )
            if got.returncode:
                # (make bench in a shallow clone or an unpacked sdist: say so, go on)
                print(f"baseline {commit} is not in this checkout: skipped")
                return
            where = Path(tmp) / commit
            where.mkdir()
            with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
                tar.extractall(where, filter="data")
            trees[commit[:10]] = str(where)
        rows = [(name, transport) for transport in (*TRANSPORTS, "core") for name in trees]
        samples: dict[tuple[str, str], list[dict[str, float]]] = {row: [] for row in rows}
        stub = Stub()
        try:
            for name, transport in rows:  # untimed: bytecode caches, as installed
                _sample(trees[name], stub.url, 10, transport)
            for run in range(args.runs):
                for row in rows:
                    figures = _sample(trees[row[0]], stub.url, args.events, row[1])
                    if figures is not None:
                        samples[row].append(figures)
                print(f"run {run + 1} of {args.runs} done", file=sys.stderr, flush=True)
        finally:
            stub.close()
    print(
        f"publish_many of {args.events:,} events, {args.runs} interleaved runs, "
        "min / median / max\n"
    )
    print("| tree | transport | client CPU µs/event | of which user | events/s | peak memory MiB |")
    print("|---|---|---|---|---|---|")
    for (name, transport), got in samples.items():
        if got and transport != "core":
            print(
                f"| {name} | {transport} | {_spread([g['cpu_us'] for g in got], '{:.1f}')} "
                f"| {_spread([g['user_us'] for g in got], '{:.1f}')} "
                f"| {_spread([g['events_s'] for g in got], '{:,.0f}')} "
                f"| {_spread([g['peak_mib'] for g in got], '{:.1f}')} |"
            )
    print("\n| tree | `deliver()` alone, CPU µs/event (no I/O) |")
    print("|---|---|")
    for name in trees:
        print(f"| {name} | {_spread([g['core_us'] for g in samples[name, 'core']])} |")
    print("\n| ratio (same run) | CPU per event | peak memory |")
    print("|---|---|---|")
    pairs = (("lean", "lean"), ("lean", "botocore"), ("botocore", "botocore"))
    for transport, base_transport in pairs:
        ours = samples["this tree", transport]
        for name in list(trees)[1:]:
            theirs = samples[name, base_transport]
            if not theirs:
                continue
            cpu = [o["cpu_us"] / t["cpu_us"] for o, t in zip(ours, theirs, strict=True)]
            # (a small count may not raise the peak at all: no ratio then)
            mem = [
                o["peak_mib"] / t["peak_mib"] if t["peak_mib"] else math.nan
                for o, t in zip(ours, theirs, strict=True)
            ]
            print(
                f"| this tree {transport} ÷ {name} {base_transport} | {_spread(cpu)}x "
                f"| {_spread(mem)}x |"
            )
    for name in list(trees)[1:]:
        core = [
            o["core_us"] / t["core_us"]
            for o, t in zip(samples["this tree", "core"], samples[name, "core"], strict=True)
        ]
        print(f"| `deliver()` alone: this tree ÷ {name} | {_spread(core)}x | |")


if __name__ == "__main__":
    main()
