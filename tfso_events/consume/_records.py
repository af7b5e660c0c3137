"""Reading a Lambda event: which topology delivered it, and the envelope of each record.

The shapes are AWS's documented ones:

* **EventBridge → Lambda**: the event *is* the envelope (``detail-type``, ``source``,
  ``detail``, ``id``, ...).
* **SQS → Lambda**: ``{"Records": [{"messageId", "receiptHandle", "body", "attributes":
  {"ApproximateReceiveCount", ...}, "messageAttributes", "md5OfBody", "eventSource":
  "aws:sqs", "eventSourceARN", "awsRegion"}]}``. The ``body`` is the envelope (rule → SQS,
  or SNS with raw message delivery) or an SNS notification (``{"Type": "Notification",
  "MessageId", "TopicArn", "Message": <the envelope>, ...}``) when SNS delivers to the
  queue without raw delivery.
* **SNS → Lambda**: ``{"Records": [{"EventSource": "aws:sns", "EventVersion",
  "EventSubscriptionArn", "Sns": {"Type", "MessageId", "TopicArn", "Message": <the
  envelope>, ...}}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from tfso_events.catalog import parse_event
from tfso_events.errors import EventValidationError, LambdaEventError
from tfso_events.models._base import TfsoEvent, UnknownEvent

__all__ = ["Delivery", "Via", "decode_sqs_body", "read_lambda_event"]

#: The topology that invoked the function.
Via = Literal["eventbridge", "sqs", "sns"]


class Delivery:
    """A Lambda event taken apart: its topology and its records (each a raw record)."""

    __slots__ = ("fifo", "records", "via")

    def __init__(self, via: Via, records: Sequence[Mapping[str, Any]], fifo: bool) -> None:
        self.via: Via = via
        self.records = records
        self.fifo = fifo


# Event sources a function may be wired to by mistake, named in the error.
_OTHER_SOURCES = {
    "aws:s3": "an S3 event notification",
    "aws:dynamodb": "a DynamoDB stream event",
    "aws:kinesis": "a Kinesis stream event",
    "aws:ses": "an SES event",
    "aws:codecommit": "a CodeCommit event",
    "aws:kafka": "an MSK event",
}


def _describe(event: Mapping[str, Any]) -> str:
    if "requestContext" in event or "httpMethod" in event:
        return "an API Gateway or function URL request"
    if "awslogs" in event:
        return "a CloudWatch Logs subscription event"
    keys = ", ".join(repr(k) for k in list(event)[:8])
    return f"a JSON object with keys {keys}" if keys else "an empty JSON object"


def read_lambda_event(event: object) -> Delivery:
    """Detect the topology of a Lambda event and return its records.

    Raises :class:`LambdaEventError` (naming what it got) for anything that is not an
    EventBridge envelope, an SQS event or an SNS event.
    """
    if not isinstance(event, Mapping):
        raise LambdaEventError(
            "expected an EventBridge envelope, an SQS event or an SNS event (a JSON object), "
            f"got {type(event).__name__}",
            path="$",
        )
    records = event.get("Records")
    if records is None:
        if "detail-type" in event:
            return Delivery("eventbridge", (event,), False)
        raise LambdaEventError(
            "expected an EventBridge envelope (with `detail-type`), an SQS event or an SNS "
            f"event (with `Records`), got {_describe(event)}",
            path="$",
        )
    if not isinstance(records, list) or not records:
        raise LambdaEventError(
            f"`Records` must be a non-empty list of SQS or SNS records, got {_kind(records)}",
            path="$.Records",
        )
    first = records[0]
    source = (first.get("eventSource") or first.get("EventSource")) if _is_map(first) else None
    if source == "aws:sqs":
        arn = first.get("eventSourceARN")
        for index, record in enumerate(records):
            if not (  # the shape Lambda sends, checked inline: this runs per record
                type(record) is dict
                and record.get("eventSource") == "aws:sqs"
                and type(record.get("messageId")) is str
                and record["messageId"]
            ):
                _check_sqs(record, index)
        return Delivery("sqs", records, isinstance(arn, str) and arn.endswith(".fifo"))
    if source == "aws:sns":
        for index, record in enumerate(records):
            _check_sns(record, index)
        return Delivery("sns", records, False)
    what = _OTHER_SOURCES.get(source) if isinstance(source, str) else None
    if what is None:
        what = f"records with event source {source!r}" if source else "records without one"
    raise LambdaEventError(
        f"expected SQS records (`eventSource` 'aws:sqs') or SNS records (`EventSource` "
        f"'aws:sns'), got {what}",
        path="$.Records[0]",
    )


def _is_map(value: object) -> bool:
    return isinstance(value, Mapping)


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an empty list"
    return type(value).__name__


def _check_sqs(record: object, index: int) -> None:
    # Every record must be reportable: a batch item failure names its messageId.
    where = f"$.Records[{index}]"
    if not isinstance(record, Mapping):
        raise LambdaEventError(f"an SQS record must be an object, got {_kind(record)}", path=where)
    if record.get("eventSource") != "aws:sqs":
        raise LambdaEventError(
            f"every record of an SQS event must have `eventSource` 'aws:sqs', got "
            f"{record.get('eventSource')!r}",
            path=f"{where}.eventSource",
        )
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise LambdaEventError(
            "an SQS record needs a non-empty string `messageId` (the partial batch response "
            "names it)",
            path=f"{where}.messageId",
        )


def _check_sns(record: object, index: int) -> None:
    where = f"$.Records[{index}]"
    if not isinstance(record, Mapping) or record.get("EventSource") != "aws:sns":
        raise LambdaEventError(
            "every record of an SNS event must be an object with `EventSource` 'aws:sns'",
            path=where,
        )
    sns = record.get("Sns")
    if not isinstance(sns, Mapping) or not isinstance(sns.get("Message"), str):
        raise LambdaEventError(
            "an SNS record needs `Sns.Message`, a string (the envelope)",
            path=f"{where}.Sns.Message",
        )


class _SnsNotification(msgspec.Struct):
    """The JSON document SNS writes to an SQS queue when raw delivery is off."""

    Type: str
    Message: str
    TopicArn: str = ""
    MessageId: str = ""


_SNS_DECODER = msgspec.json.Decoder(_SnsNotification)


def decode_sqs_body(body: object, index: int) -> TfsoEvent | UnknownEvent:
    """The typed event in an SQS message body: the envelope itself (rule → SQS, raw SNS
    delivery) or the ``Message`` of an SNS notification. Raises
    :class:`EventValidationError`; a body that is no string at ``$.Records[index].body``."""
    if type(body) is not str:
        raise EventValidationError(
            f"an SQS message body is a string, got {type(body).__name__}",
            path=f"$.Records[{index}].body",
        )
    try:
        return parse_event(body)
    except EventValidationError as exc:
        if exc.path != "$" or exc.detail_type is not None:
            raise
        first = exc
    # Not an envelope at its root: an SNS notification (non-raw delivery) wraps one.
    try:
        notification = _SNS_DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise first from None
    if notification.Type != "Notification":
        raise first
    try:
        return parse_event(notification.Message)
    except EventValidationError as exc:
        raise EventValidationError(
            f"{exc.reason} (in the `Message` of the SNS notification)",
            path=exc.path,
            detail_type=exc.detail_type,
        ) from None
