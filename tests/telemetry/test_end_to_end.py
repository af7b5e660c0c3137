"""One trace from a service's publish, through the local hub, to the consume router (and
from an outbox's add(), through the relay): opentelemetry-sdk's in-memory exporter."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.conftest import bank_event
from tests.telemetry.conftest import Otel
from tfso_events.consume import EventRouter
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Outbox, OutboxRelay
from tfso_events.outbox._db import async_url
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient
from tfso_events.testing import lambda_sqs_event


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _consume(hub: LocalHub, otel: Otel, fail: str | None = None) -> dict[str, Any]:
    """Hand what the hub received to a router as one SQS batch; its handler makes a span
    of its own. Returns the batch response."""
    tracer = otel.tracer_provider.get_tracer("consumer-service")
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    def book(event: BankTestCreatedV1Event) -> None:
        with tracer.start_as_current_span("book"):
            if event.detail.content.first_name == fail:
                raise RuntimeError("the ledger is closed")

    sqs = lambda_sqs_event(*(record.envelope() for record in hub.received()))
    response = router.lambda_handler(sqs)
    assert response is not None
    return response


async def test_publish_through_the_hub_to_the_router_is_one_trace(
    hub: LocalHub, otel: Otel
) -> None:
    """A service's span → create (PRODUCER) per event → send (CLIENT) linked to them →
    the hub → an SQS batch span (CONSUMER) linked to every create span → a process span
    per record (CONSUMER) whose parent is its event's create span, linked to the batch,
    with the same message id → the handler's own span under it: all one trace."""
    tracer = otel.tracer_provider.get_tracer("producer-service")
    with tracer.start_as_current_span("checkout") as root:
        async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
            batch = await client.publish_many([bank_event(0), bank_event(1)])
    assert _consume(hub, otel) == {"batchItemFailures": []}

    spans = otel.spans()
    trace_id = root.get_span_context().trace_id
    (checkout,) = _by_name(spans, "checkout")
    creates = _by_name(spans, "create tfso-bank-events")
    (send,) = _by_name(spans, "send tfso-bank-events")
    (sqs_batch,) = [
        s
        for s in spans
        if s.attributes.get("messaging.batch.message_count") == 2 and s.kind is SpanKind.CONSUMER
    ]
    processes = [s for s in spans if s.name == "process tfso-events-queue" and s is not sqs_batch]
    books = _by_name(spans, "book")
    assert (len(creates), len(processes), len(books)) == (2, 2, 2)
    for span in [checkout, *creates, send, *processes, *books]:
        assert span.context.trace_id == trace_id, span.name
    create_of = {s.attributes["messaging.message.id"]: s for s in creates}
    assert sorted(create_of) == sorted(batch.event_ids)
    assert all(
        s.parent is not None and s.parent.span_id == checkout.context.span_id for s in creates
    )
    assert {link.context.span_id for link in send.links} == {s.context.span_id for s in creates}
    assert {link.context.span_id for link in sqs_batch.links} == {
        s.context.span_id for s in creates
    }
    for process in processes:
        assert process.kind is SpanKind.CONSUMER
        message_id = process.attributes["messaging.message.id"]
        assert process.parent is not None
        assert process.parent.span_id == create_of[message_id].context.span_id
        assert [link.context.span_id for link in process.links] == [sqs_batch.context.span_id]
        assert process.attributes["messaging.system"] == "aws_sqs"
        assert process.attributes["messaging.operation.type"] == "process"
        assert process.attributes["messaging.destination.name"] == "tfso-events-queue"
        assert process.attributes["tfso_events.detail_type"] == "bank.test:created@v1"
        assert process.attributes["tfso_events.outcome"] == "processed"
    assert {b.parent.span_id for b in books if b.parent} == {p.context.span_id for p in processes}
    assert otel.total("tfso_events.consume.records", **{"tfso_events.outcome": "processed"}) == 2
    assert sum(p.count for p in otel.points("messaging.process.duration")) == 2


async def test_a_handler_failure_marks_its_process_span_and_counts_it_failed(
    hub: LocalHub, otel: Otel
) -> None:
    """The record whose handler raises: its process span has error.type (the exception
    class) and status ERROR, it is counted failed, and the batch response names it; the
    other record is processed."""
    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish_many([bank_event(0), bank_event(1)])
    response = _consume(hub, otel, fail="Karl1")
    assert len(response["batchItemFailures"]) == 1
    processes = [s for s in otel.spans("process ") if "messaging.message.id" in s.attributes]
    (failed,) = [s for s in processes if s.status.status_code is StatusCode.ERROR]
    assert failed.attributes["error.type"] == "RuntimeError"
    assert failed.attributes["tfso_events.outcome"] == "failed"
    assert otel.total("tfso_events.consume.records", **{"tfso_events.outcome": "failed"}) == 1
    assert otel.total("tfso_events.consume.records", **{"tfso_events.outcome": "processed"}) == 1


async def test_commit_relay_bus_consumer_is_one_trace(
    hub: LocalHub, otel: Otel, tmp_path: Path
) -> None:
    """An event added to the outbox inside a span (the service's transaction) keeps that
    context in its row; the relay's publish makes its create span a child of it, and the
    consumer's process span a child of the create span: one trace. The relay reports the
    outbox's backlog gauges."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    outbox = Outbox(MetaData(), table_name=f"outbox_{uuid.uuid4().hex[:12]}")
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(outbox.table.metadata.create_all)
    tracer = otel.tracer_provider.get_tracer("producer-service")
    try:
        with tracer.start_as_current_span("place order") as commit:
            async with engine.begin() as conn:
                await outbox.add(conn, bank_event(7))
        assert trace.get_current_span() is trace.INVALID_SPAN  # the relay runs outside it
        async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
            relay = OutboxRelay(url, client, outbox=outbox)
            try:
                assert await relay.drain() == 1
            finally:
                await relay.aclose()
    finally:
        await engine.dispose()
    assert _consume(hub, otel) == {"batchItemFailures": []}

    spans = otel.spans()
    (create,) = _by_name(spans, "create tfso-bank-events")
    (process,) = [s for s in otel.spans("process ") if "messaging.message.id" in s.attributes]
    trace_id = commit.get_span_context().trace_id
    assert create.context.trace_id == trace_id
    assert create.parent is not None
    assert create.parent.span_id == commit.get_span_context().span_id
    assert process.context.trace_id == trace_id
    assert process.parent is not None
    assert process.parent.span_id == create.context.span_id
    (backlog,) = otel.points("tfso_events.outbox.backlog")
    assert backlog.attributes["tfso_events.outbox.table"] == outbox.table.name
    assert backlog.value >= 0


async def test_a_hub_rule_delivers_to_a_router_in_the_producers_trace(
    hub: LocalHub, otel: Otel
) -> None:
    """A rule of the local hub delivers the published event to an EventRouter, as
    EventBridge invokes a Lambda: the router's process span (aws.eventbridge, the event's
    id) is the child of the event's create span in the producer's trace, and the
    handler's own span is under it."""
    tracer = otel.tracer_provider.get_tracer("service")
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    def book(event: BankTestCreatedV1Event) -> None:
        with tracer.start_as_current_span("book"):
            pass

    hub.add_rule("to-router", {"source": [BankTestCreatedV1Event.source]}, router)
    with tracer.start_as_current_span("checkout") as root:
        async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
            result = await client.publish(bank_event(0))
    await hub.drain()
    assert hub.deliveries(status="delivered")
    (create,) = otel.spans("create ")
    (process,) = otel.spans("process")
    (booked,) = otel.spans("book")
    trace_id = root.get_span_context().trace_id
    assert {create.context.trace_id, process.context.trace_id, booked.context.trace_id} == {
        trace_id
    }
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == create.context.span_id
    assert process.attributes["messaging.system"] == "aws.eventbridge"
    assert process.attributes["messaging.message.id"] == result.event_id
    assert create.attributes["messaging.message.id"] == result.event_id
    assert booked.parent is not None
    assert booked.parent.span_id == process.context.span_id


async def test_a_duplicate_skipped_by_dedupe_is_counted_and_its_span_says_so(
    hub: LocalHub, otel: Otel
) -> None:
    """The same SQS record handled twice with a dedupe store: the second process span
    ends with outcome duplicate, and records are counted processed 1, duplicate 1."""
    from tfso_events.consume import MemoryDedupeStore

    async with TfsoEventBridgeClient("dev", endpoint_url=hub.url) as client:
        await client.publish(bank_event(0))
    router = EventRouter()
    router.on(BankTestCreatedV1Event)(lambda event: None)
    handler = router.handler(dedupe=MemoryDedupeStore())
    sqs = lambda_sqs_event(hub.received()[0].envelope())
    assert await handler.process(sqs) == {"batchItemFailures": []}
    assert await handler.process(sqs) == {"batchItemFailures": []}
    outcomes = [
        s.attributes["tfso_events.outcome"]
        for s in otel.spans("process ")
        if "messaging.message.id" in s.attributes
    ]
    assert outcomes == ["processed", "duplicate"]
    assert otel.total("tfso_events.consume.records", **{"tfso_events.outcome": "duplicate"}) == 1
    assert otel.total("tfso_events.consume.records", **{"tfso_events.outcome": "processed"}) == 1
