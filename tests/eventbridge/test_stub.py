"""TfsoEventBridgeClient against the recording PutEvents stub: batching, retries, faults."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from typing import Any, ClassVar

import pytest

from tests.eventbridge.conftest import PutEventsStub, bank_event, first_name
from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    EventTooLargeError,
    EventValidationError,
    PublishError,
    PublishFailure,
    PublishResult,
    RetryPolicy,
    TfsoEvent,
)
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Detail
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.005)


def client_for(stub: PutEventsStub, **options: Any) -> TfsoEventBridgeClient:
    """A client pointed at the stub with fast retries (unless overridden)."""
    options.setdefault("retry", FAST)
    return TfsoEventBridgeClient("dev", endpoint_url=stub.url, **options)


class _CrmEvent(TfsoEvent, tag="crm.test:created@v1"):
    """An event of another module, to see per-entry bus names."""

    source: ClassVar[str] = "com.24sevenoffice.crm"
    detail_type: ClassVar[str] = "crm.test:created@v1"
    module: ClassVar[str] = "crm"

    detail: BankTestCreatedV1Detail


class _LongDetailTypeEvent(TfsoEvent, tag="x" * 129):
    """A DetailType one character over PutEvents' limit."""

    source: ClassVar[str] = "com.24sevenoffice.banktransfer"
    detail_type: ClassVar[str] = "x" * 129
    module: ClassVar[str] = "bank"

    detail: BankTestCreatedV1Detail


class _AwsSourceEvent(TfsoEvent, tag="bank.test:spoofed@v1"):
    """A Source in the ``aws.`` namespace, which EventBridge reserves."""

    source: ClassVar[str] = "aws.s3"
    detail_type: ClassVar[str] = "bank.test:spoofed@v1"
    module: ClassVar[str] = "bank"

    detail: BankTestCreatedV1Detail


# -- batching ---------------------------------------------------------------------------


async def test_publish_many_sends_calls_of_ten_in_input_order(stub: PutEventsStub) -> None:
    """95 events go out in 10 calls of <= 10 entries; results come back in input order
    with the ids the server gave, each after one attempt."""
    events = [bank_event(i) for i in range(95)]
    async with client_for(stub) as client:
        result = await client.publish_many(events)
    assert sorted(len(call.entries) for call in stub.calls) == [5] + [10] * 9
    assert result.ok
    assert len(result) == 95
    ids = {first_name(entry): event_id for event_id, entry in stub.accepted}
    for i, outcome in enumerate(result.results):
        assert isinstance(outcome, PublishResult)
        assert (outcome.index, outcome.attempts) == (i, 1)
        assert outcome.event_id == ids[f"Karl{i}"]
        assert outcome.detail_type == "bank.test:created@v1"


async def test_entries_carry_the_wire_contract(stub: PutEventsStub) -> None:
    """Each entry is Source, DetailType, the validated Detail JSON and the module's bus."""
    event = bank_event(7)
    async with client_for(stub) as client:
        await client.publish(event)
    (entry,) = stub.entries_sent
    assert entry == {
        "Source": "com.24sevenoffice.banktransfer",
        "DetailType": "bank.test:created@v1",
        "Detail": event.detail_json().decode(),
        "EventBusName": "tfso-bank-events",
    }


async def test_size_aware_chunks_stay_under_max_request_bytes(stub: PutEventsStub) -> None:
    """With a small max_request_bytes, calls hold fewer than 10 entries and each call's
    summed entry size (AWS's formula) stays within the limit; nothing is lost."""
    events = [bank_event(first_name=f"{i:04d}" + "é" * 300) for i in range(40)]
    one = len(events[0].detail_json()) + len("com.24sevenoffice.banktransfer") + 20
    limit = 3 * one + 10  # room for three entries per call
    async with client_for(stub, max_request_bytes=limit) as client:
        result = await client.publish_many(events)
    assert result.ok
    assert all(call.size <= limit for call in stub.calls)
    assert max(len(call.entries) for call in stub.calls) == 3
    assert len(stub.accepted) == 40


async def test_one_call_mixes_buses_per_entry(stub: PutEventsStub) -> None:
    """Events of two modules share one PutEvents call, each entry naming its own bus."""
    detail = bank_event(1).detail
    events: list[TfsoEvent] = [bank_event(0), _CrmEvent(detail=detail), bank_event(2)]
    async with client_for(stub) as client:
        await client.publish_many(events)
    (call,) = stub.calls
    assert [e["EventBusName"] for e in call.entries] == [
        "tfso-bank-events",
        "tfso-crm-events",
        "tfso-bank-events",
    ]


async def test_event_bus_name_or_arn_is_used_for_every_entry(stub: PutEventsStub) -> None:
    """An explicit bus (here an ARN) replaces tfso-{module}-events on every entry."""
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/shared"
    async with client_for(stub, event_bus_name=arn) as client:
        await client.publish_many([bank_event(0), _CrmEvent(detail=bank_event(1).detail)])
    assert {e["EventBusName"] for e in stub.entries_sent} == {arn}


async def test_trace_header_forwarded_from_lambda(
    stub: PutEventsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When _X_AMZN_TRACE_ID is set (Lambda), every entry carries it as TraceHeader."""
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    async with client_for(stub) as client:
        await client.publish(bank_event(0))
        await client.publish_many([bank_event(1), bank_event(2)])
    assert [e.get("TraceHeader") for e in stub.entries_sent] == [trace] * 3


async def test_endpoint_from_aws_endpoint_url_eventbridge(
    stub: PutEventsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without endpoint_url, botocore's AWS_ENDPOINT_URL_EVENTBRIDGE is honoured."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", stub.url)
    async with TfsoEventBridgeClient("prod") as client:
        await client.publish(bank_event(0))
    assert len(stub.accepted) == 1


# -- coalescing -------------------------------------------------------------------------


async def test_1000_concurrent_publishes_use_at_most_100_calls(stub: PutEventsStub) -> None:
    """1,000 concurrent publish() calls share PutEvents calls: at most 100, each <= 10
    entries, and every caller gets the id of its own event."""
    async with client_for(stub) as client:
        results = await asyncio.gather(*(client.publish(bank_event(i)) for i in range(1000)))
    assert len(stub.calls) <= 100
    assert all(len(call.entries) <= 10 for call in stub.calls)
    ids = {first_name(entry): event_id for event_id, entry in stub.accepted}
    assert [r.event_id for r in results] == [ids[f"Karl{i}"] for i in range(1000)]
    assert {r.index for r in results} == {0}


async def test_coalesced_calls_respect_max_request_bytes(stub: PutEventsStub) -> None:
    """Concurrent publishes of large events are gathered into calls under
    max_request_bytes, and every one of them is delivered."""
    events = [bank_event(first_name=f"{i:03d}" + "x" * 1000) for i in range(40)]
    limit = 4 * (len(events[0].detail_json()) + 60)
    async with client_for(stub, max_request_bytes=limit) as client:
        results = await asyncio.gather(*(client.publish(event) for event in events))
    assert all(call.size <= limit for call in stub.calls)
    assert max(len(call.entries) for call in stub.calls) == 4
    assert len({r.event_id for r in results}) == 40
    assert sorted(first_name(e)[:3] for _i, e in stub.accepted) == [f"{i:03d}" for i in range(40)]


async def test_coalesced_callers_get_their_own_errors(stub: PutEventsStub) -> None:
    """In one shared call, a refused entry raises DeliveryError (with the AWS code) for
    its own caller only; the others get their ids."""
    stub.entry_fault = lambda e: "InvalidArgument" if first_name(e) == "Karl3" else None
    async with client_for(stub) as client:
        outcomes = await asyncio.gather(
            *(client.publish(bank_event(i)) for i in range(6)), return_exceptions=True
        )
    assert len(stub.calls) == 1
    error = outcomes[3]
    assert isinstance(error, DeliveryError)
    assert error.code == "InvalidArgument"
    assert "stub: InvalidArgument" in str(error)
    assert all(isinstance(o, PublishResult) for i, o in enumerate(outcomes) if i != 3)


async def test_linger_gathers_publishes_from_separate_turns(stub: PutEventsStub) -> None:
    """With linger, publishes started a few milliseconds apart still share one call."""
    async with client_for(stub, linger=0.2) as client:
        tasks = []
        for i in range(4):
            tasks.append(asyncio.create_task(client.publish(bank_event(i))))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
    assert [len(call.entries) for call in stub.calls] == [4]


# -- retries and failures ---------------------------------------------------------------


async def test_30_percent_throttled_entries_all_delivered_exactly_once(
    stub: PutEventsStub,
) -> None:
    """With 30% of entries throttled, 2,000 events are all delivered: only throttled
    entries are resent, and no accepted entry is ever sent again."""
    draw = random.Random(5)
    stub.entry_fault = lambda _e: "ThrottlingException" if draw.random() < 0.3 else None
    retry = RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.01)
    async with client_for(stub, retry=retry) as client:
        result = await client.publish_many([bank_event(i) for i in range(2000)])
    assert result.ok
    accepted = Counter(first_name(entry) for _id, entry in stub.accepted)
    assert len(accepted) == 2000
    assert set(accepted.values()) == {1}
    sends = Counter(first_name(entry) for entry in stub.entries_sent)
    attempts = {f"Karl{r.index}": r.attempts for r in result.succeeded}
    assert sends == Counter(attempts)  # the client's count of tries is the wire's
    assert sum(sends.values()) > 2400  # throttling really happened
    ids = {first_name(entry): event_id for event_id, entry in stub.accepted}
    assert [r.event_id for r in result.succeeded] == [ids[f"Karl{n}"] for n in range(2000)]


async def test_permanent_codes_reported_at_once_and_not_retried(stub: PutEventsStub) -> None:
    """Entries refused with a permanent code are failures with that code, sent once;
    PublishError carries the BatchResult, ready to resend the failed events."""
    codes = {"Karl3": "MalformedDetail", "Karl7": "AccessDeniedException"}
    stub.entry_fault = lambda e: codes.get(first_name(e))
    events = [bank_event(i) for i in range(12)]
    async with client_for(stub) as client:
        with pytest.raises(PublishError) as caught:
            await client.publish_many(events)
    result = caught.value.result
    assert result is not None
    assert [(f.index, f.code, f.attempts) for f in result.failed] == [
        (3, "MalformedDetail", 1),
        (7, "AccessDeniedException", 1),
    ]
    assert [f.event for f in result.failed] == [events[3], events[7]]
    assert "events:PutEvents" in str(result.failed[1].error)
    assert len(stub.entries_sent) == 12
    assert "2 of 12 events failed" in str(caught.value)


async def test_raise_on_error_false_returns_the_failures(stub: PutEventsStub) -> None:
    """raise_on_error=False returns the BatchResult with the failures in place."""
    stub.entry_fault = lambda e: "InvalidArgument" if first_name(e) == "Karl1" else None
    async with client_for(stub) as client:
        result = await client.publish_many([bank_event(i) for i in range(3)], raise_on_error=False)
    assert not result.ok
    assert [type(r) for r in result.results] == [PublishResult, PublishFailure, PublishResult]
    assert result.event_ids[1] is None


async def test_retries_are_bounded(stub: PutEventsStub) -> None:
    """An entry throttled every time fails after max_attempts tries with
    ThrottlingException; the others are delivered."""
    stub.entry_fault = lambda e: "ThrottlingException" if first_name(e) == "Karl0" else None
    async with client_for(stub, retry=RetryPolicy(max_attempts=3, base_delay=0.001)) as client:
        result = await client.publish_many([bank_event(0), bank_event(1)], raise_on_error=False)
        with pytest.raises(DeliveryError) as caught:
            await client.publish(bank_event(0))
    (failure,) = result.failed
    assert (failure.index, failure.code, failure.attempts) == (0, "ThrottlingException", 3)
    assert caught.value.code == "ThrottlingException"
    assert caught.value.attempts == 3
    assert Counter(first_name(e) for e in stub.entries_sent) == {"Karl0": 6, "Karl1": 1}


@pytest.mark.parametrize(("transport", "attempts"), [("botocore", 2), ("lean", 4)])
async def test_whole_call_5xx_retried(stub: PutEventsStub, transport: str, attempts: int) -> None:
    """Three 500s in a row: botocore's standard retries (3 attempts) take them, then the
    client retries the call itself (its second attempt); the lean transport retries
    each 500 in the client's own loop (its fourth attempt). Either way all arrive."""
    stub.call_failures = [(500, "InternalException")] * 3
    async with client_for(stub, transport=transport) as client:
        result = await client.publish_many([bank_event(i) for i in range(3)])
    assert [r.attempts for r in result.succeeded] == [attempts] * 3
    assert [call.status for call in stub.calls] == [500, 500, 500, 200]
    assert len(stub.accepted) == 3


@pytest.mark.parametrize(
    "code", ["UnrecognizedClientException", "AccessDeniedException", "InvalidSignatureException"]
)
async def test_auth_errors_become_authentication_error(stub: PutEventsStub, code: str) -> None:
    """A refused identity or permission fails at once with AuthenticationError saying
    what to fix; the call is not retried."""
    stub.call_failures = [(400, code)]
    async with client_for(stub) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.publish(bank_event(0))
    message = str(caught.value)
    assert code in message
    assert "events:PutEvents" in message
    assert "testing" not in message  # no credential in the text
    assert len(stub.calls) == 1


async def test_missing_bus_is_a_delivery_error_naming_it(stub: PutEventsStub) -> None:
    """ResourceNotFoundException (no such bus) is final, with a hint about the bus."""
    stub.call_failures = [(400, "ResourceNotFoundException")]
    async with client_for(stub, event_bus_name="nope") as client:
        result = await client.publish_many([bank_event(0)], raise_on_error=False)
    (failure,) = result.failed
    assert failure.code == "ResourceNotFoundException"
    assert "nope" in str(failure.error)
    assert len(stub.calls) == 1


async def test_short_answer_is_reported_not_resent(stub: PutEventsStub) -> None:
    """A response with fewer results than entries cannot be mapped back: every entry of
    the call is reported (MalformedResponse) and none is resent."""
    stub.drop_results = 1
    async with client_for(stub) as client:
        result = await client.publish_many([bank_event(i) for i in range(4)], raise_on_error=False)
    assert [f.code for f in result.failed] == ["MalformedResponse"] * 4
    assert len(stub.calls) == 1


async def test_connection_errors_become_retryable_then_fail(stub: PutEventsStub) -> None:
    """An endpoint nobody listens on: after botocore's retries the call is a retryable
    connection_error; with one attempt allowed it ends as a failure with that code."""
    url = stub.url
    await asyncio.sleep(0)
    closed = TfsoEventBridgeClient(
        "dev", endpoint_url=url.rsplit(":", 1)[0] + ":9", retry=RetryPolicy(max_attempts=1)
    )
    async with closed as client:
        result = await client.publish_many([bank_event(0)], raise_on_error=False)
    (failure,) = result.failed
    assert failure.code == "connection_error"
    assert isinstance(failure.error, DeliveryError)


# -- validation before sending ----------------------------------------------------------


async def test_oversized_event_sends_nothing(stub: PutEventsStub) -> None:
    """One event over max_request_bytes makes publish_many raise EventTooLargeError
    naming its position before anything is sent."""
    events = [bank_event(i) for i in range(5)]
    events[3] = bank_event(first_name="x" * (256 * 1024))
    async with client_for(stub) as client:
        with pytest.raises(EventTooLargeError) as caught:
            await client.publish_many(events)
        with pytest.raises(EventTooLargeError):
            await client.publish(events[3])
    assert "max_request_bytes is 262144" in str(caught.value)
    assert any("event #3" in note for note in caught.value.__notes__)
    assert stub.calls == []


async def test_invalid_event_sends_nothing(stub: PutEventsStub) -> None:
    """An invalid event anywhere in publish_many raises EventValidationError with its
    path, detail type and position; nothing is sent."""
    events = [bank_event(i) for i in range(5)]
    events[2].detail.content.favorite_color = "Purple"  # type: ignore[assignment]
    async with client_for(stub) as client:
        with pytest.raises(EventValidationError) as caught:
            await client.publish_many(events)
    assert caught.value.path == "$.content.favoriteColor"
    assert caught.value.detail_type == "bank.test:created@v1"
    assert any("event #2" in note for note in caught.value.__notes__)
    assert stub.calls == []


@pytest.mark.parametrize(
    ("event_cls", "path"),
    [(_LongDetailTypeEvent, "$.detail-type"), (_AwsSourceEvent, "$.source")],
)
async def test_putevents_shape_rules_checked_before_sending(
    stub: PutEventsStub, event_cls: type[TfsoEvent], path: str
) -> None:
    """A DetailType over 128 characters or a Source starting with aws. raises
    EventTooLargeError before anything is sent."""
    event = event_cls(detail=bank_event(0).detail)
    async with client_for(stub) as client:
        with pytest.raises(EventTooLargeError) as caught:
            await client.publish(event)
        with pytest.raises(EventTooLargeError):
            await client.publish_many([bank_event(1), event])
    assert caught.value.path == path
    assert stub.calls == []


async def test_not_an_event_is_a_validation_error(stub: PutEventsStub) -> None:
    """Anything but a TfsoEvent is refused before sending."""
    async with client_for(stub) as client:
        with pytest.raises(EventValidationError, match="expected a TfsoEvent"):
            await client.publish_many([bank_event(0), {"detail": {}}])  # type: ignore[list-item]
    assert stub.calls == []


# -- lifecycle --------------------------------------------------------------------------


async def test_close_waits_for_publishes_in_flight(stub: PutEventsStub) -> None:
    """aclose() waits for coalesced publishes already in flight; publishes after close
    raise ConfigurationError; the held publishes all get their ids."""
    stub.gate = asyncio.Event()
    client = client_for(stub)
    publishes = [asyncio.create_task(client.publish(bank_event(i))) for i in range(25)]
    await asyncio.wait_for(stub.arrived.wait(), 5)
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()
    with pytest.raises(ConfigurationError, match="client is closed"):
        await client.publish(bank_event(99))
    with pytest.raises(ConfigurationError, match="client is closed"):
        await client.publish_many([bank_event(99)])
    stub.gate.set()
    results = await asyncio.gather(*publishes)
    await asyncio.wait_for(closing, 5)
    assert len({r.event_id for r in results}) == 25
    assert len(stub.accepted) == 25
    await client.aclose()  # twice is fine


async def test_close_flushes_a_lingering_publish(stub: PutEventsStub) -> None:
    """A publish waiting out its linger is sent at once by aclose(), not dropped."""
    client = client_for(stub, linger=30.0)
    task = asyncio.create_task(client.publish(bank_event(0)))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(client.aclose(), 5)
    assert (await task).event_id == stub.accepted[0][0]


async def test_cancelled_publish_leaves_the_client_usable(stub: PutEventsStub) -> None:
    """Cancelling publish() and publish_many() raises CancelledError in the caller; the
    same client then publishes normally."""
    stub.gate = asyncio.Event()
    async with client_for(stub) as client:
        one = asyncio.create_task(client.publish(bank_event(0)))
        many = asyncio.create_task(client.publish_many([bank_event(i) for i in range(30)]))
        await asyncio.wait_for(stub.arrived.wait(), 5)
        one.cancel()
        many.cancel()
        for task in (one, many):
            with pytest.raises(asyncio.CancelledError):
                await task
        stub.gate.set()
        result = await client.publish(bank_event(1))
        batch = await client.publish_many([bank_event(2), bank_event(3)])
    assert result.event_id
    assert batch.ok


async def test_publish_cancelled_before_its_call_is_not_sent(stub: PutEventsStub) -> None:
    """A publish cancelled while it waits for its batch to leave is taken out of it."""
    async with client_for(stub, linger=0.05) as client:
        doomed = asyncio.create_task(client.publish(bank_event(0)))
        kept = asyncio.create_task(client.publish(bank_event(1)))
        await asyncio.sleep(0)
        doomed.cancel()
        await kept
    assert [first_name(e) for e in stub.entries_sent] == ["Karl1"]


async def test_client_belongs_to_its_first_loop(stub: PutEventsStub) -> None:
    """Used from a second event loop, the client refuses with ConfigurationError."""
    async with client_for(stub) as client:
        await client.publish(bank_event(0))

        def elsewhere() -> BaseException | None:
            try:
                asyncio.run(client.publish(bank_event(1)))
            except BaseException as exc:
                return exc
            return None

        error = await asyncio.to_thread(elsewhere)
    assert isinstance(error, ConfigurationError)
    assert "event loop" in str(error)
    assert len(stub.accepted) == 1


async def test_repr_shows_configuration_only(stub: PutEventsStub) -> None:
    """repr names the bus environment, bus, region and endpoint, never credentials."""
    client = client_for(stub, event_bus_name="my-bus", region_name="eu-west-1")
    text = repr(client)
    assert "dev" in text
    assert "my-bus" in text
    assert stub.url in text
    assert "testing" not in text
    await client.aclose()


async def test_published_detail_decodes_back(stub: PutEventsStub) -> None:
    """What went over the wire decodes into an event equal to the one published."""
    event = bank_event(5)
    async with client_for(stub) as client:
        await client.publish(event)
    (entry,) = stub.entries_sent
    assert type(event).parse_detail(entry["Detail"]) == event.detail
    assert json.loads(entry["Detail"])["content"]["firstName"] == "Karl5"
