"""What the publishers log: a summary per publish_many, one ERROR per reason for a give-up,
retries at DEBUG, and no WARNING per retry during an outage."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from tests.api.conftest import bank_event
from tests.telemetry.conftest import local_api_client
from tfso_events import RetryPolicy
from tfso_events.local import LocalHub
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient


def _ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("tfso_events") and r.levelno == level]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_outage_of_a_few_seconds_writes_at_most_a_handful_of_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens for 3 s, then the hub comes up: every event is delivered, and the
    retries during the outage wrote at most a handful of WARNING lines (they used to
    write one per failed call, thousands a minute)."""
    caplog.set_level(logging.DEBUG, logger="tfso_events")
    port = _free_port()
    hub = LocalHub(port=port)
    policy = RetryPolicy(base_delay=0.01, max_delay=0.1)
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=f"http://127.0.0.1:{port}", retry=policy
    ) as client:
        publishing = asyncio.create_task(client.publish_many([bank_event(i) for i in range(40)]))
        await asyncio.sleep(3)
        await hub.start()
        try:
            batch = await publishing
        finally:
            await hub.stop()
    assert batch.ok
    assert len(_ours(caplog, logging.WARNING)) <= 5
    retries = [r for r in _ours(caplog, logging.DEBUG) if r.getMessage().startswith("retrying")]
    assert len(retries) >= 2  # it did retry, quietly


async def test_a_give_up_is_one_error_naming_how_many_and_why(
    hub: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    """25 events all throttled past max_attempts: one ERROR line saying 25 of 25 events
    were given up, with the code, and the count and code as extra= fields; the INFO
    summary counts them failed."""
    caplog.set_level(logging.INFO, logger="tfso_events")
    hub.faults.throttle_rate = 1.0
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, adaptive=False)
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, retry=policy) as client:
        batch = await client.publish_many([bank_event(i) for i in range(25)], raise_on_error=False)
    assert len(batch.failed) == 25
    (error,) = _ours(caplog, logging.ERROR)
    assert error.name == "tfso_events.publishing.eventbridge"
    assert error.getMessage().startswith("gave up on 25 of 25 events (ThrottlingException)")
    assert error.failed == 25  # type: ignore[attr-defined]
    assert error.error_code == "ThrottlingException"  # type: ignore[attr-defined]
    (summary,) = _ours(caplog, logging.INFO)
    assert summary.getMessage().startswith("published 0 of 25 events")
    assert (summary.sent, summary.failed, summary.retried) == (0, 25, 25)  # type: ignore[attr-defined]


async def test_publish_many_writes_one_info_summary_with_counts_as_fields(
    hub: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A clean publish_many of 30 events: one INFO line, nothing above it."""
    caplog.set_level(logging.INFO, logger="tfso_events")
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish_many([bank_event(i) for i in range(30)])
    (summary,) = [r for r in caplog.records if r.name.startswith("tfso_events")]
    assert summary.levelno == logging.INFO
    assert summary.getMessage().startswith("published 30 of 30 events in ")
    assert (summary.events, summary.sent, summary.failed) == (30, 30, 0)  # type: ignore[attr-defined]


async def test_the_api_client_logs_a_retry_a_give_up_and_its_summary(
    hub: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    """The events API answers 503 twice with max_attempts=2: a DEBUG line says the event
    is retried with the code, one ERROR names the give-up, and the API client writes its
    INFO summary as the EventBridge client does."""
    caplog.set_level(logging.DEBUG, logger="tfso_events")
    hub.faults.error_rate = 1.0
    async with local_api_client(hub, max_attempts=2) as client:
        batch = await client.publish_many([bank_event(0)], raise_on_error=False)
    assert len(batch.failed) == 1
    (retry,) = [r for r in _ours(caplog, logging.DEBUG) if r.getMessage().startswith("retrying")]
    assert "http_503" in retry.getMessage()
    assert retry.error_code == "http_503"  # type: ignore[attr-defined]
    (error,) = _ours(caplog, logging.ERROR)
    assert error.name == "tfso_events.publishing.api"
    assert error.getMessage().startswith("gave up on 1 of 1 events (http_503)")
    (summary,) = _ours(caplog, logging.INFO)
    assert summary.name == "tfso_events.publishing.api"
    assert summary.getMessage().startswith("published 0 of 1 events")
    assert summary.retried == 1  # type: ignore[attr-defined]
