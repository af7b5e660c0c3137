"""The Lambda events the router accepts are the ones AWS sends: Powertools' parser models
(SqsModel, EventBridgeModel, SnsModel) validate the same payloads."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SnsModel, SqsModel

from tests.consume.conftest import envelope, sns_event, sns_notification, sqs_event
from tests.eventbridge.conftest import bank_event
from tfso_events.consume import EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event


def _router() -> tuple[EventRouter, list[str]]:
    router = EventRouter(strict=True)
    seen: list[str] = []
    router.on(BankTestCreatedV1Event)(lambda e: seen.append(e.detail.content.first_name))
    return router, seen


def test_sqs_event_parses_in_powertools_and_in_the_router() -> None:
    """An SQS event with an envelope body and an SNS-notification body: Powertools'
    SqsModel accepts it and the router handles both records."""
    event = sqs_event(
        json.dumps(envelope(bank_event(1))),
        json.dumps(sns_notification(json.dumps(envelope(bank_event(2))))),
    )
    parsed = SqsModel.model_validate(event)
    assert [r.messageId for r in parsed.Records] == [r["messageId"] for r in event["Records"]]
    router, seen = _router()
    assert router.lambda_handler(event, None) == {"batchItemFailures": []}
    assert seen == ["Karl1", "Karl2"]


def test_eventbridge_and_sns_events_parse_in_powertools_and_in_the_router() -> None:
    """An EventBridge envelope (EventBridgeModel) and an SNS event (SnsModel) validate in
    Powertools and are handled by the router."""
    doc = envelope(bank_event(3))
    assert EventBridgeModel.model_validate(doc).detail_type == "bank.test:created@v1"
    sns = sns_event(json.dumps(envelope(bank_event(4))))
    assert SnsModel.model_validate(sns).Records[0].Sns.Type == "Notification"
    router, seen = _router()
    router.lambda_handler(doc, None)
    router.lambda_handler(sns, None)
    assert seen == ["Karl3", "Karl4"]
