"""Every log line that can carry input is bounded (issue 24, item 6): a megabyte of
detail-type, message id, enum value or handler error text becomes one clipped line, in
the message and in the ``extra`` fields, through the one helper ``tfso_events._clip``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.consume.conftest import envelope, sqs_event, sqs_record
from tfso_events._clip import MAX_LOGGED_CHARS, clip
from tfso_events.consume import EventRouter
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.testing import build

HUGE = 1_000_000
#: A clipped value with its "... (N chars)" note, and the words around it.
BOUND = 4 * MAX_LOGGED_CHARS + 400


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``tfso_events`` loggers, at DEBUG."""
    handler, logger = _Records(), logging.getLogger("tfso_events")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _sizes(records: list[logging.LogRecord]) -> list[int]:
    """The length of each record's message and of its longest ``extra`` string."""
    standard = set(vars(logging.makeLogRecord({})))
    sizes = []
    for record in records:
        extras = [v for k, v in vars(record).items() if k not in standard and isinstance(v, str)]
        sizes.append(max([len(record.getMessage()), *map(len, extras)]))
    return sizes


def _event() -> dict[str, Any]:
    return envelope(build(BankTestCreatedV1Event))


def test_a_megabyte_detail_type_on_a_strict_router(records: list[logging.LogRecord]) -> None:
    """The strict router's WARNING for a 1 MB unknown detail-type (it was a 2 MB line)
    is one bounded line that says how long the value was."""
    router = EventRouter(strict=True)
    raw = _event() | {"detail-type": "x" * HUGE, "id": "i" * HUGE}
    with pytest.raises(Exception):  # noqa: B017, PT011 - the record fails; its log is the point
        router.lambda_handler(raw, None)
    assert records
    assert max(_sizes(records)) < BOUND, _sizes(records)
    assert any(f"({HUGE} chars)" in r.getMessage() for r in records)


def test_sqs_records_with_huge_ids_bodies_and_handler_errors(
    records: list[logging.LogRecord],
) -> None:
    """SQS: a 1 MB messageId, an invalid 1 MB enum value, an unknown 1 MB detail-type on a
    lenient router (DEBUG), and a handler raising a 1 MB message: every record, message
    and extra fields, stays bounded; the failures are still reported per record."""
    router = EventRouter()

    @router.on(BankTestCreatedV1Event)
    def handle(event: BankTestCreatedV1Event) -> None:
        raise ValueError("boom " + "y" * HUGE)

    good = _event()
    bad_enum = _event()
    bad_enum["detail"]["content"]["favoriteColor"] = "z" * HUGE
    unknown = _event() | {"detail-type": "u" * HUGE}
    event = sqs_event(json.dumps(good), json.dumps(bad_enum), json.dumps(unknown))
    event["Records"][0] = sqs_record(json.dumps(good), message_id="m" * HUGE)
    answer = router.lambda_handler(event, None)
    assert answer is not None
    assert len(answer["batchItemFailures"]) == 2
    assert len(records) >= 3
    assert max(_sizes(records)) < BOUND, _sizes(records)


async def test_the_hub_clips_with_the_same_helper(hub: LocalHub, caplog: Any) -> None:
    """The hub's warning about an unknown detail-type in PutEvents is clipped by the same
    helper: the line holds exactly ``clip(detail_type)``."""
    detail_type = "q" * 5000
    entry = {"Source": "x.y", "DetailType": detail_type, "Detail": "{}"}
    caplog.set_level(logging.WARNING, logger="tfso_events.local")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            hub.url,
            data=json.dumps({"Entries": [entry]}),
            headers={
                "X-Amz-Target": "AWSEvents.PutEvents",
                "Content-Type": "application/x-amz-json-1.1",
            },
        ) as answer,
    ):
        assert answer.status == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name == "tfso_events.local"]
    assert clip(detail_type) in line
    assert len(line) < BOUND


def test_clip_keeps_one_line() -> None:
    """clip escapes line breaks and control characters (no forged log lines) and notes
    the full length of what it cut."""
    assert clip("ok") == "ok"
    assert clip("a\nINFO forged") == "a\\nINFO forged"
    assert clip("\x1b[31m") == "\\x1b[31m"
    cut = clip("é" * 1000)
    assert cut == "é" * MAX_LOGGED_CHARS + "... (1000 chars)"
    assert clip(KeyError("k")) == "'k'"


async def test_a_server_error_text_in_the_retry_lines(serve: Any, records: list[Any]) -> None:
    """An events API answering 503 with a 1 MB message: the retry lines (DEBUG) and the
    give-up stay bounded; the caller's error still says what the API answered."""
    from aiohttp import web

    from tfso_events import DeliveryError, RetryPolicy, TfsoEventApiClient

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t" * 40, "expires_in": 3600})

    async def events(request: web.Request) -> web.Response:
        return web.json_response({"message": "w" * HUGE}, status=503)

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/events", events)
    url = await serve(app)
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    async with TfsoEventApiClient(
        "local", "id", "secret-for-bounds", api_url=url, auth0_domain=url, retry=policy
    ) as client:
        with pytest.raises(DeliveryError, match="www"):
            await client.publish(build(BankTestCreatedV1Event))
    assert any("retrying" in r.getMessage() for r in records)
    assert max(_sizes(records)) < BOUND, _sizes(records)
