"""Dedupe never turns at-least-once into at-most-once: moto's server (SQS, DynamoDB), real
consumer processes (tests/consume/_consumer.py), SIGKILL mid-handler, a retry inside the
lease. Each test is a reproduction from issue 23 that lost the event before the fix.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.consume._consumer import Context, build_handler
from tests.consume.conftest import REGION, envelope
from tests.eventbridge.conftest import bank_event
from tfso_events import DedupeKeyHeldError
from tfso_events.consume import DynamoDBDedupeStore, EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

ROOT = Path(__file__).resolve().parents[2]


def boto(service: str, url: str) -> Any:
    """A boto3 client of ``service`` on moto."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_table(url: str, name: str) -> str:
    """A dedupe table (string key ``id``) on moto."""
    boto("dynamodb", url).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def make_queue(url: str, name: str, visibility: int) -> str:
    """A queue with the given visibility timeout (no DLQ: nothing may leave but by a
    delete after success); its URL."""
    answer = boto("sqs", url).create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility)}
    )
    queue_url: str = answer["QueueUrl"]
    return queue_url


def left_in(url: str, queue_url: str) -> int:
    """Messages in the queue, visible or not."""
    attributes = boto("sqs", url).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def body(n: int, **metadata: Any) -> dict[str, Any]:
    """The envelope of bank_event(n) (first name Karl<n>) with ``metadata``."""
    doc = envelope(bank_event(n))
    doc["detail"]["metadata"] = metadata
    return doc


def lines(path: str) -> list[list[str]]:
    """The lines of an append-only record file, split (none yet: empty)."""
    try:
        return [line.split() for line in Path(path).read_text().splitlines()]
    except FileNotFoundError:
        return []


def config_for(tmp_path: Path, url: str, table: str, **extra: Any) -> dict[str, Any]:
    """A consumer config writing its records under ``tmp_path``."""
    (tmp_path / "attempts").mkdir(exist_ok=True)
    return {
        "moto": url,
        "table": table,
        "effects": str(tmp_path / "effects"),
        "starts": str(tmp_path / "starts"),
        "attempts": str(tmp_path / "attempts"),
        "log": str(tmp_path / "router.log"),
        "ready": str(tmp_path / "ready"),
        "stop": str(tmp_path / "stop"),
        **extra,
    }


def spawn(config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """A consumer process (python -m tests.consume._consumer) with dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.consume._consumer", json.dumps(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], seconds: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` every ``interval`` seconds for up to ``seconds``; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Consumer processes the test starts; any still running are killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_a_copy_that_reappears_while_its_handler_runs_is_not_lost(
    moto_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Visibility timeout 1 s, a handler of 2.5 s that fails the first time, two consumer
    processes: the copy B receives while A works fails as held (not deleted), A's failure
    frees the key, and the effect happens exactly once with nothing left in the queue
    (before the fix: B skipped and deleted it, A failed: 0 effects, 0 messages)."""
    table = make_table(moto_url, "reappears")
    queue_url = make_queue(moto_url, "reappears", visibility=1)
    config = config_for(tmp_path, moto_url, table, queue_url=queue_url, timeout=5, cold_start=5)
    processes += [spawn(config), spawn(config)]
    assert wait_for(lambda: len(lines(config["ready"])) == 2, 60), "consumers did not start"
    boto("sqs", moto_url).send_message(
        QueueUrl=queue_url, MessageBody=json.dumps(body(1, sleep=2.5, fail_first=True))
    )
    wait_for(lambda: bool(lines(config["effects"])) and left_in(moto_url, queue_url) == 0, 20)
    Path(config["stop"]).touch()
    assert [effect[0] for effect in lines(config["effects"])] == ["Karl1"]
    assert left_in(moto_url, queue_url) == 0
    assert "held by another invocation" in Path(config["log"]).read_text()


def test_eventbridge_retry_inside_the_lease_of_a_killed_handler_fails_then_runs(
    moto_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """EventBridge → Lambda: the process is SIGKILLed mid-handler (as an OOM kill does);
    Lambda's retry inside the lease raises DedupeKeyHeldError (the platform retries
    again) instead of reporting success; the retry after the lease runs the handler: one
    effect (before the fix: the retry succeeded without running it, 0 effects)."""
    table = make_table(moto_url, "killed")
    doc = body(2)
    config = config_for(tmp_path, moto_url, table, envelope=doc, timeout=3, sleep=30)
    retry = build_handler(config | {"sleep": 0})
    try:
        retry(body(99), Context(3))  # Lambda's retry lands on a warm container
        processes.append(spawn(config))
        assert wait_for(lambda: len(lines(config["starts"])) == 2, 60), "no handler started"
        claimed_by = time.time()  # the claim came just before the start line
        processes[0].send_signal(signal.SIGKILL)
        assert processes[0].wait(timeout=10) == -signal.SIGKILL
        with pytest.raises(DedupeKeyHeldError):
            retry(doc, Context(3))  # inside the lease (3 s of timeout + 1)
        assert [effect[0] for effect in lines(config["effects"])] == ["Karl99"]
        time.sleep(max(claimed_by + 4 + 1 - time.time(), 0))  # the lease has ended
        retry(doc, Context(3))
    finally:
        retry.close()
    assert [effect[0] for effect in lines(config["effects"])] == ["Karl99", "Karl2"]


async def test_a_cancelled_handler_releases_its_dynamodb_claim(moto_url: str) -> None:
    """A handler cancelled mid-way (CancelledError) frees its key in DynamoDB: the retry
    runs (before the fix the key stayed claimed and the retry was skipped)."""
    table = make_table(moto_url, "cancelled")
    router = EventRouter()
    calls: list[str] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        calls.append(event.detail.content.first_name)
        if len(calls) == 1:
            raise asyncio.CancelledError

    store = DynamoDBDedupeStore(table, endpoint_url=moto_url, region_name=REGION)
    handler = router.handler(dedupe=store)
    doc = body(3)
    try:
        with pytest.raises(asyncio.CancelledError):
            await handler.process(doc, None)
        await handler.process(doc, None)
        await handler.process(doc, None)  # done now: skipped
    finally:
        await store.aclose()
    assert calls == ["Karl3", "Karl3"]


async def test_a_lapsed_holder_cannot_free_the_claim_of_the_next(moto_url: str) -> None:
    """DynamoDB: A (1 s lease) outlives its lease, B claims and runs, A then fails; A's
    release must not delete B's claim, so C, arriving while B runs, is refused as held
    (before the fix A deleted B's claim and C ran alongside B: two effects at once)."""
    table = make_table(moto_url, "lapsed")
    started = {name: asyncio.Event() for name in "ABC"}
    a_failed, c_tried = asyncio.Event(), asyncio.Event()
    ran: list[str] = []
    who: dict[int, str] = {}
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        name = who[id(asyncio.current_task())]
        started[name].set()
        if name == "A":  # runs on past its lease, until B has claimed and started
            await started["B"].wait()
            a_failed.set()
            raise RuntimeError("A fails late")
        if name == "B":  # still running when C arrives
            await c_tried.wait()
        ran.append(name)

    doc = body(4)
    stores = {name: DynamoDBDedupeStore(table, endpoint_url=moto_url) for name in "ABC"}
    for store in stores.values():  # open each client first: the claims are what is timed
        assert not await store.release("warm-up", "no-token")

    async def invoke(name: str, after: Callable[[], Awaitable[object]]) -> BaseException | None:
        await after()
        task = asyncio.current_task()
        assert task is not None
        who[id(task)] = name
        handler = router.handler(dedupe=stores[name], lease=1 if name == "A" else 60)
        try:
            await handler.process(doc, None)
        except Exception as exc:
            return exc
        finally:
            if name == "C":
                c_tried.set()
        return None

    async def lease_of_a_ended() -> None:
        await started["A"].wait()
        await asyncio.sleep(2.2)  # expiry is whole seconds: a 1 s lease ends within 2 s

    async def a_has_failed() -> None:
        await a_failed.wait()
        await asyncio.sleep(0.3)  # and its release has been sent

    async def now() -> None:
        return None

    try:
        async with asyncio.timeout(60):
            a, b, c = await asyncio.gather(
                invoke("A", now), invoke("B", lease_of_a_ended), invoke("C", a_has_failed)
            )
    finally:
        for store in stores.values():
            await store.aclose()
    assert isinstance(a, RuntimeError)
    assert b is None
    assert isinstance(c, DedupeKeyHeldError)
    assert ran == ["B"]
