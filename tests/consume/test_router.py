"""EventRouter: topology detection, routing, partial batch responses, FIFO, concurrency."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from tests.consume.conftest import (
    QUEUE_ARN,
    envelope,
    sns_event,
    sns_notification,
    sqs_event,
    sqs_record,
)
from tests.eventbridge.conftest import bank_event
from tfso_events import EventValidationError, TfsoEvent, UnknownEvent, UnknownEventTypeError
from tfso_events.consume import (
    EventRouter,
    LambdaEventError,
    MemoryDedupeStore,
    RecordContext,
    UnhandledEventError,
)
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event

FIFO_ARN = QUEUE_ARN + ".fifo"


def body(n: int) -> str:
    """The JSON envelope of bank_event(n)."""
    return json.dumps(envelope(bank_event(n)))


def unknown_body() -> str:
    """An envelope of a detail-type this version does not know."""
    doc = envelope(bank_event(0))
    doc["detail-type"] = "bank.future:thing@v9"
    return json.dumps(doc)


def invalid_body() -> str:
    """A bank.test:created@v1 envelope whose favoriteColor is not in the enum."""
    doc = envelope(bank_event(0))
    doc["detail"]["content"]["favoriteColor"] = "mauve"
    return json.dumps(doc)


def recording_router(fail: set[str] = frozenset(), **options: Any) -> tuple[EventRouter, list]:
    """A router whose handler records first names and raises for those in ``fail``."""
    router = EventRouter(**options)
    seen: list[str] = []

    @router.on(BankTestCreatedV1Event)
    def handle(event: BankTestCreatedV1Event) -> None:
        seen.append(event.detail.content.first_name)
        if event.detail.content.first_name in fail:
            raise RuntimeError(f"cannot book {event.detail.content.first_name}")

    return router, seen


def test_eventbridge_envelope_is_routed_to_its_typed_handler() -> None:
    """A direct EventBridge invocation calls the handler with the typed event, returns None."""
    router, seen = recording_router()
    assert router.lambda_handler(envelope(bank_event(3)), None) is None
    assert seen == ["Karl3"]


def test_sqs_bodies_are_envelopes_and_the_response_lists_failures() -> None:
    """SQS: every record is handled; the response names exactly the records whose handler
    raised or whose payload is invalid, by messageId."""
    router, seen = recording_router(fail={"Karl2"})
    event = sqs_event(body(1), body(2), invalid_body(), body(4))
    response = router.lambda_handler(event, None)
    ids = [r["messageId"] for r in event["Records"]]
    assert response == {
        "batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]
    }
    assert seen == ["Karl1", "Karl2", "Karl4"]


def test_sqs_all_good_answers_an_empty_failure_list() -> None:
    """A batch that fully succeeded answers batchItemFailures=[] (nothing is retried)."""
    router, _ = recording_router()
    assert router.lambda_handler(sqs_event(body(1)), None) == {"batchItemFailures": []}


def test_sns_notification_bodies_and_raw_delivery_are_both_read() -> None:
    """SQS bodies that are SNS notifications (Message holds the envelope) and raw-delivery
    bodies (the envelope itself) both reach the handler."""
    router, seen = recording_router()
    event = sqs_event(json.dumps(sns_notification(body(1))), body(2))
    assert router.lambda_handler(event, None) == {"batchItemFailures": []}
    assert seen == ["Karl1", "Karl2"]


def test_sns_event_is_routed_and_raises_on_failure() -> None:
    """A direct SNS invocation is handled; a raising handler's error propagates, so Lambda
    retries the invocation and applies its DLQ."""
    router, seen = recording_router(fail={"Karl7"})
    router.lambda_handler(sns_event(body(6)), None)
    with pytest.raises(RuntimeError, match="cannot book Karl7"):
        router.lambda_handler(sns_event(body(7)), None)
    assert seen == ["Karl6", "Karl7"]


def test_direct_invalid_envelope_raises_validation_error_with_path() -> None:
    """An invalid envelope invoked directly raises EventValidationError at its JSON path."""
    router, seen = recording_router()
    with pytest.raises(EventValidationError) as info:
        router.lambda_handler(json.loads(invalid_body()), None)
    assert info.value.path == "$.detail.content.favoriteColor"
    assert seen == []


def test_invalid_payload_is_logged_with_its_json_path(caplog: pytest.LogCaptureFixture) -> None:
    """An SQS record that fails validation is logged at WARNING with its messageId, the JSON
    path and the reason, in the message and as record attributes."""
    router, _ = recording_router()
    event = sqs_event(invalid_body())
    with caplog.at_level(logging.WARNING, logger="tfso_events.consume"):
        router.lambda_handler(event, None)
    [record] = [r for r in caplog.records if r.name == "tfso_events.consume"]
    assert record.levelno == logging.WARNING
    assert "$.detail.content.favoriteColor" in record.getMessage()
    assert event["Records"][0]["messageId"] in record.getMessage()
    assert record.json_path == "$.detail.content.favoriteColor"  # type: ignore[attr-defined]
    assert record.detail_type == "bank.test:created@v1"  # type: ignore[attr-defined]
    assert "mauve" in record.reason  # type: ignore[attr-defined]


def test_sns_message_that_is_invalid_names_the_path_inside_the_envelope() -> None:
    """An invalid envelope inside an SNS notification fails with the envelope's path."""
    router, _ = recording_router(strict=True)
    event = sqs_event(json.dumps(sns_notification(invalid_body())))
    response = router.lambda_handler(event, None)
    assert len(response["batchItemFailures"]) == 1  # type: ignore[index]
    with pytest.raises(EventValidationError) as info:
        router.lambda_handler(sns_event(invalid_body()), None)
    assert info.value.path == "$.detail.content.favoriteColor"


def test_fifo_stops_at_the_first_failure_and_reports_every_later_record() -> None:
    """FIFO (eventSourceARN ends .fifo): records after the first failure are not handled
    and are reported together with it, in order."""
    router, seen = recording_router(fail={"Karl2"})
    event = sqs_event(body(1), body(2), body(3), body(4), arn=FIFO_ARN)
    response = router.lambda_handler(event, None)
    ids = [r["messageId"] for r in event["Records"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert seen == ["Karl1", "Karl2"]


def test_unknown_and_unhandled_events_are_skipped_with_a_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown detail-types and known events without a handler succeed (skipped) and are
    logged at DEBUG."""
    router, seen = recording_router()
    deleted = json.dumps(envelope(_deleted()))
    with caplog.at_level(logging.DEBUG, logger="tfso_events.consume"):
        response = router.lambda_handler(sqs_event(unknown_body(), deleted), None)
    assert response == {"batchItemFailures": []}
    assert seen == []
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("bank.future:thing@v9" in m and "no handler" in m for m in messages)
    assert any("bank.transaction:deleted@v1" in m for m in messages)


def test_strict_router_fails_unknown_and_unhandled_events() -> None:
    """strict=True: an unknown detail-type fails with UnknownEventTypeError and a known
    event without handler with UnhandledEventError (direct), or is reported (SQS)."""
    router, _ = recording_router(strict=True)
    with pytest.raises(UnknownEventTypeError):
        router.lambda_handler(json.loads(unknown_body()), None)
    with pytest.raises(UnhandledEventError, match=r"bank\.transaction:deleted@v1"):
        router.lambda_handler(envelope(_deleted()), None)
    event = sqs_event(unknown_body(), body(1))
    response = router.lambda_handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_on_unknown_and_catch_all_handlers() -> None:
    """on_unknown receives UnknownEvent; a handler for TfsoEvent takes every known event
    that no more specific handler takes."""
    router = EventRouter(strict=True)
    got: list[tuple[str, str]] = []
    router.on_unknown(lambda event: got.append(("unknown", event.detail_type)))
    router.on(TfsoEvent)(lambda event: got.append(("any", event.detail_type)))
    router.on(BankTestCreatedV1Event)(lambda event: got.append(("test", event.detail_type)))
    router.lambda_handler(sqs_event(unknown_body(), body(1), json.dumps(envelope(_deleted()))))
    assert got == [
        ("unknown", "bank.future:thing@v9"),
        ("test", "bank.test:created@v1"),
        ("any", "bank.transaction:deleted@v1"),
    ]
    assert router.route(BankTransactionDeletedV1Event) is not None
    assert router.route(UnknownEvent) is not None


def test_handler_receives_the_record_context_when_it_asks() -> None:
    """A handler with a second parameter gets a RecordContext: message id, receive count,
    the raw record, the queue ARN and the Lambda context."""
    router = EventRouter()
    contexts: list[RecordContext] = []
    router.on(BankTestCreatedV1Event)(lambda event, record: contexts.append(record))
    record = sqs_record(body(1))
    record["attributes"]["ApproximateReceiveCount"] = "3"
    lambda_context = object()
    router.lambda_handler({"Records": [record]}, lambda_context)
    [context] = contexts
    assert context.via == "sqs"
    assert context.message_id == record["messageId"]
    assert context.receive_count == 3
    assert context.raw is record
    assert context.source_arn == QUEUE_ARN
    assert context.lambda_context is lambda_context

    env = envelope(bank_event(2))
    router.lambda_handler(env, None)
    assert contexts[-1].via == "eventbridge"
    assert contexts[-1].message_id == env["id"]
    assert contexts[-1].receive_count is None
    sns = sns_event(body(3))
    router.lambda_handler(sns, None)
    assert contexts[-1].via == "sns"
    assert contexts[-1].message_id == sns["Records"][0]["Sns"]["MessageId"]


@pytest.mark.parametrize(
    ("event", "path", "words"),
    [
        ([1, 2], "$", "got list"),
        ({"httpMethod": "GET", "path": "/"}, "$", "API Gateway"),
        ({"foo": 1}, "$", "'foo'"),
        ({"Records": []}, "$.Records", "empty list"),
        ({"Records": [{"eventSource": "aws:s3"}]}, "$.Records[0]", "S3"),
        (
            {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
            "$.Records[0].messageId",
            "messageId",
        ),
        (
            {"Records": [{"EventSource": "aws:sns", "Sns": {}}]},
            "$.Records[0].Sns.Message",
            "Message",
        ),
    ],
)
def test_anything_else_is_a_clear_error_naming_what_it_got(
    event: object, path: str, words: str
) -> None:
    """Payloads that are no EventBridge, SQS or SNS event raise LambdaEventError (also an
    EventValidationError) pointing into the Lambda event and naming what arrived."""
    router, _ = recording_router()
    with pytest.raises(LambdaEventError, match=words) as info:
        router.lambda_handler(event, None)
    assert info.value.path == path


async def test_async_handlers_run_concurrently_up_to_max_concurrency() -> None:
    """Async handlers of a standard queue's batch overlap, never more than max_concurrency
    at once; failures are still reported per record."""
    router = EventRouter()
    running = peak = 0

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if event.detail.content.first_name == "Karl5":
            raise ValueError("five")

    event = sqs_event(*(body(n) for n in range(10)))
    response = await router.handler(max_concurrency=3).process(event, None)
    assert peak == 3
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][5]["messageId"]}]}


async def test_async_handlers_keep_fifo_order() -> None:
    """On a FIFO queue, async handlers run one by one in record order."""
    router = EventRouter()
    order: list[str] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        await asyncio.sleep(0.001 * (10 - len(order)))
        order.append(event.detail.content.first_name)

    event = sqs_event(*(body(n) for n in range(6)), arn=FIFO_ARN)
    await router.handler(max_concurrency=10).process(event, None)
    assert order == [f"Karl{n}" for n in range(6)]


def test_sync_entry_point_runs_async_handlers_on_its_own_loop() -> None:
    """Called synchronously (as Lambda does), a router with async handlers runs them on a
    private loop that is reused across invocations and closed by close()."""
    router = EventRouter()
    loops: list[object] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        loops.append(asyncio.get_running_loop())

    handler = router.handler()
    handler(sqs_event(body(1)), None)
    handler(sqs_event(body(2)), None)
    handler.close()
    assert len(loops) == 2
    assert loops[0] is loops[1]


async def test_sync_entry_point_inside_a_running_loop_says_to_await() -> None:
    """Calling the sync entry point of an async router from a running loop is refused
    with a message pointing at process()."""
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        pass

    with pytest.raises(RuntimeError, match="process"):
        router.lambda_handler(sqs_event(body(1)), None)


def _decorated(fn: Any) -> Any:
    """An ordinary decorator: a plain function that returns whatever ``fn`` returns."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return fn(*args)

    return wrapper


def awaitable_router(shape: str, fail: str = "") -> tuple[EventRouter, list[str]]:
    """A router whose only handler is a plain function returning a coroutine that records
    first names after a real suspension (and raises for ``fail``): an async handler behind
    functools.wraps, or ``lambda e: handle(e)``."""
    router = EventRouter()
    done: list[str] = []

    async def handle(event: BankTestCreatedV1Event) -> None:
        await asyncio.sleep(0.001)
        if event.detail.content.first_name == fail:
            raise RuntimeError("cannot book")
        done.append(event.detail.content.first_name)

    plain = _decorated(handle) if shape == "wraps" else (lambda e: handle(e))
    router.on(BankTestCreatedV1Event)(plain)
    assert not router.has_async_handlers  # the router cannot see it is async
    return router, done


@pytest.mark.parametrize("store", [None, "memory"])
@pytest.mark.parametrize("shape", ["wraps", "lambda"])
def test_an_awaitable_returned_by_a_plain_handler_is_awaited(shape: str, store: str | None) -> None:
    """SQS, sync entry point: every coroutine a plain handler returns is run to its end
    (5 of 5 bodies ran), with or without a memory dedupe store; its failure is the record's."""
    router, done = awaitable_router(shape, fail="Karl4")
    handler = router.handler(dedupe=MemoryDedupeStore() if store else None)
    try:
        event = sqs_event(*(body(n) for n in range(5)))
        answer = handler(event, None)
    finally:
        handler.close()
    assert done == [f"Karl{n}" for n in range(4)]
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][4]["messageId"]}]}


@pytest.mark.parametrize("shape", ["wraps", "lambda"])
async def test_an_awaitable_returned_by_a_plain_handler_is_awaited_by_process(shape: str) -> None:
    """await handler.process(...) (a running loop) awaits it too; EventBridge raises its error."""
    router, done = awaitable_router(shape, fail="Karl9")
    assert await router.process(sqs_event(body(1), body(2)), None) == {"batchItemFailures": []}
    await router.process(envelope(bank_event(3)), None)
    with pytest.raises(RuntimeError, match="cannot book"):
        await router.process(envelope(bank_event(9)), None)
    assert done == ["Karl1", "Karl2", "Karl3"]


def test_an_awaitable_returned_by_a_plain_handler_fails_eventbridge_when_it_raises() -> None:
    """Sync entry point, direct EventBridge invocation: the coroutine's error is raised."""
    router, done = awaitable_router("lambda", fail="Karl9")
    handler = router.handler()
    try:
        handler(envelope(bank_event(1)), None)
        with pytest.raises(RuntimeError, match="cannot book"):
            handler(envelope(bank_event(9)), None)
    finally:
        handler.close()
    assert done == ["Karl1"]


async def test_an_awaitable_from_the_sync_entry_point_in_a_running_loop_fails_the_record() -> None:
    """Sync entry point called inside a running loop: the coroutine cannot run, so the
    record fails (never reported handled) and the error says to await process()."""
    router, done = awaitable_router("wraps")
    event = sqs_event(body(1))
    handler = router.handler()
    answer = handler(event, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert done == []


def test_registration_errors() -> None:
    """on() refuses non-event classes, no class and a second handler for a class."""
    router = EventRouter()
    with pytest.raises(TypeError):
        router.on()
    with pytest.raises(TypeError, match="event classes"):
        router.on(dict)  # type: ignore[arg-type]
    router.on(BankTestCreatedV1Event)(lambda event: None)
    with pytest.raises(ValueError, match="already has a handler"):
        router.on(BankTestCreatedV1Event)


COLD_START = """
import json, sys
from tfso_events.consume import EventRouter, MemoryDedupeStore, DynamoDBDedupeStore
router = EventRouter()
router.on_unknown(lambda event: None)
DynamoDBDedupeStore("table")
router.handler(dedupe=MemoryDedupeStore())({"detail-type": "x", "source": "s", "detail": {}})
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"aioboto3", "aiobotocore",
    "botocore", "boto3", "aiohttp", "authlib"})
print(json.dumps(heavy))
"""


def test_importing_and_using_the_router_loads_no_io_stack() -> None:
    """import tfso_events.consume, building a router and handling an event (memory dedupe,
    a DynamoDB store constructed but unused) loads neither aiohttp, aioboto3 nor botocore."""
    out = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


LIGHT = """
import json, sys
from tfso_events.consume import EventRouter
loaded = lambda: sorted(
    m for m in sys.modules
    if m in {"ssl", "_ssl", "asyncio", "tfso_events.results"}
    or m.startswith("tfso_events.publishing")
)
after_import = loaded()
from tfso_events.consume import MemoryDedupeStore
router = EventRouter()
router.on_unknown(lambda event: None)
router.handler(dedupe=MemoryDedupeStore())({"detail-type": "x", "source": "s", "detail": {}})
print(json.dumps([after_import, loaded()]))
"""


def test_the_router_loads_neither_ssl_nor_the_publishing_layer() -> None:
    """`from tfso_events.consume import EventRouter`, and handling an event with sync
    handlers, imports neither asyncio (which brings ssl) nor the publishing layer nor
    the publish results: a Lambda consumer pays for none of them."""
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [[], []]


def _deleted() -> BankTransactionDeletedV1Event:
    from tfso_events.examples import sample_event

    event = sample_event("bank.transaction:deleted@v1")
    assert isinstance(event, BankTransactionDeletedV1Event)
    return event
