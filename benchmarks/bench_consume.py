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

(d) **decode ratios** (issue 29), printed first, each the min/median/max of 3 runs in
    one process, every run the best of 15 rounds that time all candidates in turn,
    over realistic envelopes (``benchmarks/_events.py``: the four detail-types in turn,
    metadata with 4 keys, one nested; 8 distinct events):
    ``parse_event(dict)`` (the envelope as Lambda hands it, ``json.loads`` of its text)
    ÷ Powertools ``parse(event, <union of EventBridgeModel subclasses, one per
    detail-type, discriminated on detail-type>)``; ``parse_event(bytes)`` ÷
    ``orjson.loads``. Then what bounds each: for a dict, the steps that keep it refused
    exactly where its text is (encode it into a buffer, search the JSON for ``null``,
    decode it into the class its detail-type names) and, for comparison,
    ``msgspec.convert`` into that class alone (which does not keep those semantics); for
    bytes, the tagged-union decode alone.

Run: ``.venv/bin/python -m benchmarks.bench_consume`` (``... bench_consume decode`` for
(d) alone)
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import timeit
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import msgspec
import orjson
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import Field

from benchmarks._events import make_events
from benchmarks.bench_models import PChangedDetail, PCreatedDetail, PDeletedDetail, PTestDetail
from tfso_events import parse_event
from tfso_events.catalog import event_class, event_classes
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


# -- (d) decode ratios (issue 29) ----------------------------------------------------------


class _PtTest(EventBridgeModel):
    detail_type: Literal["bank.test:created@v1"] = Field(alias="detail-type")
    detail: PTestDetail  # type: ignore[valid-type]


class _PtCreated(EventBridgeModel):
    detail_type: Literal["bank.transaction:created@v1"] = Field(alias="detail-type")
    detail: PCreatedDetail  # type: ignore[valid-type]


class _PtDeleted(EventBridgeModel):
    detail_type: Literal["bank.transaction:deleted@v1"] = Field(alias="detail-type")
    detail: PDeletedDetail  # type: ignore[valid-type]


class _PtChanged(EventBridgeModel):
    detail_type: Literal["bank.transaction:statuschanged@v1"] = Field(alias="detail-type")
    detail: PChangedDetail  # type: ignore[valid-type]


#: What a Powertools user writes for these four events: one EventBridgeModel per
#: detail-type with its typed detail, a union discriminated on the detail-type.
POWERTOOLS_UNION: Any = Annotated[
    _PtTest | _PtCreated | _PtDeleted | _PtChanged, Field(discriminator="detail_type")
]


def envelope_bytes(n: int = 8) -> list[bytes]:
    """``n`` distinct realistic EventBridge envelopes (the four detail-types in turn) as
    EventBridge delivers them."""
    out = []
    for i, event in enumerate(make_events(n)):
        head = {
            "version": "0",
            "id": str(uuid.UUID(int=i)),
            "detail-type": event.detail_type,
            "source": event.source,
            "account": "111122223333",
            "time": "2024-05-01T12:00:00Z",
            "region": "eu-west-1",
            "resources": [],
        }
        out.append(json.dumps(head).encode()[:-1] + b', "detail": ' + event.detail_json() + b"}")
    return out


def _ratios(
    candidates: dict[str, Callable[[], object]], runs: int = 3, number: int = 200
) -> dict[str, list[float]]:
    """Seconds per call of every candidate, per run: the best of 15 rounds, each round
    timing every candidate once in turn, so load that drifts hits them all alike."""
    per_run: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        best = dict.fromkeys(candidates, float("inf"))
        for _ in range(15):
            for name, fn in candidates.items():
                best[name] = min(best[name], timeit.timeit(fn, number=number) / number)
        for name, seconds in best.items():
            per_run[name].append(seconds)
    return per_run


def decode_ratios(runs: int = 3) -> list[tuple[str, list[float]]]:
    """(d): each figure's ratio per run (ours ÷ the peer, in the same run)."""
    texts = envelope_bytes()
    dicts = [json.loads(text) for text in texts]
    for document, text in zip(dicts, texts, strict=True):  # both sides parse them alike
        assert parse_event(document) == parse_event(text)
        assert parse(document, POWERTOOLS_UNION).detail_type == document["detail-type"]
    classes = [event_class(document["detail-type"]) for document in dicts]
    decoders = [msgspec.json.Decoder(cls) for cls in classes]
    encoder = msgspec.json.Encoder(decimal_format="number")
    has_null = re.compile(b"null").search
    buffer = bytearray()
    union = msgspec.json.Decoder(Union[tuple(event_classes())])  # noqa: UP007

    def exact_steps() -> None:
        for document, decoder in zip(dicts, decoders, strict=True):
            encoder.encode_into(document, buffer)
            has_null(buffer)
            decoder.decode(buffer)

    candidates: dict[str, Callable[[], object]] = {
        "parse_event(dict)": lambda: [parse_event(d) for d in dicts],
        "powertools parse(dict, union)": lambda: [parse(d, POWERTOOLS_UNION) for d in dicts],
        "encode + null search + class decode": exact_steps,
        "msgspec.convert into the class": lambda: [
            msgspec.convert(d, cls) for d, cls in zip(dicts, classes, strict=True)
        ],
        "parse_event(bytes)": lambda: [parse_event(t) for t in texts],
        "orjson.loads(bytes)": lambda: [orjson.loads(t) for t in texts],
        "tagged-union decode alone": lambda: [union.decode(t) for t in texts],
    }
    t = _ratios(candidates, runs)

    def ratio(ours: str, peer: str) -> list[float]:
        return [a / b for a, b in zip(t[ours], t[peer], strict=True)]

    per_event = {name: statistics.median(ts) / len(texts) for name, ts in t.items()}
    rows = [
        (
            "parse_event(dict) ÷ Powertools parse",
            ratio("parse_event(dict)", "powertools parse(dict, union)"),
        ),
        (
            "  bound: encode + null search + class decode ÷ Powertools",
            ratio("encode + null search + class decode", "powertools parse(dict, union)"),
        ),
        (
            "  for comparison: msgspec.convert alone ÷ Powertools",
            ratio("msgspec.convert into the class", "powertools parse(dict, union)"),
        ),
        ("parse_event(bytes) ÷ orjson.loads", ratio("parse_event(bytes)", "orjson.loads(bytes)")),
        (
            "  bound: tagged-union decode alone ÷ orjson.loads",
            ratio("tagged-union decode alone", "orjson.loads(bytes)"),
        ),
    ]
    print(f"{'per envelope, median of the runs':40} {'µs':>8}")
    for name, seconds in per_event.items():
        print(f"{name:40} {seconds * 1e6:8.2f}")
    print(f"\n{'ratio (3 interleaved runs)':58} {'min':>6} {'median':>7} {'max':>6}")
    for name, values in rows:
        print(
            f"{name:58} {min(values):5.2f}x {statistics.median(values):6.2f}x {max(values):5.2f}x"
        )
    return rows


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
    decode_ratios()
    if sys.argv[1:] == ["decode"]:
        return
    print()
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
