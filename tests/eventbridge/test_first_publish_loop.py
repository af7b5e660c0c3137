"""The first EventBridge publish does not stall the event loop while botocore loads its
EventBridge model: the files are read in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from tests.local.conftest import sample_event
from tfso_events import TfsoEventBridgeClient
from tfso_events.local import LocalHub


def _session() -> object:
    """A fresh aioboto3 session: its botocore loader has read nothing yet."""
    import aioboto3

    return aioboto3.Session(
        aws_access_key_id="AKIALOOP000000000000",
        aws_secret_access_key="loop-test-secret-key",
        region_name="eu-west-1",
    )


class _Loads(logging.Handler):
    """botocore.loaders' "Loading JSON file" records, with the thread that logged them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.loads: list[tuple[int | None, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Loading JSON file"):
            self.loads.append((record.thread, record.getMessage()))


@pytest.fixture
def loads() -> Iterator[_Loads]:
    """botocore.loaders at DEBUG, recorded."""
    logger = logging.getLogger("botocore.loaders")
    handler, level = _Loads(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_botocore_reads_its_model_files_off_the_loop(hub: LocalHub, loads: _Loads) -> None:
    """Every JSON file botocore reads for the first publish (the EventBridge service
    model, its endpoint rule set, endpoints, partitions) is read outside the loop's
    thread."""
    loop_thread = threading.get_ident()
    session = _session()
    async with TfsoEventBridgeClient(
        "dev",
        endpoint_url=hub.url,
        session=session,  # type: ignore[arg-type]
        transport="botocore",
    ) as client:
        await client.publish(sample_event())
    assert any("events" in path and "service-2" in path for _, path in loads.loads), loads.loads
    on_loop = [path for thread, path in loads.loads if thread == loop_thread]
    assert on_loop == []
    assert hub.count() == 1


async def test_lean_open_reads_the_endpoint_rules_off_the_loop(loads: _Loads) -> None:
    """The lean transport's open() without an endpoint_url resolves EventBridge's own
    endpoint from botocore's rule set and partitions, read outside the loop's thread."""
    loop_thread = threading.get_ident()
    async with TfsoEventBridgeClient(
        "dev",
        session=_session(),  # type: ignore[arg-type]
        region_name="eu-north-1",
        transport="lean",
    ) as client:
        await client.open()
        transport = await client._client_now()
    assert getattr(transport, "endpoint", None) == "https://events.eu-north-1.amazonaws.com"
    read = [path for _, path in loads.loads]
    assert any("events" in path and "endpoint-rule-set" in path for path in read), read
    assert any("partitions" in path for path in read), read
    assert [path for thread, path in loads.loads if thread == loop_thread] == []


async def test_the_longest_loop_stall_of_a_first_publish(hub: LocalHub) -> None:
    """Measured: the most CPU time the loop thread spends between two ticks of a 5 ms
    ticker task while a fresh client makes its first publish. Generous bound (the
    loading used to stall the loop for 0.15-0.35 s; now the client object creation and
    the call itself remain)."""
    gaps: list[float] = []

    async def tick() -> None:
        # The loop thread's CPU time between ticks: what the loop itself ran without
        # yielding, which a shared machine's scheduling delays do not inflate (wall-clock
        # gaps reached 0.4-0.6 s on a loaded CI machine with nothing wrong).
        last = time.thread_time()
        while True:
            await asyncio.sleep(0.005)
            now = time.thread_time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    async with TfsoEventBridgeClient(
        "dev",
        endpoint_url=hub.url,
        session=_session(),  # type: ignore[arg-type]
    ) as client:
        await client.publish(sample_event())
    ticker.cancel()
    print(f"longest loop stall on the first publish: {max(gaps) * 1000:.0f} ms")
    assert max(gaps) < 0.3
