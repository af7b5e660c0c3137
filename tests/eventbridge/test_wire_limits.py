"""PutEvents' own limits, checked by the client before any call: the entry size must be
*less than* ``max_request_bytes`` (AWS: "the total entry size must be less than 256KB"),
and, because the client runs botocore with ``parameter_validation=False``, what
botocore's service model constrains (bus name/ARN, ``Resources``, ``TraceHeader``)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import botocore
import pytest

from tests.eventbridge.conftest import PutEventsStub, bank_event, entry_size
from tfso_events import ConfigurationError, EventTooLargeError, EventValidationError, RetryPolicy
from tfso_events.publishing import eventbridge as eb
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

ONE_TRY = RetryPolicy(max_attempts=1)


def _shapes() -> dict[str, Any]:
    root = Path(botocore.__file__).parent / "data" / "events"
    (model,) = sorted(root.glob("*/service-2.json*"))[-1:]
    raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
    shapes: dict[str, Any] = json.loads(raw)["shapes"]
    return shapes


def sized(total: int) -> Any:
    """A bank event whose AWS entry size is exactly ``total`` bytes."""
    base = bank_event(first_name="")
    base_size = len(base.source) + len(base.detail_type) + len(base.detail_json())
    event = bank_event(first_name="x" * (total - base_size))
    assert len(event.source) + len(event.detail_type) + len(event.detail_json()) == total
    return event


# Bus names both sides must judge alike. botocore's pattern changed across the supported
# versions (1.34/1.36 write a region's first part as ``[a-z]{2}-``, newer ones
# ``[a-z]+-``, which admits ``eusc-de-east-1``); these names are judged the same by every
# form, so the test holds for the whole supported range.
_BUS_SAMPLES = [
    "default",
    "tfso-bank-events",
    "a.b_c-D9",
    "arn:aws:events:eu-west-1:111122223333:event-bus/tfso-bank-events",
    "arn:aws-us-gov:events:us-gov-west-1:111122223333:event-bus/x",
    "arn:aws-cn:events:cn-north-1:111122223333:event-bus/x",
    "has space",
    "slash/inside",
    "",
    "arn:aws:events:eu-west-1:1111:event-bus/short-account",
    "arn:aws:events:eu-west-1:111122223333:rule/not-a-bus",
    "arn:aws:events:EU-WEST-1:111122223333:event-bus/x",
    "ümlaut",
]


def test_limits_are_botocore_service_model() -> None:
    """The constants the client checks are the ones in botocore's EventBridge model, and
    our bus-name pattern accepts and refuses the same names as the installed model's."""
    shapes = _shapes()
    members = shapes["PutEventsRequestEntry"]["members"]
    bus = shapes[members["EventBusName"]["shape"]]
    assert shapes[members["TraceHeader"]["shape"]]["max"] == eb.MAX_TRACE_HEADER_LENGTH
    assert bus["max"] == eb.MAX_BUS_NAME_LENGTH
    theirs = re.compile(bus["pattern"])
    judged = {name: bool(theirs.fullmatch(name)) for name in _BUS_SAMPLES}
    assert judged == {name: bool(eb._BUS_NAME.fullmatch(name)) for name in _BUS_SAMPLES}
    assert sum(judged.values()) == 6  # the samples test both sides of the pattern
    resource = shapes[shapes[members["Resources"]["shape"]]["member"]["shape"]]
    assert resource["max"] == eb.MAX_RESOURCE_LENGTH


@pytest.mark.parametrize("limit", [eb.DEFAULT_MAX_REQUEST_BYTES, 4096])
async def test_entry_of_exactly_the_limit_is_refused_one_byte_less_is_sent(
    stub: PutEventsStub, limit: int
) -> None:
    """An entry of limit-1 bytes (AWS's formula) is sent; one of exactly the limit
    (262,144 by default) is EventTooLargeError and never reaches the wire."""
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=stub.url, retry=ONE_TRY, max_request_bytes=limit
    ) as client:
        under = await client.publish(sized(limit - 1))
        with pytest.raises(EventTooLargeError) as caught:
            await client.publish(sized(limit))
    assert under.event_id
    assert [entry_size(e) for e in stub.entries_sent] == [limit - 1]
    assert f"must be less than {limit}" in str(caught.value)


async def test_a_call_never_sums_to_the_limit(stub: PutEventsStub) -> None:
    """publish_many splits so that each call's entries sum to less than the limit: two
    entries of half the limit each go in two calls, not one of exactly the limit."""
    limit = 8192
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=stub.url, retry=ONE_TRY, max_request_bytes=limit
    ) as client:
        result = await client.publish_many([sized(limit // 2), sized(limit // 2)])
    assert len(result.succeeded) == 2
    assert [call.size for call in stub.calls] == [limit // 2, limit // 2]


@pytest.mark.parametrize(
    "bus",
    [
        "bus with spaces",
        "x" * 1601,
        "arn:aws:events:eu-west-1:12345:event-bus/short-account",
        "tfso/bank/events",  # a '/' is allowed only in the ARN prefix for PutEvents
    ],
)
def test_bad_bus_name_is_a_configuration_error(bus: str) -> None:
    """A bus name or ARN PutEvents would refuse (botocore's pattern and length) is a
    ConfigurationError when the client is made, not a 400 later."""
    with pytest.raises(ConfigurationError) as caught:
        TfsoEventBridgeClient("dev", event_bus_name=bus)
    assert "event_bus_name" in str(caught.value)


@pytest.mark.parametrize(
    "bus", ["tfso-bank-events", "arn:aws:events:eu-west-1:111122223333:event-bus/tfso-bank"]
)
async def test_good_bus_names_are_sent(stub: PutEventsStub, bus: str) -> None:
    """A plain name and an event-bus ARN pass the check and are sent as EventBusName."""
    async with TfsoEventBridgeClient("dev", bus, endpoint_url=stub.url, retry=ONE_TRY) as client:
        await client.publish(bank_event())
    assert [e["EventBusName"] for e in stub.entries_sent] == [bus]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ("not-an-arn", "must be ARNs"),
        ("arn:aws:s3:::" + "b" * 2048, "at most 2048"),
    ],
)
async def test_bad_resources_are_refused_before_any_call(
    stub: PutEventsStub, resource: str, reason: str
) -> None:
    """A Resources item that is no ARN, or longer than botocore's 2048, is an
    EventValidationError at $.resources[i]; nothing is sent."""
    event = bank_event()
    event.resources = ["arn:aws:s3:::fine", resource]
    async with TfsoEventBridgeClient("dev", endpoint_url=stub.url, retry=ONE_TRY) as client:
        with pytest.raises(EventValidationError) as caught:
            await client.publish(event)
    assert caught.value.path == "$.resources[1]"
    assert reason in str(caught.value)
    assert stub.calls == []


async def test_long_trace_header_is_refused_before_any_call(
    stub: PutEventsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An _X_AMZN_TRACE_ID over botocore's 500 characters is a ConfigurationError naming
    it; nothing is sent. 500 characters are sent as the TraceHeader."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-" + "a" * 494)
    async with TfsoEventBridgeClient("dev", endpoint_url=stub.url, retry=ONE_TRY) as client:
        with pytest.raises(ConfigurationError) as caught:
            await client.publish(bank_event())
        assert stub.calls == []
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-" + "a" * 493)
        await client.publish(bank_event())
    assert "_X_AMZN_TRACE_ID" in str(caught.value)
    assert [len(e["TraceHeader"]) for e in stub.entries_sent] == [500]
