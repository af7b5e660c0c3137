"""Fault injection: throttled entries, 5xx, token endpoint errors, latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from tests.local.conftest import api_body, entry, fetch_token, token_form
from tfso_events.local import Faults, LocalHub


async def test_throttle_rate_one_throttles_every_put_events_entry(
    hub: LocalHub, eventbridge: Any
) -> None:
    """throttle_rate=1: every valid entry is answered ThrottlingException, none stored."""
    hub.faults.throttle_rate = 1.0
    answer = await eventbridge.put_events(Entries=[entry("a"), entry("b")])
    assert answer["FailedEntryCount"] == 2
    assert {r["ErrorCode"] for r in answer["Entries"]} == {"ThrottlingException"}
    assert hub.count() == 0
    hub.faults.throttle_rate = 0.0
    answer = await eventbridge.put_events(Entries=[entry("a")])
    assert answer["FailedEntryCount"] == 0


async def test_throttle_rate_is_per_entry_and_reproducible_with_a_seed() -> None:
    """A fractional throttle_rate throttles some entries of a call; the same seed gives
    the same pattern."""
    import aioboto3

    patterns = []
    for _ in range(2):
        async with LocalHub(seed=7, faults=Faults(throttle_rate=0.5)) as hub:
            session = aioboto3.Session(
                aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
            )
            async with session.client("events", endpoint_url=hub.url) as client:
                codes = []
                for _ in range(4):
                    answer = await client.put_events(Entries=[entry(str(i)) for i in range(10)])
                    codes += [r.get("ErrorCode") for r in answer["Entries"]]
            assert hub.count() == codes.count(None)
        patterns.append(codes)
    assert patterns[0] == patterns[1]
    assert 0 < patterns[0].count("ThrottlingException") < 40


async def test_throttle_rate_answers_429_on_the_events_api(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """throttle_rate also throttles POST /events with 429 (Retry-After when configured)."""
    hub.faults.throttle_rate = 1.0
    hub.faults.retry_after = 2
    async with session.post(f"{hub.url}/events", json=api_body(), headers=bearer) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
        assert (await response.json())["error"] == "too_many_requests"
    assert hub.count() == 0


async def test_error_rate_fails_events_api_with_503(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """error_rate=1: POST /events answers 503 and stores nothing."""
    hub.faults.error_rate = 1.0
    async with session.post(f"{hub.url}/events", json=api_body(), headers=bearer) as response:
        assert response.status == 503
        assert "Retry-After" not in response.headers
        assert (await response.json())["error"] == "service_unavailable"
    assert hub.count() == 0
    assert hub.api_requests == 1


async def test_error_rate_fails_whole_put_events_calls_with_500(
    hub: LocalHub, eventbridge: Any
) -> None:
    """error_rate=1: a PutEvents call is a 500 InternalException, as botocore sees it."""
    hub.faults.error_rate = 1.0
    with pytest.raises(ClientError) as caught:
        await eventbridge.put_events(Entries=[entry()])
    assert caught.value.response["Error"]["Code"] == "InternalException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert hub.count() == 0


async def test_put_events_500_is_retried_by_botocore() -> None:
    """The hub's 500 InternalException is retryable to botocore: with seed 1 the first
    draw fails and the retry succeeds, so one put_events costs two calls."""
    import aioboto3
    from botocore.config import Config

    async with LocalHub(seed=1, faults=Faults(error_rate=0.5)) as hub:
        session = aioboto3.Session(
            aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
        )
        config = Config(retries={"mode": "standard", "total_max_attempts": 3})
        async with session.client("events", endpoint_url=hub.url, config=config) as client:
            answer = await client.put_events(Entries=[entry()])
        assert answer["ResponseMetadata"]["RetryAttempts"] == 1
        assert (hub.put_events_calls, hub.count()) == (2, 1)


async def test_token_error_rate_fails_the_token_endpoint(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """token_error_rate=1: /oauth/token is 503; attempts counted, no token issued."""
    hub.faults.token_error_rate = 1.0
    async with session.post(f"{hub.url}/oauth/token", data=token_form()) as response:
        assert response.status == 503
        assert (await response.json())["error"] == "temporarily_unavailable"
    assert (hub.token_attempts, hub.token_requests) == (1, 0)
    hub.faults.token_error_rate = 0.0
    await fetch_token(session, hub)
    assert (hub.token_attempts, hub.token_requests) == (2, 1)


async def test_latency_delays_every_post(
    hub: LocalHub, session: aiohttp.ClientSession, eventbridge: Any
) -> None:
    """latency=0.2 delays the token endpoint, POST /events and PutEvents by >= 0.2 s."""
    token = await fetch_token(session, hub)
    hub.faults.latency = 0.2
    started = time.perf_counter()
    await fetch_token(session, hub)
    token_time = time.perf_counter() - started
    started = time.perf_counter()
    async with session.post(
        f"{hub.url}/events", json=api_body(), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200
    api_time = time.perf_counter() - started
    started = time.perf_counter()
    await eventbridge.put_events(Entries=[entry()])
    eventbridge_time = time.perf_counter() - started
    assert min(token_time, api_time, eventbridge_time) >= 0.2


async def test_faults_from_the_constructor(session: aiohttp.ClientSession) -> None:
    """LocalHub(faults=Faults(...)) starts with those faults on."""
    async with (
        LocalHub(faults=Faults(token_error_rate=1.0, retry_after=1)) as hub,
        session.post(f"{hub.url}/oauth/token", data=token_form()) as response,
    ):
        assert (response.status, response.headers["Retry-After"]) == (503, "1")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("throttle_rate", 1.5),
        ("error_rate", -0.1),
        ("token_error_rate", 2),
        ("latency", -1),
        ("retry_after", 1.5),
        ("quota", 0),
        ("quota", -5),
    ],
)
def test_fault_knobs_refuse_out_of_range_values(name: str, value: float) -> None:
    """A rate outside [0, 1], a negative latency or a fractional Retry-After is a
    ValueError, whether set later or given to the constructor."""
    faults = Faults()
    with pytest.raises(ValueError, match=name):
        setattr(faults, name, value)
    with pytest.raises(ValueError, match=name):
        Faults(**{name: value})


def test_reset_turns_every_fault_off() -> None:
    """Faults.reset() zeroes every knob."""
    faults = Faults(
        throttle_rate=1, error_rate=1, token_error_rate=1, latency=1, retry_after=3, quota=5
    )
    faults.reset()
    assert faults == Faults()


def test_rates_of_zero_and_one_are_exact_and_draw_nothing() -> None:
    """hit(0) is always False and hit(1) always True, without consuming draws."""
    seeded, untouched = Faults(), Faults()
    seeded.seed(3)
    untouched.seed(3)
    assert not any(seeded.hit(0.0) for _ in range(100))
    assert all(seeded.hit(1.0) for _ in range(100))
    assert [seeded.hit(0.5) for _ in range(20)] == [untouched.hit(0.5) for _ in range(20)]


async def test_quota_throttles_put_events_entries_beyond_n_per_second(
    hub: LocalHub, eventbridge: Any
) -> None:
    """quota=N: a full bucket of N entries is accepted, the entries beyond it are answered
    ThrottlingException (and counted), and the bucket refills at N per second."""
    hub.faults.quota = 5
    answer = await eventbridge.put_events(Entries=[entry(str(i)) for i in range(8)])
    codes = [r.get("ErrorCode") for r in answer["Entries"]]
    assert codes == [None] * 5 + ["ThrottlingException"] * 3
    assert hub.count() == 5
    assert hub.faults.throttled_by_quota == 3
    await asyncio.sleep(0.5)  # refills 2.5 entries' worth
    answer = await eventbridge.put_events(Entries=[entry(str(i)) for i in range(4)])
    assert answer["FailedEntryCount"] == 2
    hub.faults.quota = None
    answer = await eventbridge.put_events(Entries=[entry(str(i)) for i in range(10)])
    assert answer["FailedEntryCount"] == 0


async def test_quota_answers_429_on_the_events_api(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """The quota counts POST /events requests too: beyond it, 429 too_many_requests."""
    hub.faults.quota = 2
    statuses = []
    for _ in range(3):
        async with session.post(f"{hub.url}/events", json=api_body(), headers=bearer) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert "quota" in (await r.json())["message"]
    assert statuses == [200, 200, 429]
    assert hub.count() == 2
