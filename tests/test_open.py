"""``open()``: every publisher prepares its transport on request (a Lambda's init
phase), idempotently, and raises what stops every call there. Real hub on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import aioboto3
import pytest

from tfso_events import (
    ConfigurationError,
    Publisher,
    SyncPublisher,
    TfsoEventApiClient,
    TfsoEventBridgeClient,
)
from tfso_events import sync as tfso_sync
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.testing import MemoryPublisher, SyncMemoryPublisher, build


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    """A local hub in its own thread."""
    with LocalHub() as running:
        yield running


def _session() -> aioboto3.Session:
    return aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )


async def test_eventbridge_open_is_idempotent_and_the_client_publishes(hub: LocalHub) -> None:
    """``await client.open()`` returns the client, may be called again, and the client
    then publishes as usual (the event reaches the hub)."""
    client = TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=_session())
    async with client:
        assert await client.open() is client
        assert await client.open() is client
        result = await client.publish(build(BankTestCreatedV1Event))
    assert hub.received()[-1].event_id == result.event_id


async def test_eventbridge_open_raises_what_stops_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a region, ``open()`` raises the ConfigurationError (saying how to set one)
    before any event was handed over."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    session = aioboto3.Session(aws_access_key_id="x", aws_secret_access_key="y")
    async with TfsoEventBridgeClient("dev", session=session) as client:
        with pytest.raises(ConfigurationError, match="AWS_DEFAULT_REGION"):
            await client.open()


async def test_api_open_then_publish(hub: LocalHub) -> None:
    """TfsoEventApiClient.open() returns the client; publishing afterwards works."""
    client = TfsoEventApiClient(
        "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=hub.url, auth0_domain=hub.url
    )
    async with client:
        assert await client.open() is client
        result = await client.publish(build(BankTestCreatedV1Event))
    assert result.event_id


async def test_open_on_a_closed_client_is_refused() -> None:
    """``open()`` after ``aclose()`` is a ConfigurationError, as a publish would be."""
    client = TfsoEventBridgeClient("dev", session=_session())
    await client.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        await client.open()


async def test_memory_publisher_open_raises_misconfiguration() -> None:
    """MemoryPublisher.open() is a no-op when healthy and raises the injected
    ConfigurationError after misconfigure(), as the real client's open() would."""
    publisher = MemoryPublisher()
    assert await publisher.open() is publisher
    publisher.misconfigure("no region (test)")
    with pytest.raises(ConfigurationError, match="no region"):
        await publisher.open()


def test_sync_facades_open(hub: LocalHub) -> None:
    """The sync facades' ``open()`` prepares the async client on its loop and returns
    the facade; the memory twin's too."""
    with tfso_sync.TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=_session()) as c:
        assert c.open() is c
        assert c.publish(build(BankTestCreatedV1Event)).event_id
    with SyncMemoryPublisher() as memory:
        assert memory.open() is memory


def test_open_is_part_of_the_protocols() -> None:
    """``open`` belongs to the Publisher and SyncPublisher protocols (code typed against
    them can warm any publisher up): an object without it does not satisfy them."""

    class NoOpen:
        async def publish(self, event: object) -> None: ...
        async def publish_many(self, events: object) -> None: ...
        async def aclose(self) -> None: ...
        def close(self) -> None: ...

    assert not isinstance(NoOpen(), Publisher)
    assert not isinstance(NoOpen(), SyncPublisher)
    assert isinstance(MemoryPublisher(), Publisher)
    assert isinstance(SyncMemoryPublisher.__new__(SyncMemoryPublisher), SyncPublisher)
