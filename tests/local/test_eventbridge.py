"""PutEvents through the real aioboto3 client pointed at the hub (JSON 1.1 protocol)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from tests.local.conftest import DETAIL_TYPE, SOURCE, entry, sample_detail
from tfso_events.local import LocalHub

_AMZ = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"}


async def test_put_events_accepted_and_stored_with_the_bus(hub: LocalHub, eventbridge: Any) -> None:
    """Entries sent by aioboto3 get EventIds, in order, and are stored with their bus."""
    answer = await eventbridge.put_events(
        Entries=[entry("A"), entry("B", EventBusName="arn:aws:events:eu-west-1:1:event-bus/x")]
    )
    assert answer["FailedEntryCount"] == 0
    ids = [result["EventId"] for result in answer["Entries"]]
    records = hub.received(via="eventbridge")
    assert [r.event_id for r in records] == ids
    assert [r.event_bus_name for r in records] == [
        "tfso-bank-events",
        "arn:aws:events:eu-west-1:1:event-bus/x",
    ]
    assert records[0].detail == sample_detail("A")
    assert (records[0].source, records[0].detail_type) == (SOURCE, DETAIL_TYPE)
    assert answer["ResponseMetadata"]["RequestId"]


async def test_bus_defaults_to_default_and_resources_are_kept(
    hub: LocalHub, eventbridge: Any
) -> None:
    """Without EventBusName the entry goes to `default`; Resources and Time are accepted."""
    from datetime import UTC, datetime

    plain = {k: v for k, v in entry().items() if k != "EventBusName"}
    plain |= {"Resources": ["urn:a", "urn:b"], "Time": datetime(2024, 1, 1, tzinfo=UTC)}
    answer = await eventbridge.put_events(Entries=[plain])
    assert answer["FailedEntryCount"] == 0
    (record,) = hub.received()
    assert (record.event_bus_name, record.resources) == ("default", ("urn:a", "urn:b"))


async def test_eleven_entries_are_refused_whole(hub: LocalHub, eventbridge: Any) -> None:
    """11 entries: ValidationException for the whole call, nothing stored."""
    with pytest.raises(ClientError) as caught:
        await eventbridge.put_events(Entries=[entry(str(i)) for i in range(11)])
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "less than or equal to 10" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert hub.count() == 0


async def test_ten_entries_are_accepted(hub: LocalHub, eventbridge: Any) -> None:
    """Exactly 10 entries is within the limit."""
    answer = await eventbridge.put_events(Entries=[entry(str(i)) for i in range(10)])
    assert answer["FailedEntryCount"] == 0
    assert hub.count() == 10


async def test_zero_entries_are_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """An empty Entries list (botocore refuses it client-side) is a ValidationException."""
    async with session.post(hub.url, data=b'{"Entries": []}', headers=_AMZ) as response:
        assert response.status == 400
        body = await response.json(content_type=None)
    assert body["__type"] == "ValidationException"
    assert "greater than or equal to 1" in body["message"]


async def test_request_over_the_size_limit_is_refused() -> None:
    """Entries whose AWS entry size sums to max_request_bytes or more: ValidationException
    (AWS: the total entry size must be *less than* the limit); one byte less passes."""
    import aioboto3

    one = entry()
    size = sum(len(one[k].encode()) for k in ("Source", "DetailType", "Detail"))
    async with LocalHub(max_request_bytes=3 * size + 1) as hub:
        session = aioboto3.Session(
            aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
        )
        async with session.client("events", endpoint_url=hub.url) as client:
            answer = await client.put_events(Entries=[one] * 3)  # one byte under the limit
            assert answer["FailedEntryCount"] == 0
            with pytest.raises(ClientError) as caught:
                await client.put_events(Entries=[one] * 4)
        async with LocalHub(max_request_bytes=3 * size) as exact:
            async with session.client("events", endpoint_url=exact.url) as client:
                with pytest.raises(ClientError) as at_limit:
                    await client.put_events(Entries=[one] * 3)  # exactly the limit
            assert at_limit.value.response["Error"]["Code"] == "ValidationException"
            assert exact.count() == 0
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert "over the limit" in caught.value.response["Error"]["Message"]
        assert hub.count() == 3


async def test_default_size_limit_is_256_kib(hub: LocalHub, eventbridge: Any) -> None:
    """By default 262,143 bytes of entries pass and 262,144 (256 KiB: AWS says "less
    than 256KB") do not."""
    detail_type = "test.big:sized@v1"  # outside the catalog: the detail is not validated
    padding = 256 * 1024 - 1 - len(SOURCE) - len(detail_type) - len('{"a":""}')
    fits = entry(
        DetailType=detail_type, Detail=json.dumps({"a": "x" * padding}, separators=(",", ":"))
    )
    answer = await eventbridge.put_events(Entries=[fits])
    assert answer["FailedEntryCount"] == 0
    over = entry(
        DetailType=detail_type, Detail=json.dumps({"a": "x" * (padding + 1)}, separators=(",", ":"))
    )
    with pytest.raises(ClientError) as caught:
        await eventbridge.put_events(Entries=[over])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


async def test_mixed_valid_and_malformed_entries(hub: LocalHub, eventbridge: Any) -> None:
    """Each entry gets its own result in order; only the valid ones are stored."""
    bad_enum = sample_detail()
    bad_enum["content"]["favoriteColor"] = "Pink"
    entries = [
        entry("ok-1"),
        entry(Detail="[1, 2]"),
        entry(Detail="{not json"),
        entry(Detail='"a string"'),
        {"DetailType": DETAIL_TYPE, "Detail": "{}"},
        {"Source": SOURCE, "Detail": "{}"},
        {"Source": SOURCE, "DetailType": DETAIL_TYPE},
        entry(Detail=json.dumps(bad_enum)),
        entry(Source="com.example.other"),
        entry("ok-2"),
    ]
    answer = await eventbridge.put_events(Entries=entries)
    results = answer["Entries"]
    codes = [r.get("ErrorCode") for r in results]
    assert codes == [
        None,
        "MalformedDetail",
        "MalformedDetail",
        "MalformedDetail",
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        None,
    ]
    assert answer["FailedEntryCount"] == 8
    assert "Source" in results[4]["ErrorMessage"]
    assert "DetailType" in results[5]["ErrorMessage"]
    assert "Detail" in results[6]["ErrorMessage"]
    assert "$.detail.content.favoriteColor" in results[7]["ErrorMessage"]
    assert "$.source" in results[8]["ErrorMessage"]
    assert [r.detail["content"]["firstName"] for r in hub.received()] == ["ok-1", "ok-2"]
    assert [r.event_id for r in hub.received()] == [results[0]["EventId"], results[9]["EventId"]]


async def test_unknown_detail_type_is_accepted_unless_strict(eventbridge: Any) -> None:
    """A detail-type outside the catalog is stored unvalidated, as EventBridge would;
    a known one must match its model."""
    unknown = entry(DetailType="crm.customer:created@v9", Detail='{"anything": [1]}')
    answer = await eventbridge.put_events(Entries=[unknown])
    assert answer["FailedEntryCount"] == 0


async def test_strict_hub_refuses_unknown_detail_types() -> None:
    """LocalHub(strict=True) answers InvalidArgument for a detail-type outside the catalog."""
    import aioboto3

    async with LocalHub(strict=True) as hub:
        session = aioboto3.Session(
            aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
        )
        async with session.client("events", endpoint_url=hub.url) as client:
            answer = await client.put_events(
                Entries=[entry(DetailType="crm.customer:created@v9", Detail="{}"), entry()]
            )
        assert answer["Entries"][0]["ErrorCode"] == "InvalidArgument"
        assert "$.DetailType" in answer["Entries"][0]["ErrorMessage"]
        assert "EventId" in answer["Entries"][1]
        assert [r.detail_type for r in hub.received()] == [DETAIL_TYPE]


async def test_unknown_detail_type_with_non_object_detail_is_malformed(eventbridge: Any) -> None:
    """Even an unknown detail-type needs a JSON object as Detail."""
    answer = await eventbridge.put_events(Entries=[entry(DetailType="x.y:z@v1", Detail="42")])
    assert answer["Entries"][0]["ErrorCode"] == "MalformedDetail"


async def test_any_signature_is_accepted(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """Signature headers are not checked: an unsigned request is answered normally."""
    body = json.dumps({"Entries": [entry()]}).encode()
    async with session.post(hub.url, data=body, headers=_AMZ) as response:
        assert response.status == 200
        assert response.content_type == "application/x-amz-json-1.1"
        answer = await response.json(content_type=None)
    assert answer["FailedEntryCount"] == 0


@pytest.mark.parametrize(
    ("data", "headers", "error_type"),
    [
        (b"{not json", _AMZ, "SerializationException"),
        (b"[]", _AMZ, "SerializationException"),
        (b'{"Entries": "nope"}', _AMZ, "SerializationException"),
        (b'{"Entries": [{"Source": 5}]}', _AMZ, "SerializationException"),
        (b"{}", _AMZ, "SerializationException"),
        (b'{"Entries": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", _AMZ, "SerializationException"),
        (b'{"Entries": []}', {**_AMZ, "Content-Type": "text/plain"}, "SerializationException"),
        (
            b'{"Entries": []}',
            {**_AMZ, "X-Amz-Target": "AWSEvents.CreateArchive"},
            "UnknownOperationException",
        ),
        (
            b'{"Entries": []}',
            {"Content-Type": "application/x-amz-json-1.1"},
            "UnknownOperationException",
        ),
        (
            b'{"Entries": ['
            + b'{"Source":"s","DetailType":"t","Detail":"{}"},' * 200_000
            + b"{}]}",
            _AMZ,
            "ValidationException",
        ),
    ],
    ids=[
        "bad-json",
        "array",
        "entries-not-list",
        "source-not-str",
        "no-entries",
        "deep",
        "text-plain",
        "other-target",
        "no-target",
        "huge",
    ],
)
async def test_malformed_put_events_is_400_aws_error_and_stores_nothing(
    hub: LocalHub,
    session: aiohttp.ClientSession,
    data: bytes,
    headers: dict[str, str],
    error_type: str,
) -> None:
    """A malformed call is a 400 in the JSON 1.1 error shape (__type, message); no 500,
    nothing stored."""
    import io

    async with session.post(hub.url, data=io.BytesIO(data), headers=headers) as response:
        status = response.status
        body = await response.json(content_type=None)
    assert (status, body["__type"]) == (400, error_type)
    assert body["message"]
    assert hub.count() == 0


async def test_put_events_call_counter(hub: LocalHub, eventbridge: Any) -> None:
    """put_events_calls counts PutEvents calls, refused ones included."""
    await eventbridge.put_events(Entries=[entry()])
    with pytest.raises(ClientError):
        await eventbridge.put_events(Entries=[entry()] * 11)
    assert hub.put_events_calls == 2


async def test_deeply_nested_detail_is_malformed_not_a_crash(
    hub: LocalHub, eventbridge: Any
) -> None:
    """A Detail nested deeper than the decoder allows is MalformedDetail for that entry."""
    deep = '{"a":' + "[" * 20_000 + "]" * 20_000 + "}"
    for detail_type in (DETAIL_TYPE, "x.deep:nested@v1"):
        answer = await eventbridge.put_events(
            Entries=[entry(DetailType=detail_type, Detail=deep), entry()]
        )
        assert [r.get("ErrorCode") for r in answer["Entries"]] == ["MalformedDetail", None]
    assert hub.count() == 2
