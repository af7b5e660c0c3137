"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiohttp import web

    from tfso_events.local import LocalHub

pytest_plugins = ("pytester",)  # tests/testing runs user test modules through it

#: ``await serve(app)`` starts an aiohttp app on a free loopback port and returns its URL.
Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def hub() -> AsyncIterator[LocalHub]:
    """A started :class:`LocalHub` on a random loopback port, stopped after the test.

    Ready client ``local-client``/``local-secret`` with every module scope; faults off and
    seeded (``seed=0``) so fault draws repeat; tokens live the default 24 h.
    """
    from tfso_events.local import LocalHub  # imported here: collecting tests stays cheap

    async with LocalHub(seed=0) as started:
        yield started


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve small aiohttp stubs (fault injection, recording) on 127.0.0.1: ``url = await
    serve(app, **runner_options)``; every app is stopped after the test, after the
    fixtures that use this one."""
    from aiohttp import web

    runners: list[web.AppRunner] = []

    async def start(app: web.Application, **runner_options: Any) -> str:
        runner = web.AppRunner(app, access_log=None, **runner_options)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    try:
        yield start
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """Suite-wide: every log record of the run (the ``tfso_events`` loggers at DEBUG) is
    checked for a client secret or an access token; any leak fails the run at the end,
    naming the test and logger (tests/reliability/leaks.py)."""
    from tests.reliability.leaks import watch_logs

    with watch_logs() as watch:
        yield
    assert not watch.leaks, watch.report()
