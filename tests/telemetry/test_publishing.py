"""Producer spans, metrics and trace context of both publishers, against the local hub."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.api.conftest import bank_event
from tests.telemetry.conftest import Otel, local_api_client
from tfso_events import EventValidationError, RetryPolicy, telemetry
from tfso_events.local import LocalHub
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

BUS = "tfso-bank-events"


def _traceparent_of(span: object) -> str:
    context = span.get_span_context()  # type: ignore[attr-defined]
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


async def test_publish_many_makes_a_create_span_per_event_and_a_linked_send_span_per_call(
    hub: LocalHub, otel: Otel
) -> None:
    """12 events: 12 create spans (PRODUCER, id and bus), 2 PutEvents send spans (CLIENT)
    each linked to the create spans of the events it carried, and each event's
    detail.metadata carries its create span's traceparent."""
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        batch = await client.publish_many([bank_event(i) for i in range(12)])
    creates = otel.spans("create ")
    sends = otel.spans("send ")
    assert len(creates) == 12
    assert len(sends) == 2
    for span in creates:
        assert span.kind is SpanKind.PRODUCER
        assert span.name == f"create {BUS}"
        assert span.attributes["messaging.system"] == "aws.eventbridge"
        assert span.attributes["messaging.operation.type"] == "create"
        assert span.attributes["messaging.destination.name"] == BUS
        assert span.attributes["tfso_events.detail_type"] == "bank.test:created@v1"
    assert sorted(s.attributes["messaging.message.id"] for s in creates) == sorted(batch.event_ids)
    create_ids = {s.context.span_id for s in creates}
    linked = [link.context.span_id for send in sends for link in send.links]
    assert sorted(linked) == sorted(create_ids)
    for send in sends:
        assert send.kind is SpanKind.CLIENT
        assert send.attributes["messaging.operation.type"] == "send"
        assert send.attributes["messaging.operation.name"] == "PutEvents"
        assert send.attributes["messaging.batch.message_count"] == len(send.links)
        assert send.status.status_code is StatusCode.UNSET
    by_id = {s.attributes["messaging.message.id"]: s for s in creates}
    for received in hub.received():
        span = by_id[received.event_id]
        assert received.detail["metadata"]["traceparent"] == _traceparent_of(span)
    assert otel.total("messaging.client.sent.messages") == 12
    durations = otel.points("messaging.client.operation.duration")
    assert sum(p.count for p in durations) == 2


async def test_throttling_is_a_span_event_and_a_give_up_has_error_type(
    hub: LocalHub, otel: Otel
) -> None:
    """Every entry throttled, two attempts: each create span has a throttled event per
    try and ends with error.type ThrottlingException and status ERROR; the throttled,
    retried and failed counts are recorded."""
    hub.faults.throttle_rate = 1.0
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, adaptive=False)
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url, retry=policy) as client:
        batch = await client.publish_many([bank_event(i) for i in range(3)], raise_on_error=False)
    assert len(batch.failed) == 3
    creates = otel.spans("create ")
    assert len(creates) == 3
    for span in creates:
        assert [e.name for e in span.events] == ["throttled", "throttled"]
        assert span.attributes["error.type"] == "ThrottlingException"
        assert span.attributes["tfso_events.attempts"] == 2
        assert span.status.status_code is StatusCode.ERROR
    sends = otel.spans("send ")
    assert len(sends) == 2
    assert all(s.attributes["error.type"] == "ThrottlingException" for s in sends)
    assert otel.total("tfso_events.publish.throttled") == 6
    assert otel.total("tfso_events.publish.retried") == 6
    assert (
        otel.total("messaging.client.sent.messages", **{"error.type": "ThrottlingException"}) == 3
    )


async def test_api_client_makes_a_send_span_per_post_and_marks_a_failed_call(
    hub: LocalHub, otel: Otel
) -> None:
    """Through the events API: one send span per POST linked to its event's create span;
    a 503 answer ends its send span with error.type http_503 and a retry is counted."""
    hub.faults.error_rate = 1.0
    async with local_api_client(hub, max_attempts=3) as client:
        failed = await client.publish_many([bank_event(0)], raise_on_error=False)
        hub.faults.error_rate = 0.0
        result = await client.publish(bank_event(1))
    assert not failed.ok
    sends = otel.spans("send ")
    assert len(sends) == 4  # three refused tries, then one accepted
    assert [s.attributes.get("error.type") for s in sends] == ["http_503"] * 3 + [None]
    assert all(s.attributes["messaging.system"] == "tfso.events_api" for s in sends)
    (create_ok,) = [s for s in otel.spans("create ") if "messaging.message.id" in s.attributes]
    assert create_ok.attributes["messaging.message.id"] == result.event_id
    assert [link.context.span_id for link in sends[-1].links] == [create_ok.context.span_id]
    assert otel.total("tfso_events.publish.retried", **{"error.type": "http_503"}) == 3
    (received,) = hub.received()
    assert received.detail["metadata"]["traceparent"] == _traceparent_of(create_ok)


async def test_propagate_false_leaves_the_event_untouched(hub: LocalHub, otel: Otel) -> None:
    """configure(propagate=False): spans are made, detail.metadata stays as built."""
    telemetry.configure(propagate=False, tracer_provider=otel.tracer_provider, meter_provider=None)
    event = bank_event(0)
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish(event)
    (received,) = hub.received()
    assert received.detail["metadata"] == {}
    assert len(otel.spans("create ")) == 1


async def test_a_trace_context_the_event_carries_is_continued_and_replaced(
    hub: LocalHub, otel: Otel
) -> None:
    """An event whose metadata already holds a traceparent (the outbox's, captured at
    add()) gets a create span in that trace, and the metadata then names the create
    span; other metadata keys are kept."""
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    event = bank_event(0)
    event.detail.metadata.update({"traceparent": parent, "tracestate": "a=1", "tenant": 7})
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish(event)
    (create,) = otel.spans("create ")
    assert f"{create.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert create.parent is not None
    assert f"{create.parent.span_id:016x}" == "b7ad6b7169203331"
    (received,) = hub.received()
    metadata = received.detail["metadata"]
    assert metadata["traceparent"] == _traceparent_of(create)
    assert metadata["tracestate"] == "a=1"
    assert metadata["tenant"] == 7


async def test_without_an_sdk_a_current_context_is_still_written_into_the_event(
    hub: LocalHub,
) -> None:
    """No tracer provider (the API alone): no span is started, but a trace context that
    is current (begun by other instrumentation) is written into the event."""
    from opentelemetry import context, trace

    span_context = trace.SpanContext(
        0x1234, 0x5678, is_remote=True, trace_flags=trace.TraceFlags(1)
    )
    token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    try:
        async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
            await client.publish_many([bank_event(0), bank_event(1)])
    finally:
        context.detach(token)
    expected = f"00-{0x1234:032x}-{0x5678:016x}-01"
    assert [r.detail["metadata"]["traceparent"] for r in hub.received()] == [expected] * 2


async def test_without_any_trace_context_nothing_is_written(hub: LocalHub) -> None:
    """The API alone and no current trace: the events go out exactly as built."""
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish(bank_event(0))
    assert hub.received()[0].detail["metadata"] == {}


async def test_a_publish_many_refused_partway_ends_the_create_spans_it_started(
    hub: LocalHub, otel: Otel
) -> None:
    """publish_many of 3 valid events then an invalid one raises EventValidationError
    and sends nothing; the 3 create spans it had started are ended (exported) with an
    ERROR status and error.type saying why, not left open forever. Both publishers."""
    invalid = bank_event(99)
    invalid.detail.content.first_name = float("nan")  # type: ignore[assignment]
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as bridge:
        with pytest.raises(EventValidationError):
            await bridge.publish_many([bank_event(i) for i in range(3)] + [invalid])
    async with local_api_client(hub, max_attempts=1) as api:
        with pytest.raises(EventValidationError):
            await api.publish_many([bank_event(i) for i in range(3)] + [invalid])
    creates = otel.spans("create ")
    assert len(creates) == 6
    for span in creates:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "EventValidationError"
        assert "event #3" in (span.status.description or "")
    assert hub.count() == 0
