"""Fixtures and Lambda payload builders for the consume router tests.

The builders write AWS's documented Lambda event shapes (the SQS, SNS and EventBridge
records Lambda hands a function); the moto tests build them from real queue messages.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.eventbridge.conftest import REGION, aws_env, bank_event  # noqa: F401 - fixtures
from tfso_events import TfsoEvent

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:consumer"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:tfso-bank"


def envelope(event: TfsoEvent, *, event_id: str | None = None) -> dict[str, Any]:
    """The EventBridge envelope of ``event`` as EventBridge delivers it."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": ACCOUNT,
        "time": "2024-05-01T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": json.loads(event.detail_json()),
    }


def sqs_record(body: str, *, message_id: str | None = None, arn: str = QUEUE_ARN) -> dict[str, Any]:
    """One SQS record as Lambda's SQS event source mapping writes it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1714564800000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1714564800001",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str, arn: str = QUEUE_ARN) -> dict[str, Any]:
    """An SQS Lambda event with one record per body."""
    return {"Records": [sqs_record(body, arn=arn) for body in bodies]}


def sns_notification(message: str) -> dict[str, Any]:
    """The notification SNS writes to an SQS queue when raw delivery is off."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe",
    }


def sns_event(*messages: str) -> dict[str, Any]:
    """An SNS Lambda event (SNS invokes with one record; more are allowed here)."""
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2024-05-01T12:00:00.000Z",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": f"https://sns.{REGION}.amazonaws.com/cert.pem",
                    "MessageId": str(uuid.uuid4()),
                    "Message": message,
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe",
                    "TopicArn": TOPIC_ARN,
                    "Subject": None,
                },
            }
            for message in messages
        ]
    }


def _reset(url: str) -> None:
    # moto keeps its backends per process, shared by every server the suite starts: start
    # and leave clean, so other modules can create the same bus.
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1 and a free port, for one test module; moto's state is
    reset before and after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        _reset(url)
        yield url
    finally:
        try:
            _reset(url)
        finally:
            server.stop()
