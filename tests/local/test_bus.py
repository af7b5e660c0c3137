"""The hub as a bus: the rule APIs as boto3 calls them, matching, delivery to HTTP,
in-process and SQS targets, Input/InputPath, retries and dead-letter records."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from moto.server import ThreadedMotoServer

from tfso_events import InvalidPatternError, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events.consume import EventRouter
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

from .conftest import DETAIL_TYPE, SOURCE, entry, sample_event

BANK_PATTERN = {"source": [SOURCE], "detail": {"content": {"firstName": [{"prefix": "K"}]}}}


async def test_rule_operations_as_boto3_sends_them(hub: LocalHub, eventbridge: Any) -> None:
    """PutRule, DescribeRule, ListRules, Enable/DisableRule, PutTargets,
    ListTargetsByRule, RemoveTargets and DeleteRule answer in the shapes boto3 parses."""
    arn = (await eventbridge.put_rule(Name="bank", EventPattern=json.dumps(BANK_PATTERN)))[
        "RuleArn"
    ]
    assert arn == "arn:aws:events:local:000000000000:rule/bank"
    described = await eventbridge.describe_rule(Name="bank")
    assert (described["Name"], described["State"], described["EventBusName"]) == (
        "bank",
        "ENABLED",
        "default",
    )
    assert json.loads(described["EventPattern"]) == BANK_PATTERN
    await eventbridge.put_rule(
        Name="other", EventPattern='{"source": ["x"]}', EventBusName="tfso-bank-events"
    )
    assert [r["Name"] for r in (await eventbridge.list_rules())["Rules"]] == ["bank"]
    on_bank = await eventbridge.list_rules(EventBusName="tfso-bank-events")
    assert [r["Name"] for r in on_bank["Rules"]] == ["other"]
    await eventbridge.disable_rule(Name="bank")
    assert (await eventbridge.describe_rule(Name="bank"))["State"] == "DISABLED"
    await eventbridge.enable_rule(Name="bank")
    put = await eventbridge.put_targets(
        Rule="bank",
        Targets=[
            {"Id": "a", "Arn": "http://127.0.0.1:1/x", "InputPath": "$.detail"},
            {"Id": "b", "Arn": "http://127.0.0.1:1/y", "Input": '{"fixed": 1}'},
            {"Id": "c", "Arn": "http://127.0.0.1:1/z", "Input": "{}", "InputPath": "$"},
        ],
    )
    assert put["FailedEntryCount"] == 1
    assert put["FailedEntries"][0]["TargetId"] == "c"
    listed = (await eventbridge.list_targets_by_rule(Rule="bank"))["Targets"]
    assert [(t["Id"], t.get("InputPath"), t.get("Input")) for t in listed] == [
        ("a", "$.detail", None),
        ("b", None, '{"fixed": 1}'),
    ]
    with pytest.raises(eventbridge.exceptions.ClientError, match="has targets"):
        await eventbridge.delete_rule(Name="bank")
    await eventbridge.remove_targets(Rule="bank", Ids=["a", "b"])
    await eventbridge.delete_rule(Name="bank")
    with pytest.raises(eventbridge.exceptions.ResourceNotFoundException):
        await eventbridge.describe_rule(Name="bank")


async def test_put_rule_refuses_an_invalid_pattern_with_its_path(eventbridge: Any) -> None:
    """A pattern EventBridge refuses is InvalidEventPatternException naming path and rule."""
    bad = {"detail": {"amount": [{"numeric": [">", 5, "<", 1]}]}}
    with pytest.raises(eventbridge.exceptions.InvalidEventPatternException) as caught:
        await eventbridge.put_rule(Name="bad", EventPattern=json.dumps(bad))
    message = caught.value.response["Error"]["Message"]
    assert "Bottom must be less than top" in message
    assert "$.detail.amount[0].numeric" in message


async def test_test_event_pattern(eventbridge: Any) -> None:
    """TestEventPattern answers with the matcher's result."""
    event = {"source": SOURCE, "detail": {"content": {"firstName": "Karl"}}}
    yes = await eventbridge.test_event_pattern(
        EventPattern=json.dumps(BANK_PATTERN), Event=json.dumps(event)
    )
    event["detail"]["content"]["firstName"] = "Rosa"
    no = await eventbridge.test_event_pattern(
        EventPattern=json.dumps(BANK_PATTERN), Event=json.dumps(event)
    )
    assert (yes["Result"], no["Result"]) == (True, False)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Any], list[int]]]:
    """An HTTP endpoint on loopback recording POSTed JSON; it answers the statuses in
    the returned list first (then 200)."""
    received: list[Any] = []
    statuses: list[int] = []

    async def post(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.add_routes([web.post("/hook", post)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received, statuses
    finally:
        await runner.cleanup()


async def test_put_events_delivers_the_envelope_to_an_http_target(
    hub: LocalHub, eventbridge: Any, receiver: tuple[str, list[Any], list[int]]
) -> None:
    """A matching PutEvents entry is POSTed as the envelope EventBridge builds; one that
    does not match and one on another bus are not."""
    url, received, _ = receiver
    await eventbridge.put_rule(
        Name="bank", EventPattern=json.dumps(BANK_PATTERN), EventBusName="tfso-bank-events"
    )
    await eventbridge.put_targets(
        Rule="bank", EventBusName="tfso-bank-events", Targets=[{"Id": "hook", "Arn": url}]
    )
    answer = await eventbridge.put_events(
        Entries=[entry("Karl"), entry("Rosa"), entry("Kim", EventBusName="default")]
    )
    await hub.drain()
    assert len(received) == 1
    envelope = received[0]
    assert envelope["id"] == answer["Entries"][0]["EventId"]
    assert set(envelope) == {
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
    assert (envelope["source"], envelope["detail-type"]) == (SOURCE, DETAIL_TYPE)
    assert envelope["detail"]["content"]["firstName"] == "Karl"
    [delivery] = hub.deliveries()
    assert (delivery.rule, delivery.target_id, delivery.status, delivery.attempts) == (
        "bank",
        "hook",
        "delivered",
        1,
    )


async def test_input_and_input_path_shape_the_payload(
    hub: LocalHub, eventbridge: Any, receiver: tuple[str, list[Any], list[int]]
) -> None:
    """InputPath sends the part of the event at the path; Input sends the constant."""
    url, received, _ = receiver
    await eventbridge.put_rule(Name="r", EventPattern=json.dumps({"source": [SOURCE]}))
    await eventbridge.put_targets(
        Rule="r",
        Targets=[
            {"Id": "path", "Arn": url, "InputPath": "$.detail.content.firstName"},
            {"Id": "const", "Arn": url, "Input": '{"hello": ["world"]}'},
        ],
    )
    await eventbridge.put_events(Entries=[entry("Karl", EventBusName="default")])
    await hub.drain()
    assert sorted(received, key=str) == sorted(["Karl", {"hello": ["world"]}], key=str)


async def test_http_target_is_retried_then_dead_lettered(
    receiver: tuple[str, list[Any], list[int]],
) -> None:
    """A 5xx is retried with backoff; a target failing every attempt gets a dead-letter
    record with the last error; GET /deliveries lists both kinds."""
    url, received, statuses = receiver
    statuses.extend([503, 500])  # the first event succeeds on its third attempt
    async with LocalHub(delivery_attempts=3, delivery_backoff=0.01) as hub:
        hub.add_rule("r", {"source": [SOURCE]}, url)
        hub.add_rule("dead", {"source": [SOURCE]}, "http://127.0.0.1:9/nothing-listens")
        async with TfsoEventBridgeClient("local", endpoint_url=hub.url) as client:
            await client.publish(sample_event())
        await hub.drain()
        assert len(received) == 3
        [ok] = hub.deliveries(status="delivered")
        [failed] = hub.deliveries(status="failed")
        assert (ok.rule, ok.attempts) == ("r", 3)
        assert (failed.rule, failed.attempts) == ("dead", 3)
        assert failed.error is not None
        assert "127.0.0.1:9" in failed.error
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{hub.url}/deliveries?status=failed") as response,
        ):
            listed = await response.json()
    assert [(d["rule"], d["status"], d["attempts"]) for d in listed] == [("dead", "failed", 3)]


async def test_a_4xx_answer_is_not_retried(receiver: tuple[str, list[Any], list[int]]) -> None:
    """A 400 from the target ends the delivery at once (EventBridge retries 429 and 5xx only)."""
    url, received, statuses = receiver
    statuses.append(400)
    async with LocalHub(delivery_attempts=3, delivery_backoff=0.01) as hub:
        hub.add_rule("r", {"source": [SOURCE]}, url)
        async with TfsoEventBridgeClient("local", endpoint_url=hub.url) as client:
            await client.publish(sample_event())
        await hub.drain()
    [failed] = hub.deliveries()
    assert (failed.status, failed.attempts, failed.error) == ("failed", 1, f"HTTP 400 from {url}")
    assert len(received) == 1


async def test_events_api_events_reach_an_event_router_in_process() -> None:
    """An event posted to the events API is delivered to an EventRouter target, typed,
    on its module's bus; a handler that raises is retried, then dead-lettered."""
    router = EventRouter()
    seen: list[BankTestCreatedV1Event] = []
    calls = 0

    @router.on(BankTestCreatedV1Event)
    def created(event: BankTestCreatedV1Event) -> None:
        nonlocal calls
        calls += 1
        if event.detail.content.first_name == "Kaputt":
            raise RuntimeError("cannot take Kaputt")
        seen.append(event)

    async with LocalHub(delivery_backoff=0.01) as hub:
        hub.add_rule("to-router", BANK_PATTERN, router, event_bus_name="tfso-bank-events")
        hub.add_rule("wrong-bus", BANK_PATTERN, router, event_bus_name="default")
        async with TfsoEventApiClient(
            "local", "local-client", "local-secret", api_url=hub.url, auth0_domain=hub.url
        ) as client:
            await client.publish(sample_event("Karl"))
            await client.publish(sample_event("Kaputt"))
            await client.publish(sample_event("Rosa"))
        await hub.drain()
    assert [e.detail.content.first_name for e in seen] == ["Karl"]
    assert calls == 1 + 3
    [failed] = hub.deliveries(status="failed")
    assert failed.error == "RuntimeError: cannot take Kaputt"


async def test_a_disabled_rule_delivers_nothing() -> None:
    """Only enabled rules are matched."""
    got: list[Any] = []
    async with LocalHub() as hub:
        hub.add_rule("off", {"source": [SOURCE]}, got.append, enabled=False)
        async with TfsoEventBridgeClient("local", endpoint_url=hub.url) as client:
            await client.publish(sample_event())
        await hub.drain()
    assert got == []
    assert hub.deliveries() == []


def test_add_rule_refuses_an_invalid_pattern() -> None:
    """hub.add_rule raises InvalidPatternError as PutRule refuses the pattern."""
    hub = LocalHub()
    with pytest.raises(InvalidPatternError, match=r"\$\.source"):
        hub.add_rule("r", {"source": "not a list"}, print)


def test_rules_file_is_loaded(tmp_path: Path) -> None:
    """load_rules (tfso-events hub --rules) reads PutRule/PutTargets-shaped rules and
    names the file and rule when one is wrong."""
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "Name": "bank",
                        "EventPattern": BANK_PATTERN,
                        "Targets": [
                            {"Id": "t", "Arn": "http://127.0.0.1:1/x", "InputPath": "$.detail"}
                        ],
                    }
                ]
            }
        )
    )
    hub = LocalHub(rules=path)
    [rule] = hub.rules()
    assert (rule.name, rule.state, rule.event_bus_name) == ("bank", "ENABLED", None)
    assert rule.targets["t"].input_path == "$.detail"
    path.write_text(json.dumps([{"Name": "bad", "EventPattern": {"a": []}}]))
    with pytest.raises(ValueError, match=r"rule 'bad': invalid event pattern at `\$\.a`"):
        LocalHub(rules=path)


@pytest.fixture(scope="module")
def moto_sqs() -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port), for the SQS target."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_sqs_target_on_moto_then_the_router_consumes_it(moto_sqs: str) -> None:
    """EventBridge -> SQS -> Lambda locally: the envelope lands in a moto queue and the
    router's SQS handler reads it back as the typed event."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_sqs,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    queue_url = sqs.create_queue(QueueName="bank-consumer")["QueueUrl"]
    arn = "arn:aws:sqs:eu-west-1:123456789012:bank-consumer"
    async with LocalHub(sqs_endpoint_url=moto_sqs) as hub:
        hub.add_rule("to-sqs", {"source": [SOURCE]}, arn)
        async with TfsoEventBridgeClient("local", endpoint_url=hub.url) as client:
            await client.publish(sample_event("Karl"))
        await hub.drain()
    assert [d.status for d in hub.deliveries()] == ["delivered"]
    messages = await asyncio.to_thread(
        sqs.receive_message, QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    router = EventRouter()
    names: list[str] = []
    router.on(BankTestCreatedV1Event)(lambda e: names.append(e.detail.content.first_name))
    lambda_event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
            }
            for m in messages["Messages"]
        ]
    }
    assert router.lambda_handler(lambda_event) == {"batchItemFailures": []}
    assert names == ["Karl"]


def test_a_threaded_hub_delivers_to_a_callable() -> None:
    """with LocalHub() (its own thread) routes too; drain_sync waits for the deliveries."""
    got: list[Any] = []
    lock = threading.Lock()

    def keep(payload: Any) -> None:
        with lock:
            got.append(payload)

    with LocalHub() as hub:
        hub.add_rule(
            "r", {"detail-type": [DETAIL_TYPE]}, keep, input_path="$.detail.content.lastName"
        )
        boto = boto3.client(
            "events",
            endpoint_url=hub.url,
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        boto.put_events(Entries=[entry("Karl")])
        hub.drain_sync()
    assert got == ["Marx"]


async def test_the_rule_index_changes_no_result() -> None:
    """Rules looked up by an exact top-level value (detail-type, source, ...) are
    delivered exactly when their pattern matches, as unindexed ones are."""
    from tfso_events.patterns import compile_pattern

    patterns: list[dict[str, Any]] = [
        {"source": ["a", "b"]},
        {"source": ["a"], "detail-type": ["x"]},
        {"detail-type": ["x", "y"], "detail": {"n": [{"numeric": [">", 1]}]}},
        {"source": [{"prefix": "a"}]},
        {"$or": [{"source": ["b"]}, {"detail-type": ["y"]}]},
        {"account": ["10.0.0.1"]},
        {"region": ["r1"], "source": [{"exists": False}]},
        {"detail": {"n": [2]}},
    ]
    events = [
        {"source": s, "detail-type": t, "account": acct, "region": "r1", "detail": {"n": n}}
        for s in ("a", "b", "ab", ["a", "c"])
        for t in ("x", "y")
        for acct in ("10.0.0.1", "1")
        for n in (1, 2)
    ]
    hits: list[tuple[int, int]] = []
    async with LocalHub() as hub:
        for number, pattern in enumerate(patterns):
            hub.add_rule(
                f"r{number}",
                pattern,
                lambda p, n=number: hits.append((n, int(p))),
                input_path="$.id",
            )
        bus = hub._state.bus
        for index, event in enumerate(events):
            bus.submit(lambda e={**event, "id": str(index)}: e, "default")
        await hub.drain()
    expected = sorted(
        (number, index)
        for number, pattern in enumerate(patterns)
        for index, event in enumerate(events)
        if compile_pattern(pattern).matches(event)
    )
    assert sorted(hits) == expected
    assert len(expected) > 20
