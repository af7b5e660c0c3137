"""Lambda payload builders: AWS's documented shapes, parseable back into the event."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from tfso_events import parse_event
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.testing import (
    build,
    lambda_eventbridge_event,
    lambda_sns_event,
    lambda_sqs_event,
)

WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def test_eventbridge_payload_is_the_documented_envelope() -> None:
    """The envelope has exactly EventBridge's keys; detail is the wire detail as the
    Lambda runtime's json decodes it; parse_event reads it back to the same detail."""
    event = build(BankTransactionCreatedV1Event)
    payload = lambda_eventbridge_event(event, time=WHEN, event_id="abc")
    assert set(payload) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert payload["version"] == "0"
    assert payload["id"] == "abc"
    assert payload["time"] == "2024-05-01T12:00:00Z"
    assert payload["detail-type"] == "bank.transaction:created@v1"
    assert payload["detail"] == json.loads(event.detail_json())
    assert parse_event(payload).detail == event.detail


def test_sqs_payload_has_one_record_per_message_with_the_envelope_body() -> None:
    """Records carry AWS's SQS keys, string attributes, the body's MD5, and a body that
    parses back into each event; raw strings pass through as the body."""
    a, b = build(BankTestCreatedV1Event), build(BankTransactionCreatedV1Event)
    payload = lambda_sqs_event(a, b, "not json", time=WHEN, receive_count=2)
    records = payload["Records"]
    assert len(records) == 3
    first = records[0]
    assert set(first) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"].startswith("arn:aws:sqs:eu-west-1:123456789012:")
    assert first["attributes"]["ApproximateReceiveCount"] == "2"
    assert first["attributes"]["SentTimestamp"] == str(int(WHEN.timestamp() * 1000))
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode()).hexdigest()
    assert parse_event(records[0]["body"]).detail == a.detail
    assert parse_event(records[1]["body"]).detail == b.detail
    assert records[2]["body"] == "not json"
    assert len({r["messageId"] for r in records}) == 3


def test_sns_payload_wraps_the_envelope_as_the_message() -> None:
    """Records carry AWS's SNS keys (EventSource aws:sns, Sns.Type Notification, the
    topic ARN) and Sns.Message parses back into the event."""
    event = build(BankTestCreatedV1Event)
    payload = lambda_sns_event(event, topic="orders", time=WHEN)
    (record,) = payload["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    sns = record["Sns"]
    assert sns["Type"] == "Notification"
    assert sns["TopicArn"] == "arn:aws:sns:eu-west-1:123456789012:orders"
    assert record["EventSubscriptionArn"].startswith(sns["TopicArn"] + ":")
    assert sns["Timestamp"] == "2024-05-01T12:00:00.250Z"
    assert parse_event(sns["Message"]).detail == event.detail
