"""Lambda payload builders: the events AWS hands a handler, in AWS's documented shapes.

* :func:`lambda_eventbridge_event` — an EventBridge rule targets the function directly:
  the handler gets the envelope (``version``, ``id``, ``detail-type``, ``source``,
  ``account``, ``time``, ``region``, ``resources``, ``detail``);
* :func:`lambda_sqs_event` — a rule targets an SQS queue the function reads: each
  record's ``body`` is the envelope as a JSON string;
* :func:`lambda_sns_event` — a rule targets an SNS topic the function subscribes to:
  each record's ``Sns.Message`` is the envelope as a JSON string.

Payloads are plain dicts decoded with the standard :mod:`json` module, as the Lambda
Python runtime decodes them (decimals arrive as ``float``). Each message may be an event
(wrapped in an envelope), an envelope you built (a mapping) or a raw string body (to
test a consumer against a poison message).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tfso_events.models._base import TfsoEvent

__all__ = [
    "ACCOUNT",
    "REGION",
    "lambda_eventbridge_event",
    "lambda_sns_event",
    "lambda_sqs_event",
]

#: The account id the builders put in ARNs and envelopes (AWS's documentation's).
ACCOUNT = "123456789012"
#: The region the builders use unless told otherwise.
REGION = "eu-west-1"

Message = TfsoEvent | Mapping[str, Any] | str


def _time(value: datetime | None) -> datetime:
    return (value or datetime.now(UTC)).astimezone(UTC)


def lambda_eventbridge_event(
    event: TfsoEvent,
    *,
    event_id: str | None = None,
    account: str = ACCOUNT,
    region: str = REGION,
    time: datetime | None = None,
) -> dict[str, Any]:
    """The envelope EventBridge delivers to a Lambda target for ``event``.

    The event is validated first (:class:`~tfso_events.EventValidationError` if it is
    not valid: EventBridge never delivers what a publisher refused). Envelope fields the
    event already carries (``id``, ``time``, ``account``, ``region``, ``resources``) are
    kept; others come from the arguments (a fresh id, now).
    """
    detail = json.loads(event.detail_json())
    when = event.time or _time(time)
    return {
        "version": event.version or "0",
        "id": event.id or event_id or str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": event.account or account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": event.region or region,
        "resources": list(event.resources),
        "detail": detail,
    }


def _body(message: Message, region: str) -> str:
    if isinstance(message, TfsoEvent):
        return json.dumps(lambda_eventbridge_event(message, region=region))
    if isinstance(message, str):
        return message
    return json.dumps(dict(message))


def _millis(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def lambda_sqs_event(
    *messages: Message,
    queue: str = "tfso-events-queue",
    region: str = REGION,
    account: str = ACCOUNT,
    receive_count: int = 1,
    time: datetime | None = None,
) -> dict[str, Any]:
    """The event Lambda hands a function reading an SQS queue: one record per message
    (``{"Records": [...]}``; ``eventSource`` ``aws:sqs``, ``body`` the envelope JSON,
    ``attributes`` with ``ApproximateReceiveCount``, ``md5OfBody`` the body's MD5).

    ``receive_count`` above 1 models a redelivered message.
    """
    sent = _time(time)
    records = []
    for message in messages:
        body = _body(message, region)
        message_id = str(uuid.uuid4())
        records.append(
            {
                "messageId": message_id,
                "receiptHandle": f"AQEB{uuid.uuid4().hex}{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": _millis(sent),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": _millis(sent),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{queue}",
                "awsRegion": region,
            }
        )
    return {"Records": records}


def lambda_sns_event(
    *messages: Message,
    topic: str = "tfso-events-topic",
    region: str = REGION,
    account: str = ACCOUNT,
    subject: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """The event Lambda hands a function subscribed to an SNS topic: one record per
    message (``{"Records": [...]}``; ``EventSource`` ``aws:sns``, ``Sns.Type``
    ``Notification``, ``Sns.Message`` the envelope JSON)."""
    topic_arn = f"arn:aws:sns:{region}:{account}:{topic}"
    sent = _time(time)
    stamp = sent.strftime("%Y-%m-%dT%H:%M:%S.") + f"{sent.microsecond // 1000:03d}Z"
    records = []
    for message in messages:
        subscription = f"{topic_arn}:{uuid.uuid4()}"
        records.append(
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": stamp,
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/"
                    "SimpleNotificationService-0000000000000000000000.pem",
                    "MessageId": str(uuid.uuid4()),
                    "Message": _body(message, region),
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/"
                    f"?Action=Unsubscribe&SubscriptionArn={subscription}",
                    "TopicArn": topic_arn,
                    "Subject": subject,
                },
            }
        )
    return {"Records": records}
