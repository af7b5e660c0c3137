"""Missing credentials are a ``ConfigurationError`` that says how to fix it, raised before
any request reaches the endpoint: AWS credentials for ``TfsoEventBridgeClient``, the
Auth0 application secret (or id) for ``TfsoEventApiClient``, through the async clients
and the sync facade alike.

The endpoint is a loopback listener that counts every connection: a client that tried
to send anyway would show up there. AWS's environment is emptied for these tests (no
``AWS_*`` variables, empty config and credentials files, no instance metadata), the
way a developer laptop without AWS set up looks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import leftover_threads, marked
from tfso_events import (
    ConfigurationError,
    RetryPolicy,
    TfsoEventApiClient,
    TfsoEventBridgeClient,
)
from tfso_events import sync as blocking


async def in_a_thread(run: Callable[[], None]) -> None:
    """Run blocking ``run`` on a thread of its own (not the loop's executor, whose
    worker would outlive the test) and re-raise what it raised."""
    errors: list[BaseException] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def target() -> None:
        try:
            run()
        except BaseException as exc:
            errors.append(exc)
        finally:
            loop.call_soon_threadsafe(done.set)

    thread = threading.Thread(target=target, name="test-caller")
    thread.start()
    await done.wait()
    thread.join()
    if errors:
        raise errors[0]


class Tripwire:
    """A TCP listener on 127.0.0.1 that counts connections and answers none."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        async def seen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(seen, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def tripwire() -> AsyncIterator[Tripwire]:
    """An endpoint that records any attempt to reach it."""
    wire = Tripwire()
    await wire.start()
    try:
        yield wire
    finally:
        await wire.stop()


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials anywhere: no AWS_* variables, empty config and credentials
    files, the instance metadata service off (so nothing is probed), a region set."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture
def no_auth0(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Auth0 credentials in the environment."""
    monkeypatch.delenv("TFSO_EVENTS_CLIENT_ID", raising=False)
    monkeypatch.delenv("TFSO_EVENTS_CLIENT_SECRET", raising=False)


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize("call", ["publish", "publish_many"])
async def test_missing_aws_credentials(tripwire: Tripwire, call: str) -> None:
    """No AWS credentials: publish and publish_many raise ConfigurationError naming the
    ways to provide them, and nothing reaches the endpoint."""
    async with TfsoEventBridgeClient("dev", endpoint_url=tripwire.url) as client:
        attempt = (
            client.publish(marked("creds", 0))
            if call == "publish"
            else client.publish_many([marked("creds", i) for i in range(25)])
        )
        with pytest.raises(ConfigurationError) as info:
            await attempt
    assert "AWS_ACCESS_KEY_ID" in str(info.value)
    assert "role" in str(info.value)
    assert tripwire.connections == 0


@pytest.mark.usefixtures("no_aws")
async def test_missing_region_names_a_fix_that_works(
    tripwire: Tripwire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No region: ConfigurationError naming a variable; setting that variable (with
    credentials present) is enough for the client to go and call the endpoint."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    async with TfsoEventBridgeClient("dev", endpoint_url=tripwire.url) as client:
        with pytest.raises(ConfigurationError) as info:
            await client.publish_many([marked("region", 0)])
    assert tripwire.connections == 0
    (variable,) = [word for word in str(info.value).split() if word.startswith("AWS_")]
    monkeypatch.setenv(variable, "eu-west-1")
    one_try = RetryPolicy(max_attempts=1)
    async with TfsoEventBridgeClient("dev", endpoint_url=tripwire.url, retry=one_try) as client:
        batch = await client.publish_many([marked("region", 0)], raise_on_error=False)
    assert batch.failed[0].code == "connection_error"  # the tripwire hangs up on it
    assert tripwire.connections > 0


@pytest.mark.usefixtures("no_aws")
async def test_missing_aws_credentials_through_the_sync_facade(tripwire: Tripwire) -> None:
    """The blocking facade raises the same ConfigurationError, reaches nothing, and
    closes its loop thread."""
    before = threading.enumerate()

    def run() -> None:
        with blocking.TfsoEventBridgeClient("dev", endpoint_url=tripwire.url) as client:
            client.publish(marked("creds", 0))

    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID"):
        await in_a_thread(run)
    assert tripwire.connections == 0
    assert leftover_threads(before) == set()


@pytest.mark.usefixtures("no_auth0")
@pytest.mark.parametrize(
    ("client_id", "secret", "missing"),
    [
        ("rel-client", None, "TFSO_EVENTS_CLIENT_SECRET"),
        ("rel-client", "", "TFSO_EVENTS_CLIENT_SECRET"),
        ("rel-client", "   ", "TFSO_EVENTS_CLIENT_SECRET"),
        (None, "s", "TFSO_EVENTS_CLIENT_ID"),
        (None, None, "TFSO_EVENTS_CLIENT_ID"),
    ],
    ids=["no-secret", "empty-secret", "blank-secret", "no-id", "neither"],
)
async def test_missing_auth0_credentials(
    tripwire: Tripwire, client_id: str | None, secret: str | None, missing: str
) -> None:
    """A missing or blank Auth0 secret (or id) is a ConfigurationError at construction,
    naming the argument and the variable, with nothing sent to Auth0 or the API."""
    with pytest.raises(ConfigurationError) as info:
        TfsoEventApiClient(
            "local", client_id, secret, auth0_domain=tripwire.url, api_url=tripwire.url
        )
    assert missing in str(info.value)
    assert "machine-to-machine application" in str(info.value)
    assert tripwire.connections == 0


@pytest.mark.usefixtures("no_auth0")
async def test_missing_auth0_secret_through_the_sync_facade(tripwire: Tripwire) -> None:
    """The blocking facade raises the same ConfigurationError and leaves no thread."""
    before = threading.enumerate()

    def run() -> None:
        blocking.TfsoEventApiClient(
            "local", "rel-client", None, auth0_domain=tripwire.url, api_url=tripwire.url
        )

    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_CLIENT_SECRET"):
        await in_a_thread(run)
    assert tripwire.connections == 0
    assert leftover_threads(before) == set()
