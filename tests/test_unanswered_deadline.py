"""``RetryPolicy(unanswered_deadline=...)``: a publish whose every try got no answer
gives up after that budget; a service that answers at all (even throttling) gets the
whole ``deadline``. Real servers on 127.0.0.1: the local hub, and a closed port."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import aioboto3
import pytest

from tfso_events import RetryPolicy, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.testing import build


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    """A fresh local hub in its own thread."""
    with LocalHub(seed=0) as running:
        yield running


def _closed_port() -> str:
    with socket.socket() as sock:  # free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _session() -> aioboto3.Session:
    return aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )


QUICK = RetryPolicy(deadline=30, unanswered_deadline=1.0)


async def test_a_closed_port_gives_up_after_the_unanswered_deadline(hub: LocalHub) -> None:
    """Nothing listens at the events API: the event fails after ~1 s (not the 30 s
    deadline), as a retryable connection_error whose message names the budget."""
    started = time.monotonic()
    async with TfsoEventApiClient(
        "local", "local-client", "local-secret", api_url=_closed_port(), auth0_domain=hub.url,
        retry=QUICK,
    ) as client:  # fmt: skip
        result = await client.publish_many([build(BankTestCreatedV1Event)], raise_on_error=False)
    elapsed = time.monotonic() - started
    (failure,) = result.failed
    assert failure.code == "connection_error"
    assert "did not answer for 1 s" in failure.reason
    assert failure.attempts > 1
    assert elapsed < 10, elapsed


async def test_eventbridge_closed_port_gives_up_after_the_unanswered_deadline() -> None:
    """The same through PutEvents (botocore's own tries included)."""
    started = time.monotonic()
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=_closed_port(), session=_session(), retry=QUICK
    ) as client:
        result = await client.publish_many([build(BankTestCreatedV1Event)], raise_on_error=False)
    (failure,) = result.failed
    assert failure.code == "connection_error"
    assert time.monotonic() - started < 15


async def test_an_answer_means_the_whole_deadline_applies(hub: LocalHub) -> None:
    """A hub that throttles every event has answered: the publish keeps retrying until
    the 3 s deadline, well past the 0.5 s unanswered budget."""
    hub.faults.throttle_rate = 1.0
    policy = RetryPolicy(deadline=3, unanswered_deadline=0.5, base_delay=0.05, max_delay=0.2)
    started = time.monotonic()
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=hub.url, session=_session(), retry=policy
    ) as client:
        result = await client.publish_many([build(BankTestCreatedV1Event)], raise_on_error=False)
    elapsed = time.monotonic() - started
    (failure,) = result.failed
    assert failure.code == "ThrottlingException"
    assert "the client had no event accepted for 3 s" in failure.reason
    assert elapsed >= 2.5, elapsed


def test_the_budget_must_be_positive() -> None:
    """unanswered_deadline is a positive number of seconds or None."""
    with pytest.raises(ValueError, match="unanswered_deadline"):
        RetryPolicy(unanswered_deadline=0)
