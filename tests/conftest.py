"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiohttp import web

    from tfso_events.local import LocalHub

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


#: The session token of temporary AWS credentials, set for the whole run (below).
SUITE_AWS_SESSION_TOKEN = "suite-aws-session-token-IQoJb3JpZ2luX2VjEHwaCWV1"


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """Suite-wide: every logger (the root, hence botocore, aiohttp, asyncio and ours) is at
    DEBUG for the whole run, with ``AWS_SESSION_TOKEN`` set as temporary AWS credentials
    have it, and every log record is checked for a client secret, an access token or the
    session token; any leak fails the run at the end, naming the test and logger
    (tests/reliability/leaks.py)."""
    import os

    from tests.reliability.leaks import watch_logs, watch_secret

    previous = os.environ.get("AWS_SESSION_TOKEN")
    os.environ["AWS_SESSION_TOKEN"] = watch_secret(SUITE_AWS_SESSION_TOKEN)
    try:
        with watch_logs("") as watch:
            yield
    finally:
        if previous is None:
            os.environ.pop("AWS_SESSION_TOKEN", None)
        else:
            os.environ["AWS_SESSION_TOKEN"] = previous
    assert not watch.leaks, watch.report()
