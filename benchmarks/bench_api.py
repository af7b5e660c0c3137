"""The API publisher: ``TfsoEventApiClient.publish_many`` against hand-written clients.

What it measures, in one run on one machine, against a local hub (``LocalHub``, real
RS256 tokens from its Auth0 endpoint, real JWT verification and catalog validation in
its ``POST /events``) running on its own event loop in a background thread:

(a) **publish_many**: ``TfsoEventApiClient.publish_many(events)`` with the default
    ``max_concurrency=16``: one keep-alive session, one cached token.
(b) **concurrent publish()**: the same events as ``asyncio.gather`` of ``publish()``
    calls on one client (what an asyncio service does under load).
(c) **hand-tuned loop**: the best a careful hand-written client does: one session, one
    token fetched up front, 16 concurrent raw ``session.post`` calls, no validation,
    no retries. The floor of the protocol; (a) should come close to it.
(d) **naive loop**: the common hand-written client: for each event, open a new
    ``aiohttp.ClientSession``, fetch a token, post the event, close the session.
    Sequential, as such loops are written. It also costs Auth0 one token per event.

The figure is events/s per column and the ratios (a)/(d) and (a)/(c), each the best of
``--repeats`` runs. Token requests per run are printed too: (a), (b) and (c) use one,
(d) one per event. Against real Auth0 a token costs ~100 ms and counts against the
tenant's M2M quota, so the real gap is far larger than on loopback.

Run: ``.venv/bin/python -m benchmarks.bench_api`` (``--events``, ``--naive-events``,
``--repeats`` to change the sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from benchmarks._events import make_events
from tfso_events import TfsoEvent, TfsoEventApiClient
from tfso_events.environments import AUDIENCE
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub

CONCURRENCY = 16


def _client(url: str) -> TfsoEventApiClient:
    return TfsoEventApiClient(
        "local",
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        auth0_domain=url,
        api_url=url,
        max_concurrency=CONCURRENCY,
    )


async def run_publish_many(url: str, events: Sequence[TfsoEvent]) -> None:
    """(a) one client, ``publish_many``."""
    async with _client(url) as client:
        await client.publish_many(events)


async def run_concurrent_publish(url: str, events: Sequence[TfsoEvent]) -> None:
    """(b) one client, ``gather`` of ``publish()``."""
    async with _client(url) as client:
        await asyncio.gather(*(client.publish(event) for event in events))


async def _token(session: aiohttp.ClientSession, url: str) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "audience": AUDIENCE,
        "scope": "bank",
    }
    async with session.post(f"{url}/oauth/token", data=form) as response:
        response.raise_for_status()
        token: str = (await response.json())["access_token"]
        return token


def _body(event: TfsoEvent) -> str:
    return json.dumps(
        {
            "source": event.source,
            "detailType": event.detail_type,
            "detail": json.loads(event.detail_json()),
        }
    )


async def run_hand_tuned(url: str, events: Sequence[TfsoEvent]) -> None:
    """(c) one session, one token, 16 concurrent raw posts."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        headers = {
            "Authorization": f"Bearer {await _token(session, url)}",
            "Content-Type": "application/json",
        }
        slots = asyncio.Semaphore(CONCURRENCY)

        async def post(event: TfsoEvent) -> None:
            async with (
                slots,
                session.post(f"{url}/events", data=_body(event), headers=headers) as response,
            ):
                response.raise_for_status()

        await asyncio.gather(*(post(event) for event in events))


async def run_naive(url: str, events: Sequence[TfsoEvent]) -> None:
    """(d) per event: new session, new token, one post."""
    for event in events:
        async with aiohttp.ClientSession() as session:
            token = await _token(session, url)
            async with session.post(
                f"{url}/events",
                data=_body(event),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            ) as response:
                response.raise_for_status()


Runner = Callable[[str, Sequence[TfsoEvent]], Awaitable[None]]


def measure(hub: LocalHub, runner: Runner, n: int, repeats: int) -> tuple[float, float]:
    """Best events/s of ``repeats`` runs of ``runner`` over ``n`` events, and the token
    requests one run cost."""
    best = 0.0
    tokens = 0
    for _ in range(repeats):
        events = make_events(n)
        hub.clear()
        before = hub.token_requests
        started = time.perf_counter()
        asyncio.run(runner(hub.url, events))
        elapsed = time.perf_counter() - started
        if hub.count() != n:
            raise RuntimeError(f"{runner.__name__}: hub stored {hub.count()} of {n} events")
        tokens = hub.token_requests - before
        best = max(best, n / elapsed)
    return best, tokens


def main(argv: Sequence[str] | None = None) -> None:
    """Run the four clients against one local hub and print events/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per run of (a)-(c)")
    parser.add_argument("--naive-events", type=int, default=200, help="events per run of (d)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per column; best counts")
    args = parser.parse_args(argv)

    print(
        f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{args.repeats} repeats, concurrency {CONCURRENCY}"
    )
    with LocalHub() as hub:
        rows = [
            ("(a) publish_many", run_publish_many, args.events),
            ("(b) concurrent publish()", run_concurrent_publish, args.events),
            ("(c) hand-tuned loop", run_hand_tuned, args.events),
            ("(d) naive loop", run_naive, args.naive_events),
        ]
        rates: dict[str, float] = {}
        print(f"{'client':<26} {'events':>7} {'events/s':>10} {'tokens/run':>11}")
        for name, runner, n in rows:
            rate, tokens = measure(hub, runner, n, args.repeats)
            rates[name[:3]] = rate
            print(f"{name:<26} {n:>7} {rate:>10.0f} {tokens:>11}")
    print(f"publish_many / naive loop:      {rates['(a)'] / rates['(d)']:.1f}x")
    print(f"publish_many / hand-tuned loop: {rates['(a)'] / rates['(c)']:.2f}x")
    print(f"publish() / publish_many:       {rates['(b)'] / rates['(a)']:.2f}x")


if __name__ == "__main__":
    main()
