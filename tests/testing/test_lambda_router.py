"""The Lambda payload builders of ``tfso_events.testing`` and the consume router agree:
what a user's consumer test builds is exactly what ``EventRouter`` takes in production."""

from __future__ import annotations

import json

from tfso_events import TfsoEvent
from tfso_events.consume import EventRouter
from tfso_events.examples import sample_events
from tfso_events.testing import (
    lambda_eventbridge_event,
    lambda_sns_event,
    lambda_sqs_event,
)


def _router() -> tuple[EventRouter, list[TfsoEvent]]:
    """A router whose catch-all handler records every typed event it is given."""
    router = EventRouter()
    seen: list[TfsoEvent] = []

    @router.on(TfsoEvent)
    def record(event: TfsoEvent) -> None:
        seen.append(event)

    return router, seen


def test_every_builder_is_accepted_by_the_router_and_routes_every_event() -> None:
    """lambda_eventbridge_event, lambda_sqs_event (envelopes and SNS-wrapped bodies) and
    lambda_sns_event each reach the router's typed handler with the events they were
    built from (equal details), and SQS answers with no batch item failures."""
    events = sample_events()
    wanted = [(e.detail_type, e.detail) for e in events]

    router, seen = _router()
    for event in events:
        assert router.lambda_handler(lambda_eventbridge_event(event)) is None
    assert [(e.detail_type, e.detail) for e in seen] == wanted

    router, seen = _router()
    assert router.lambda_handler(lambda_sqs_event(*events)) == {"batchItemFailures": []}
    assert [(e.detail_type, e.detail) for e in seen] == wanted

    router, seen = _router()
    sns = lambda_sns_event(*events)
    notifications = [json.dumps(r["Sns"] | {"Type": "Notification"}) for r in sns["Records"]]
    assert router.lambda_handler(lambda_sqs_event(*notifications)) == {"batchItemFailures": []}
    assert [(e.detail_type, e.detail) for e in seen] == wanted

    router, seen = _router()
    assert router.lambda_handler(sns) is None
    assert [(e.detail_type, e.detail) for e in seen] == wanted


def test_a_poison_message_built_as_a_raw_string_is_one_batch_item_failure() -> None:
    """A raw string body among valid events (the builders' poison-message form) is
    reported as exactly its own batchItemFailure; the valid events are handled."""
    events = sample_events()[:2]
    router, seen = _router()
    payload = lambda_sqs_event(events[0], "{not json", events[1])
    poison_id = payload["Records"][1]["messageId"]
    assert router.lambda_handler(payload) == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    assert [e.detail for e in seen] == [e.detail for e in events]
