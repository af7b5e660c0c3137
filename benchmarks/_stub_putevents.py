"""A loopback PutEvents endpoint for the EventBridge benchmark, run in its own process.

It answers ``POST /`` (``X-Amz-Target: AWSEvents.PutEvents``) with one ``EventId`` per
entry, as cheaply as it can (one msgspec decode of the body, ids from a counter), so
the benchmark measures the clients rather than the server. ``GET /stats`` returns the
calls and entries seen so far; ``POST /reset`` zeroes them.

Run: ``python -m benchmarks._stub_putevents [--port N]``; it prints ``PORT <n>`` on
stdout when it is listening on 127.0.0.1 and serves until stdin closes or it is
terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import Sequence

import msgspec
from aiohttp import web

_CONTENT_TYPE = "application/x-amz-json-1.1"


class _Entry(msgspec.Struct):
    pass  # only the count matters; every field is skipped unread


class _Request(msgspec.Struct, rename="pascal"):
    entries: list[_Entry]


_DECODE = msgspec.json.Decoder(_Request).decode
_ENCODE = msgspec.json.encode


class Stats:
    """Calls and entries received."""

    def __init__(self) -> None:
        self.calls = 0
        self.entries = 0
        self.max_entries = 0


async def serve(port: int) -> None:
    """Serve until stdin is closed (the parent exited) or the task is cancelled."""
    stats = Stats()
    ids = itertools.count()

    async def put_events(request: web.Request) -> web.Response:
        if request.headers.get("X-Amz-Target") != "AWSEvents.PutEvents":
            return web.Response(status=400, text="PutEvents only")
        count = len(_DECODE(await request.read()).entries)
        stats.calls += 1
        stats.entries += count
        stats.max_entries = max(stats.max_entries, count)
        body = _ENCODE(
            {
                "FailedEntryCount": 0,
                "Entries": [
                    {"EventId": f"00000000-0000-4000-8000-{next(ids):012d}"} for _ in range(count)
                ],
            }
        )
        return web.Response(body=body, content_type=_CONTENT_TYPE)

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"calls": stats.calls, "entries": stats.entries, "max_entries": stats.max_entries}
        )

    async def reset(request: web.Request) -> web.Response:
        stats.calls = stats.entries = stats.max_entries = 0
        return web.json_response({})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.add_routes(
        [web.post("/", put_events), web.get("/stats", get_stats), web.post("/reset", reset)]
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        # The parent holds our stdin; EOF means it is gone.
        await loop.run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``--port`` and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
