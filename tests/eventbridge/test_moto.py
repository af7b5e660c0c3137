"""Protocol fidelity: publish to moto's EventBridge, read what its rule delivered to SQS.

moto is an implementation we did not write: if a rule built with ``event_pattern(...)``
routes our entries to an SQS queue and ``parse_event`` turns the delivered envelopes back
into the typed events we sent, the wire format is right end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.eventbridge.conftest import REGION, bank_event
from tfso_events import TfsoEvent, event_pattern, parse_event
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Address,
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)
from tfso_events.models.bank_transaction_created_v1 import (
    BankTransactionCreatedV1Content,
    BankTransactionCreatedV1Detail,
    BankTransactionCreatedV1Event,
    BankTransactionCreatedV1Status,
    BankTransactionCreatedV1StatusText,
)
from tfso_events.models.bank_transaction_deleted_v1 import (
    BankTransactionDeletedV1Content,
    BankTransactionDeletedV1Detail,
    BankTransactionDeletedV1Event,
    BankTransactionDeletedV1Status,
    BankTransactionDeletedV1StatusText,
)
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1 and a free port, for this module's tests."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _boto(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _bus_with_queue(url: str, bus: str, *event_classes: type[TfsoEvent]) -> str:
    """Create ``bus``, an SQS queue and a rule from ``event_pattern(*event_classes)``
    targeting it; return the queue URL."""
    events, sqs = _boto("events", url), _boto("sqs", url)
    events.create_event_bus(Name=bus)
    queue_url: str = sqs.create_queue(QueueName=f"{bus}-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule_arn = events.put_rule(
        Name=f"{bus}-rule", EventBusName=bus, EventPattern=json.dumps(event_pattern(*event_classes))
    )["RuleArn"]
    sqs.set_queue_attributes(  # what real EventBridge needs to write to the queue
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                        }
                    ],
                }
            )
        },
    )
    events.put_targets(
        Rule=f"{bus}-rule", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return queue_url


def _drain(url: str, queue_url: str, expected: int) -> list[str]:
    """Read message bodies from the queue until ``expected`` arrived (or 10 s passed),
    then once more to catch any extra."""
    sqs = _boto("sqs", url)
    bodies: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        wait = 0 if len(bodies) < expected else 1
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        ).get("Messages", [])
        bodies += [m["Body"] for m in messages]
        if len(bodies) >= expected and not messages:
            break
    return bodies


def _status_events() -> list[TfsoEvent]:
    when = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    return [
        BankTestCreatedV1Event(
            detail=BankTestCreatedV1Detail(
                content=BankTestCreatedV1Content(
                    first_name="Ada",
                    last_name="Lovelace",
                    favorite_color=BankTestCreatedV1FavoriteColor.Blue,
                    registration_date=when,
                    age=36,
                    account_statement=Decimal("1234567.89"),
                    address=BankTestCreatedV1Address(street="12 St James's Sq", city="London"),
                ),
                timestamp=when,
                metadata={"correlationId": "c-1"},
            )
        ),
        bank_event(2),
        BankTransactionCreatedV1Event(
            detail=BankTransactionCreatedV1Detail(
                content=BankTransactionCreatedV1Content(
                    transaction_id="123e4567-e89b-12d3-a456-426614174000",
                    license="2947b4ae;693081080913543;1198",
                    status=BankTransactionCreatedV1Status(
                        text=BankTransactionCreatedV1StatusText.Created, code=100
                    ),
                    source_uris=["urn:;693081080913543;@tfso:generalledger:voucherid"],
                ),
                timestamp=when,
            )
        ),
    ]


def _not_matching() -> TfsoEvent:
    return BankTransactionDeletedV1Event(
        detail=BankTransactionDeletedV1Detail(
            content=BankTransactionDeletedV1Content(
                transaction_id="t-9",
                license="l",
                status=BankTransactionDeletedV1Status(
                    text=BankTransactionDeletedV1StatusText.Posted, code=600
                ),
            )
        )
    )


async def test_rule_routes_published_events_and_parse_event_reads_them(moto_url: str) -> None:
    """Events of two detail-types published with publish_many and publish() reach the
    SQS target of a rule built from event_pattern(...); the one that does not match
    stays out; parse_event returns typed events equal in content to those sent."""
    queue_url = await asyncio.to_thread(
        _bus_with_queue,
        moto_url,
        "tfso-bank-events",
        BankTestCreatedV1Event,
        BankTransactionCreatedV1Event,
    )
    sent = _status_events()
    async with TfsoEventBridgeClient("dev", endpoint_url=moto_url) as client:
        batch = await client.publish_many([*sent[:2], _not_matching()])
        single = await client.publish(sent[2])
    assert batch.ok
    ids = [*batch.event_ids[:2], single.event_id]

    bodies = await asyncio.to_thread(_drain, moto_url, queue_url, len(sent))
    received = sorted((parse_event(body) for body in bodies), key=lambda e: ids.index(e.id))
    assert [e.id for e in received] == ids
    for original, event in zip(sent, received, strict=True):
        assert type(event) is type(original)
        assert event.detail == original.detail
        assert event.source == original.source
        assert event.region == REGION
        assert event.time is not None


@pytest.mark.parametrize("transport", ["lean", "botocore"])
async def test_bus_arn_and_per_module_default(moto_url: str, transport: Any) -> None:
    """A bus given as an ARN reaches that bus: the rule on it delivers the event
    (through either transport)."""
    bus = f"shared-bus-{transport}"
    queue_url = await asyncio.to_thread(_bus_with_queue, moto_url, bus, BankTestCreatedV1Event)
    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"
    event = bank_event(42)
    async with TfsoEventBridgeClient(
        "prod", arn, endpoint_url=moto_url, transport=transport
    ) as client:
        result = await client.publish(event)
    (body,) = await asyncio.to_thread(_drain, moto_url, queue_url, 1)
    parsed = parse_event(body)
    assert parsed.id == result.event_id
    assert parsed == BankTestCreatedV1Event.parse(body)
    assert isinstance(parsed, BankTestCreatedV1Event)
    assert parsed.detail == event.detail
