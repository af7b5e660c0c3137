"""How long ``GET /events`` holds the local hub's event loop, over 100,000 stored events.

The hub stores every event it accepts; ``GET /events`` (``tfso-events tail``, the
tests) lists them. Built in one go, the answer for 100,000 realistic events (about
42 MB) held the loop, and every other client of the hub, for most of a second. Served
in pages, each page is one short query and one encode.

The hub runs on its own loop in a thread with a ticker task that wakes every 1 ms; the
**max loop block** is the longest gap between two ticks (minus the 1 ms) while a client
in another process (``curl``-like: urllib in a child interpreter, so it does not share
the hub's GIL) reads the whole list; **p99** is the 99th percentile of those gaps.
Compared in one run: the hub as it is (pages of ``JSON_PAGE_SIZE``) and the same records
built in one piece (``records_json``, what the hub did before). Figures in ms;
``--events N`` changes the count. Run:
``.venv/bin/python -m benchmarks.bench_hub_list``
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from aiohttp import web

from benchmarks._events import make_events
from tfso_events.local import LocalHub
from tfso_events.local._store import JSON_PAGE_SIZE


def _fill(hub: LocalHub, count: int) -> None:
    events = make_events(1000)
    now = time.time()
    rows = [
        (
            f"id-{n}",
            "api",
            event.source,
            event.detail_type,
            event.detail_json().decode(),
            None,
            "[]",
            "local-client",
            now,
        )
        for n, event in zip(range(count), events * (count // len(events) + 1), strict=False)
    ]
    hub._state.store.add(rows)


def _fetch_in_a_child(url: str) -> int:
    """GET ``url`` from a child interpreter; the number of bytes read."""
    code = (
        "import sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1], timeout=300) as a: print(len(a.read()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def _blocks(hub: LocalHub, url: str) -> tuple[float, float, float, int]:
    """(max loop block ms, p99 ms, wall ms, bytes) while a child reads ``url``."""
    loop = hub._thread_loop
    assert loop is not None
    gaps: list[float] = []
    stop = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last - 0.001)
            last = now

    future = asyncio.run_coroutine_threadsafe(ticker(), loop)
    time.sleep(0.05)
    gaps.clear()
    started = time.perf_counter()
    size = _fetch_in_a_child(url)
    wall = time.perf_counter() - started
    stop = True
    future.result()
    gaps.sort()
    return gaps[-1] * 1000, gaps[int(len(gaps) * 0.99)] * 1000, wall * 1000, size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args(argv)
    with LocalHub() as hub:
        _fill(hub, args.events)

        # The old handler: the whole body built in one go on the loop, then sent.
        async def whole(request: web.Request) -> web.Response:
            body = hub._state.store.records_json()
            return web.Response(body=body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/events", whole)

        async def serve_old() -> tuple[web.AppRunner, int]:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return runner, int(runner.addresses[0][1])

        loop = hub._thread_loop
        assert loop is not None
        runner, port = asyncio.run_coroutine_threadsafe(serve_old(), loop).result()

        urls = {
            "paged (now)": f"{hub.url}/events",
            "one piece (before)": f"http://127.0.0.1:{port}/events",
        }
        print(f"GET /events over {args.events:,} stored events (page size {JSON_PAGE_SIZE})")
        print(f"{'handler':<22}{'max loop block ms':>19}{'p99 ms':>8}{'wall ms':>9}{'MB':>7}")
        for _ in range(2):  # interleaved, twice
            for name, url in urls.items():
                block, p99, wall, size = _blocks(hub, url)
                print(f"{name:<22}{block:>19.1f}{p99:>8.1f}{wall:>9.0f}{size / 1e6:>7.1f}")
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()


if __name__ == "__main__":
    main()
