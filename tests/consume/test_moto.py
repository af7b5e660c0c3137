"""End to end on moto's server: EventBridge rule → SQS (→ DLQ), SNS → SQS, DynamoDB dedupe.

Events are published with ``TfsoEventBridgeClient``; a rule built from
``event_pattern(...)`` delivers them to a queue whose redrive policy names a DLQ. The test
plays Lambda's SQS event source mapping: it receives messages, builds the Lambda SQS event
exactly as Lambda does, runs the router, deletes what succeeded and leaves what failed.
After the (short) visibility timeout and ``maxReceiveCount`` receives, the failures are
in the DLQ and nothing else is.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import boto3
import pytest

from tests.consume.conftest import REGION, bank_event
from tfso_events import event_pattern
from tfso_events.consume import DynamoDBDedupeStore, EventRouter, LambdaHandler
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

MAX_RECEIVES = 2


def _boto(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _arn(sqs: Any, queue_url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return arn


def _queue_with_dlq(url: str, name: str) -> tuple[str, str]:
    """A queue (1 s visibility timeout) whose redrive policy sends a message to a DLQ
    after MAX_RECEIVES receives; returns (queue URL, DLQ URL)."""
    sqs = _boto("sqs", url)
    dlq_url: str = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue_url: str = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _arn(sqs, dlq_url), "maxReceiveCount": MAX_RECEIVES}
            ),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


def _rule_to(url: str, name: str, target_arn: str) -> None:
    """A rule from event_pattern(BankTestCreatedV1Event) on the bank bus, to the target."""
    events, bus = _boto("events", url), "tfso-bank-events"
    if bus not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name=bus)
    events.put_rule(
        Name=f"{name}-rule",
        EventBusName=bus,
        EventPattern=json.dumps(event_pattern(BankTestCreatedV1Event)),
    )
    events.put_targets(
        Rule=f"{name}-rule", EventBusName=bus, Targets=[{"Id": "target", "Arn": target_arn}]
    )


def _lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The record Lambda's SQS event source mapping builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _drained(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def _poll(url: str, queue_url: str, handler: LambdaHandler, seconds: float) -> list[dict]:
    """Play Lambda's event source mapping until the queue is empty (every message deleted
    or dead-lettered; at most ``seconds``): receive, invoke, delete the successes.
    Returns every Lambda event it built."""
    sqs = _boto("sqs", url)
    queue_arn = _arn(sqs, queue_url)
    built: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (built and _drained(sqs, queue_url)):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [_lambda_record(m, queue_arn) for m in messages]}
        built.append(event)
        response = handler(event, None)
        assert response is not None
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return built


def _all_bodies(url: str, queue_url: str) -> list[str]:
    sqs = _boto("sqs", url)
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]


def _router(fail: set[str]) -> tuple[EventRouter, list[str]]:
    router = EventRouter()
    seen: list[str] = []

    @router.on(BankTestCreatedV1Event)
    def handle(event: BankTestCreatedV1Event) -> None:
        seen.append(event.detail.content.first_name)
        if event.detail.content.first_name in fail:
            raise RuntimeError("booking failed")

    return router, seen


def _first_names(bodies: list[str]) -> list[str]:
    names = []
    for body in bodies:
        doc = json.loads(body)
        if "Message" in doc:  # an SNS notification
            doc = json.loads(doc["Message"])
        names.append(doc.get("detail", {}).get("content", {}).get("firstName", "<invalid>"))
    return sorted(names)


async def test_rule_to_sqs_failures_end_in_the_dlq_and_nothing_else(moto_url: str) -> None:
    """Rule → SQS → router: successes are deleted and run once; a raising handler and an
    invalid payload are retried MAX_RECEIVES times, then are the only messages in the DLQ."""
    queue_url, dlq_url = await asyncio.to_thread(_queue_with_dlq, moto_url, "consumer")
    sqs = _boto("sqs", moto_url)
    await asyncio.to_thread(_rule_to, moto_url, "consumer", _arn(sqs, queue_url))
    async with TfsoEventBridgeClient("dev", endpoint_url=moto_url) as client:
        assert (await client.publish_many([bank_event(n) for n in range(5)])).ok
    poison = json.dumps({"detail-type": "bank.test:created@v1", "source": "x", "detail": {}})
    await asyncio.to_thread(sqs.send_message, QueueUrl=queue_url, MessageBody=poison)

    router, seen = _router(fail={"Karl3"})
    built = await asyncio.to_thread(_poll, moto_url, queue_url, router.handler(), 30)

    assert sorted(set(seen)) == [f"Karl{n}" for n in range(5)]
    assert seen.count("Karl3") == MAX_RECEIVES
    assert all(seen.count(f"Karl{n}") == 1 for n in (0, 1, 2, 4))
    counts = {r["attributes"]["ApproximateReceiveCount"] for e in built for r in e["Records"]}
    assert counts == {"1", "2"}
    dead = await asyncio.to_thread(_all_bodies, moto_url, dlq_url)
    assert _first_names(dead) == ["<invalid>", "Karl3"]
    assert await asyncio.to_thread(_all_bodies, moto_url, queue_url) == []


@pytest.mark.parametrize("raw", [False, True], ids=["notification", "raw"])
async def test_sns_to_sqs_raw_and_not_raw(moto_url: str, raw: bool) -> None:
    """Rule → SNS topic → SQS queue (raw delivery on or off) → router: the same outcome
    as rule → SQS. moto's EventBridge has no SNS targets, so the test publishes to the
    topic exactly what an SNS target sends: the envelope EventBridge delivered."""
    name = f"sns-{'raw' if raw else 'notification'}"
    queue_url, dlq_url = await asyncio.to_thread(_queue_with_dlq, moto_url, name)
    capture_url, _ = await asyncio.to_thread(_queue_with_dlq, moto_url, f"{name}-capture")
    sqs, sns = _boto("sqs", moto_url), _boto("sns", moto_url)
    await asyncio.to_thread(_rule_to, moto_url, f"{name}-bus", _arn(sqs, capture_url))
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=_arn(sqs, queue_url),
        Attributes={"RawMessageDelivery": "true" if raw else "false"},
    )
    async with TfsoEventBridgeClient("dev", endpoint_url=moto_url) as client:
        assert (await client.publish_many([bank_event(n) for n in range(3)])).ok
    deadline = time.monotonic() + 10
    envelopes: list[str] = []
    while len(envelopes) < 3 and time.monotonic() < deadline:
        envelopes += await asyncio.to_thread(_all_bodies, moto_url, capture_url)
    assert len(envelopes) == 3
    for body in envelopes:
        sns.publish(TopicArn=topic_arn, Message=body)

    router, seen = _router(fail={"Karl1"})
    await asyncio.to_thread(_poll, moto_url, queue_url, router.handler(), 30)

    assert seen.count("Karl0") == seen.count("Karl2") == 1
    assert seen.count("Karl1") == MAX_RECEIVES
    dead = await asyncio.to_thread(_all_bodies, moto_url, dlq_url)
    assert _first_names(dead) == ["Karl1"]
    assert ("Message" in json.loads(dead[0])) is not raw
    assert await asyncio.to_thread(_all_bodies, moto_url, queue_url) == []


async def test_dynamodb_dedupe_runs_a_handler_once_and_again_after_a_failure(
    moto_url: str,
) -> None:
    """With the DynamoDB store (moto), the same envelope delivered twice is handled once,
    even by a second handler (another container); a handler that raised released its key,
    so the redelivery runs it again."""
    dynamodb = _boto("dynamodb", moto_url)
    dynamodb.create_table(
        TableName="dedupe",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    from tests.consume.conftest import envelope

    calls: list[str] = []
    fail = {"Karl2"}
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        calls.append(event.detail.content.first_name)
        if event.detail.content.first_name in fail:
            raise RuntimeError("not yet")

    first, second = envelope(bank_event(1)), envelope(bank_event(2))
    stores = [DynamoDBDedupeStore("dedupe", endpoint_url=moto_url) for _ in range(2)]
    try:
        one, two = (router.handler(dedupe=store) for store in stores)
        await one.process(first, None)
        await two.process(first, None)  # another container, same event
        with pytest.raises(RuntimeError):
            await one.process(second, None)
        fail.clear()
        await two.process(second, None)
        await one.process(second, None)
    finally:
        for store in stores:
            await store.aclose()
    assert calls == ["Karl1", "Karl2", "Karl2"]
    items = dynamodb.scan(TableName="dedupe")["Items"]
    assert sorted(item["id"]["S"] for item in items) == sorted(
        f"bank.test:created@v1#{doc['id']}" for doc in (first, second)
    )
    assert all(int(item["expires_at"]["N"]) > time.time() + 3600 for item in items)
