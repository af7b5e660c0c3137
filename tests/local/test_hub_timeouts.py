"""The hub's connections and its list under abuse (issue 24, item 5): a client that does
not send a whole request within the read timeout is disconnected, and ``GET /events``
over many stored events is served a page at a time without holding the loop. Real
sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.local.conftest import api_body
from tfso_events.local import DEFAULT_CLIENT_ID, LocalHub
from tfso_events.local._store import JSON_PAGE_SIZE

READ_TIMEOUT = 0.5


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the hub sends until it closes the connection (fails after ``seconds``);
    a reset (the hub closed with our bytes unread) is a close too."""
    async with asyncio.timeout(seconds):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def test_partial_headers_are_disconnected() -> None:
    """Connections that send half a request line or half the headers (or nothing) are
    closed by the hub after the read timeout; the hub still serves afterwards."""
    async with LocalHub(read_timeout=READ_TIMEOUT) as hub:
        partials = [b"", b"POST /eve", b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Ty"]
        streams = [await asyncio.open_connection("127.0.0.1", hub.port) for _ in range(30)]
        for n, (_, writer) in enumerate(streams):
            writer.write(partials[n % len(partials)])
            await writer.drain()
        started = time.monotonic()
        answers = await asyncio.gather(*(_closed_within(r, 10) for r, _ in streams))
        assert time.monotonic() - started < 10
        assert answers == [b""] * 30  # closed without an answer: no request arrived
        for _, writer in streams:
            writer.close()
        async with aiohttp.ClientSession() as http, http.get(f"{hub.url}/events") as answer:
            assert answer.status == 200


async def test_a_trickled_header_does_not_extend_the_deadline() -> None:
    """A client sending one header byte at a time (slowloris) is cut off at the read
    timeout, however steadily it sends."""
    async with LocalHub(read_timeout=READ_TIMEOUT) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        started = time.monotonic()
        line = b"GET /events HTTP/1.1\r\nX-Slow: " + b"a" * 1000
        try:
            for byte in line:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.02)
                if reader.at_eof():
                    break
        except ConnectionError:
            pass
        assert await _closed_within(reader, 10) == b""
        assert time.monotonic() - started < READ_TIMEOUT + 5
        writer.close()


async def test_a_partial_body_gets_408_and_is_disconnected() -> None:
    """Whole headers but only part of the announced body: the hub answers 408 after the
    read timeout, closes the connection, and stores nothing."""
    async with LocalHub(read_timeout=READ_TIMEOUT) as hub:
        token = hub.issue_token(DEFAULT_CLIENT_ID)
        body = json.dumps(api_body()).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(
            b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        await writer.drain()
        answer = await _closed_within(reader, 15)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"request_timeout" in answer
        assert hub.count() == 0


async def test_a_whole_request_within_the_timeout_is_served() -> None:
    """The counterpart: a request that arrives whole, even slowly, is answered, and the
    kept-alive connection serves a second one."""
    async with LocalHub(read_timeout=2.0) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        for _ in range(2):
            for part in (b"GET /events?limit=1 HT", b"TP/1.1\r\nHost: x\r\n", b"\r\n"):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.1)
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200")
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            # the chunked body: "2\r\n[]\r\n0\r\n\r\n" or similar, up to the last chunk
            while (await asyncio.wait_for(reader.readline(), 5)) != b"0\r\n":
                pass
            await reader.readline()
        writer.close()


def _fill(hub: LocalHub, count: int) -> None:
    """Store ``count`` events directly (the hub's own insert), alternating two ways in."""
    detail = json.dumps(api_body()["detail"])
    hub._state.store.add(
        [
            (
                f"id-{n}",
                ("api", "eventbridge")[n % 2],
                "com.24sevenoffice.banktransfer",
                "bank.test:created@v1",
                detail,
                None,
                "[]",
                None,
                1_700_000_000.0 + n,
            )
            for n in range(count)
        ]
    )


async def test_get_events_pages_agree_with_the_store(hub: LocalHub) -> None:
    """Across page boundaries, GET /events answers exactly what the store holds: every
    record once, in order, with limit, after_id, order=desc and via filters."""
    count = JSON_PAGE_SIZE * 3 + 7
    _fill(hub, count)
    async with aiohttp.ClientSession() as http:

        async def ids(**params: str) -> list[int]:
            async with http.get(f"{hub.url}/events", params=params) as answer:
                assert answer.status == 200
                return [record["id"] for record in json.loads(await answer.read())]

        assert await ids() == list(range(1, count + 1))
        assert await ids(order="desc") == list(range(count, 0, -1))
        assert await ids(limit=str(JSON_PAGE_SIZE + 1)) == list(range(1, JSON_PAGE_SIZE + 2))
        assert await ids(after_id="50", limit="201") == list(range(51, 252))
        assert await ids(order="desc", after_id="10", limit="250") == list(
            range(count, count - 250, -1)
        )
        assert await ids(via="api") == list(range(1, count + 1, 2))
        assert await ids(detail_type="nothing") == []
        assert await ids(after_id=str(count)) == []


async def test_get_events_does_not_hold_the_loop(hub: LocalHub) -> None:
    """While GET /events lists 30,000 stored events, other work on the hub's loop keeps
    running: the longest the loop is held is a small part of the whole answer (the
    list built in one piece held it for nearly all of it)."""
    _fill(hub, 30_000)
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        gaps.clear()
        started = time.perf_counter()
        async with http.get(f"{hub.url}/events") as answer:
            size = len(await answer.read())
        wall = time.perf_counter() - started
        done = True
        await task
    assert size > 30_000 * 300
    # A ratio in one run, so a slower machine moves both sides.
    assert max(gaps) < wall / 3, f"held {max(gaps) * 1000:.0f} ms of {wall * 1000:.0f} ms"
