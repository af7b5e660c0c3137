"""The consume router: its overhead per record, and its import time against Powertools.

What it measures, in one run on one machine (ratios are the result):

(a) **router overhead per record**: an SQS Lambda event of 10 records, the four
    detail-types mixed, each envelope with realistic metadata (4 keys, one nested).
    Baseline: a hand-written loop calling ``parse_event(record["body"])`` for each record
    and dispatching on the type with a dict (what a consumer writes without the router).
    Router: ``router.lambda_handler(event, None)`` with a no-op sync handler per type,
    which also detects the topology, builds the partial batch response, and (second row)
    passes a ``RecordContext``; then with a ``MemoryDedupeStore``: a key function that
    answers ``None`` (the dedupe path, no claim), and every record claimed and completed.
(c) **EventBridge → Lambda**: the envelope as a dict (``json.loads`` of its text, as
    Lambda hands it): ``parse_event(dict)`` and ``router.lambda_handler(dict)`` against
    ``parse_event(text)`` of the same envelopes.
(b) **import time**, each in a fresh interpreter (best of 9): ``import
    tfso_events.consume`` against Powertools' batch processor + parser with its SQS and
    EventBridge models (``aws_lambda_powertools.utilities.batch`` and ``.parser``).

Target (docs/performance.md): (a) <= 1.2x ``parse_event`` per record; (b) a fraction of
Powertools'.

Run: ``.venv/bin/python -m benchmarks.bench_consume``
"""

from __future__ import annotations

import json
import subprocess
import sys
import timeit
import uuid
from typing import Any

from tfso_events import parse_event
from tfso_events.catalog import event_classes
from tfso_events.consume import EventRouter, MemoryDedupeStore
from tfso_events.examples import sample_events

METADATA = {
    "correlationId": "3f1c9a52-5d8e-4c2b-9b7a-2f4e6d8c0a11",
    "tenant": "693081080913543",
    "origin": "bank-sync",
    "trace": {"spanId": "a1b2c3d4", "sampled": True},
}


def sqs_event(records: int = 10) -> dict[str, Any]:
    """An SQS Lambda event of ``records`` envelope bodies, all four detail-types mixed."""
    samples = sample_events()
    out = []
    for n in range(records):
        event = samples[n % len(samples)]
        detail = json.loads(event.detail_json())
        detail["metadata"] = METADATA
        envelope = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event.detail_type,
            "source": event.source,
            "account": "111122223333",
            "time": "2024-05-01T12:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail,
        }
        out.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex * 4,
                "body": json.dumps(envelope),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1714564800000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1714564800001",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:consumer",
                "awsRegion": "eu-west-1",
            }
        )
    return {"Records": out}


def overhead(number: int = 1_000) -> list[tuple[str, float]]:
    event = sqs_event()
    records = event["Records"]
    per_record = len(records)

    def noop(event: object) -> None:
        return None

    def noop_ctx(event: object, record: object) -> None:
        return None

    table = dict.fromkeys(event_classes(), noop)

    def by_hand() -> dict[str, list[dict[str, str]]]:
        failures = []
        for record in records:
            try:
                parsed = parse_event(record["body"])
                handler = table.get(type(parsed))
                if handler is not None:
                    handler(parsed)
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    plain, with_ctx = EventRouter(), EventRouter()
    plain.on(*event_classes())(noop)
    with_ctx.on(*event_classes())(noop_ctx)
    store = MemoryDedupeStore()
    deduped = plain.handler(dedupe=store, key=lambda e: None)  # the dedupe path, no hits
    # Every record claimed and completed: a window so short each key is free again by
    # the next round.
    claimed = plain.handler(dedupe=MemoryDedupeStore(), ttl=1e-9)
    assert by_hand() == plain.lambda_handler(event, None) == {"batchItemFailures": []}
    candidates = {
        "parse_event loop (by hand)": by_hand,
        "router.lambda_handler": lambda: plain.lambda_handler(event),
        "  with RecordContext": lambda: with_ctx.lambda_handler(event),
        "  with dedupe (memory), no key": lambda: deduped(event, None),
        "  with dedupe (memory), claimed": lambda: claimed(event, None),
    }
    # Interleaved rounds, best of each: load that drifts during the run hits all alike.
    timings = {name: float("inf") for name in candidates}
    for _ in range(21):
        for name, fn in candidates.items():
            timings[name] = min(timings[name], timeit.timeit(fn, number=number) / number)
    rows = [(name, seconds / per_record) for name, seconds in timings.items()]
    return rows


def dict_envelopes(number: int = 2_000) -> list[tuple[str, float]]:
    """(c) EventBridge → Lambda: the envelope arrives as a dict (``json.loads`` of the
    text). ``parse_event`` of the dict against ``parse_event`` of the same envelope as
    text, and the router's direct entry point, per envelope (the four detail-types)."""
    texts = [record["body"] for record in sqs_event(4)["Records"]]
    dicts = [json.loads(text) for text in texts]
    router = EventRouter()
    router.on(*event_classes())(lambda event: None)

    def on_text() -> None:
        for text in texts:
            parse_event(text)

    def on_dict() -> None:
        for document in dicts:
            parse_event(document)

    def routed() -> None:
        for document in dicts:
            router.lambda_handler(document, None)

    candidates = {
        "parse_event(text)": on_text,
        "parse_event(dict)": on_dict,
        "router.lambda_handler(dict)": routed,
    }
    timings = {name: float("inf") for name in candidates}
    for _ in range(21):
        for name, fn in candidates.items():
            timings[name] = min(timings[name], timeit.timeit(fn, number=number) / number)
    return [(name, seconds / len(dicts)) for name, seconds in timings.items()]


_TIMER = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
OURS = "import tfso_events.consume"
POWERTOOLS = (
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, "
    "process_partial_response; from aws_lambda_powertools.utilities.parser import parse; "
    "from aws_lambda_powertools.utilities.parser.models import SqsModel, EventBridgeModel"
)


def import_time(stmt: str, repeat: int = 9) -> float:
    """Best wall time of ``stmt`` in a fresh interpreter (no bytecode writes)."""
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _TIMER.format(stmt=stmt)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return min(times)


def main() -> None:
    rows = overhead()
    base = rows[0][1]
    print(f"{'per record (10-record SQS batch)':34} {'µs':>8} {'ratio':>7}")
    for name, seconds in rows:
        print(f"{name:34} {seconds * 1e6:8.2f} {seconds / base:6.2f}x")
    rows = dict_envelopes()
    base = rows[0][1]
    print(f"\n{'per envelope (EventBridge → Lambda)':34} {'µs':>8} {'ratio':>7}")
    for name, seconds in rows:
        print(f"{name:34} {seconds * 1e6:8.2f} {seconds / base:6.2f}x")
    ours, theirs = import_time(OURS), import_time(POWERTOOLS)
    print(f"\n{'import (fresh interpreter)':34} {'ms':>8}")
    print(f"{'tfso_events.consume':34} {ours * 1e3:8.1f}")
    print(f"{'Powertools batch + parser':34} {theirs * 1e3:8.1f}")
    print(f"{'ratio':34} {ours / theirs:7.2f}x")


if __name__ == "__main__":
    main()
