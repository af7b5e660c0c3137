"""A consumer process for the crash tests: the router with a DynamoDB dedupe store on
moto's server, played as Lambda plays it.

``python -m tests.consume._consumer CONFIG_JSON`` where the config holds ``moto`` (URL),
``table``, ``effects`` and ``starts`` (files appended to, one line per event), ``timeout``
(the Lambda timeout the context reports, seconds), optionally ``cold_start`` (seconds added
to the first invocation's timeout), ``lease`` and ``sleep`` (for every event, instead of
its metadata's) and either:

* ``queue_url`` (``ready``, a file its pid is appended to once it polls, and ``stop``, a
  file whose existence ends the loop): SQS mode, Lambda's event source mapping: receive
  up to ``batch`` messages, invoke the handler, delete the records it did not fail. An
  invocation that outruns ``timeout`` ends the process (exit 124), as Lambda ends it;
* ``envelope``: a direct EventBridge invocation; exit 0 on success, 3 when the key is
  held by another invocation, 4 on any other failure.

The handler appends ``<name> <pid> start <t>`` to ``starts``, sleeps
``metadata["sleep"]`` seconds, raises on the first attempt when ``metadata["fail_first"]``
(an attempt file per name in ``attempts``), then appends ``<name> <pid> <start> <end>`` to
``effects``: the effect whose count the tests check. The router's log (held copies,
skipped duplicates) goes to ``log``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from tfso_events import DedupeKeyHeldError
from tfso_events.consume import DynamoDBDedupeStore, EventRouter, LambdaHandler
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

REGION = "eu-west-1"
#: The exit status of a consumer whose invocation outran its timeout (as Lambda ends it).
TIMED_OUT = 124


class Context:
    """The part of Lambda's context the router reads: the time left of the invocation."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


def _append(path: str, line: str) -> None:
    # One write of one short line with O_APPEND: lines from processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def build_router(config: dict[str, Any]) -> EventRouter:
    """The router whose one handler sleeps, maybe fails once, then records its effect."""
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        name = event.detail.content.first_name
        started = time.time()
        _append(config["starts"], f"{name} {os.getpid()} start {started:.3f}")
        metadata = event.detail.metadata
        await asyncio.sleep(float(config.get("sleep", metadata.get("sleep", 0))))
        if metadata.get("fail_first"):
            marker = Path(config["attempts"]) / name
            try:
                marker.touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                raise RuntimeError(f"{name}: the first attempt fails")
        _append(config["effects"], f"{name} {os.getpid()} {started:.3f} {time.time():.3f}")

    return router


def build_handler(config: dict[str, Any]) -> LambdaHandler:
    """The Lambda handler: the router with the DynamoDB store on moto."""
    store = DynamoDBDedupeStore(config["table"], endpoint_url=config["moto"], region_name=REGION)
    return build_router(config).handler(dedupe=store, lease=config.get("lease"))


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def poll(config: dict[str, Any], handler: LambdaHandler) -> None:
    """Lambda's SQS event source mapping, until the stop file exists."""
    sqs = boto3.client("sqs", endpoint_url=config["moto"], region_name=REGION)
    queue_url = config["queue_url"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    stop = Path(config["stop"])
    _append(config["ready"], str(os.getpid()))
    # The first invocation also opens the DynamoDB client (a cold start): it gets longer,
    # and its context says so, so the leases it takes still cover it.
    timeout = config["timeout"] + config.get("cold_start", 0)
    while not stop.exists():
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=config.get("batch", 1),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [_record(m, queue_arn) for m in messages]}
        # Lambda ends an invocation at its timeout: the process dies (its handler with it).
        signal.setitimer(signal.ITIMER_REAL, timeout)
        response = handler(event, Context(timeout))
        signal.setitimer(signal.ITIMER_REAL, 0)
        timeout = config["timeout"]
        assert response is not None
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )


def main() -> int:
    config = json.loads(sys.argv[1])
    logging.basicConfig(
        filename=config["log"],
        level=logging.DEBUG,
        format=f"%(created).3f {os.getpid()} %(message)s",
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    handler = build_handler(config)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(TIMED_OUT))
    try:
        if "envelope" in config:
            try:
                handler(config["envelope"], Context(config["timeout"]))
            except DedupeKeyHeldError:
                return 3
            except Exception:
                return 4
            return 0
        poll(config, handler)
        return 0
    finally:
        handler.close()


if __name__ == "__main__":
    sys.exit(main())
