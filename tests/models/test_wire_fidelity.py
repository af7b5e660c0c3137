"""Wire fidelity with producers we did not write: what a consumer reads is what was sent
(``metadata: null``, no invented ``timestamp``, the envelope's real ``source``), and what we
write is exact (UTC ``Z`` date-times, int64 integers)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from tfso_events import EventValidationError, catalog, parse_event
from tfso_events.catalog import event_schema, validate_body
from tfso_events.examples import sample_event
from tfso_events.models._base import INT64_MAX, INT64_MIN, TfsoEvent
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Event,
)

STATUS = BankTransactionStatusChangedV1Event.detail_type
TEST = BankTestCreatedV1Event.detail_type


def envelope(detail_type: str, **detail_changes: Any) -> dict[str, Any]:
    event = sample_event(detail_type)
    detail = json.loads(event.detail_json())
    for key, value in detail_changes.items():
        if value is ...:
            del detail[key]
        else:
            detail[key] = value
    return {
        "version": "0",
        "id": "id-1",
        "detail-type": detail_type,
        "source": event.source,
        "time": "2024-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def forms(document: dict[str, Any]) -> list[Any]:
    """The document as bytes, str and dict: every input form a parser takes."""
    return [json.dumps(document).encode(), json.dumps(document), document]


# -- consuming ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", range(3))
def test_metadata_null_reads_as_empty(form: int) -> None:
    """ "metadata": null (a .NET producer's unset dictionary) parses as {} through
    parse_event, cls.parse, parse_detail and validate_body."""
    document = envelope(STATUS, metadata=None)
    cls = catalog.event_class(STATUS)
    assert parse_event(forms(document)[form]).detail.metadata == {}
    assert cls.parse(forms(document)[form]).detail.metadata == {}
    assert cls.parse_detail(forms(document["detail"])[form]).metadata == {}
    assert validate_body(cls.source, STATUS, forms(document["detail"])[form]).detail.metadata == {}


def test_metadata_null_is_written_as_empty_object() -> None:
    """A detail built with metadata=None (a type error; no __post_init__ rewrites it)
    writes "metadata":{} (never null), and the caller's detail is left as it was."""
    event = sample_event(STATUS)
    detail = type(event.detail)(content=event.detail.content, metadata=None)  # type: ignore[arg-type]
    assert json.loads(type(event)(detail=detail).detail_json())["metadata"] == {}
    assert detail.metadata is None


@pytest.mark.parametrize("timestamp", [..., None])
@pytest.mark.parametrize("form", range(3))
def test_detail_without_timestamp_is_refused(timestamp: Any, form: int) -> None:
    """A detail with no timestamp, or "timestamp": null, is refused with the path
    $.detail.timestamp; it is never given the reader's current time."""
    document = envelope(STATUS, timestamp=timestamp)
    cls = catalog.event_class(STATUS)
    for parse in (parse_event, cls.parse):
        with pytest.raises(EventValidationError) as caught:
            parse(forms(document)[form])
        assert caught.value.path == "$.detail.timestamp"
    with pytest.raises(EventValidationError) as bare:
        cls.parse_detail(forms(document["detail"])[form])
    assert bare.value.path == "$.timestamp"
    with pytest.raises(EventValidationError) as body:
        validate_body(cls.source, STATUS, forms(document["detail"])[form])
    assert body.value.path == "$.detail.timestamp"


def test_built_event_still_gets_a_timestamp_and_parses_after() -> None:
    """Building a detail without timestamp stamps it now (the producer's own time), and
    does not make the next parse of a complete detail look as if it had none."""
    event = sample_event(STATUS)
    before = datetime.now(UTC)
    detail = type(event.detail)(content=event.detail.content)
    assert before <= detail.timestamp <= datetime.now(UTC)
    parsed = parse_event(envelope(STATUS))
    assert parsed.detail.timestamp == event.detail.timestamp


def test_missing_timestamp_check_is_per_thread() -> None:
    """Events built on other threads while this one parses do not trip the check."""
    stop = threading.Event()
    content = sample_event(STATUS).detail.content
    detail_cls = type(sample_event(STATUS).detail)

    def build() -> None:
        while not stop.is_set():
            detail_cls(content=content)

    worker = threading.Thread(target=build)
    worker.start()
    try:
        raw = json.dumps(envelope(STATUS)).encode()
        for _ in range(2000):
            parse_event(raw)
    finally:
        stop.set()
        worker.join()


def test_envelope_source_is_kept_and_a_mismatch_flagged() -> None:
    """The envelope's source is readable as envelope_source; a different source than
    the class's is flagged (source_mismatch) and refused with strict=True at $.source."""
    document = envelope(STATUS)
    same = parse_event(document)
    assert same.envelope_source == same.source
    assert not same.source_mismatch
    document["source"] = "com.example.impostor"
    cls = catalog.event_class(STATUS)
    for parse in (parse_event, cls.parse):
        flagged = parse(document)
        assert isinstance(flagged, cls)
        assert flagged.envelope_source == "com.example.impostor"
        assert flagged.source_mismatch
        with pytest.raises(EventValidationError) as caught:
            parse(json.dumps(document), strict=True)
        assert caught.value.path == "$.source"
        assert "com.example.impostor" in str(caught.value)


def test_built_event_has_no_envelope_source() -> None:
    """An event built in Python carries no envelope source and is not flagged."""
    event = sample_event(STATUS)
    assert event.envelope_source is None
    assert not event.source_mismatch


# -- producing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "wire"),
    [
        # Europe/Amsterdam in 1900 was +00:19:32: the seconds must not be rounded away
        (datetime(1900, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")), "1899-12-31T23:40:28Z"),
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00Z"),
        (
            datetime(2024, 5, 1, 7, 0, 0, 5, tzinfo=ZoneInfo("America/New_York")),
            "2024-05-01T11:00:00.000005Z",
        ),
        (datetime(2024, 5, 1, 12, 0, tzinfo=ZoneInfo("UTC")), "2024-05-01T12:00:00Z"),
    ],
)
def test_date_times_are_written_in_utc_with_z(when: datetime, wire: str) -> None:
    """Every date-time (content and timestamp) is written in UTC with Z, the exact
    instant; the caller's event keeps its own datetimes."""
    event = sample_event(TEST)
    event.detail.content.registration_date = when
    event.detail.timestamp = when
    detail = json.loads(event.detail_json())
    assert detail["content"]["registrationDate"] == wire
    assert detail["timestamp"] == wire
    assert datetime.fromisoformat(wire) == when
    assert event.detail.content.registration_date.tzinfo is when.tzinfo


@pytest.mark.parametrize("code", [INT64_MAX + 1, INT64_MIN - 1, 2**64])
def test_integers_outside_int64_are_refused(code: int) -> None:
    """An int outside signed 64-bit (PutEvents' JSON integer range) is a validation error
    at its path; the bounds themselves are accepted."""
    event = sample_event(STATUS)
    event.detail.content.status.code = code
    with pytest.raises(EventValidationError) as caught:
        event.validate()
    assert caught.value.path == "$.content.status.code"
    for bound in (INT64_MIN, INT64_MAX):
        event.detail.content.status.code = bound
        event.validate()


@pytest.mark.parametrize("cls", catalog.event_classes(), ids=lambda c: c.detail_type)
def test_schema_states_the_decode_rules(cls: type[TfsoEvent]) -> None:
    """event_schema requires timestamp, bounds every integer to int64, allows metadata
    null and states additionalProperties on every object."""
    schema = event_schema(cls)
    defs = schema["$defs"]
    # the shipped (schema-first) documents describe the detail at the top level
    detail = defs.get(cls.detail_class().__name__, schema)
    assert set(detail["required"]) == {"content", "timestamp"}
    assert {"type": "null"} in detail["properties"]["metadata"]["anyOf"]
    text = json.dumps(schema)
    for node in _nodes(schema):
        if node.get("type") == "integer":
            assert (node["minimum"], node["maximum"]) == (INT64_MIN, INT64_MAX)
        if node.get("type") == "object":
            assert "additionalProperties" in node
    assert '"integer"' in text or cls is BankTestCreatedV1Event


def _nodes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _nodes(value)
    elif isinstance(node, list):
        for item in node:
            found += _nodes(item)
    return found


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("detail_type", [STATUS, TEST])
def test_a_parsed_date_time_outside_utc_years_is_a_validation_error_on_write(
    detail_type: str, stamp: str
) -> None:
    """A timestamp that parses (years 1-9999 in its own offset) but falls outside them in
    UTC is an EventValidationError naming $.timestamp when written, not an OverflowError
    (found by test_parse_hostile's fuzz)."""
    for raw in forms(envelope(detail_type, timestamp=stamp)):
        event = parse_event(raw)
        with pytest.raises(EventValidationError) as info:
            event.detail_json()
        assert info.value.path == "$.timestamp"
        assert "outside the years 1-9999 in UTC" in str(info.value)


def test_a_built_content_date_time_outside_utc_years_names_its_path() -> None:
    """A content date-time built with an offset that moves it past 9999-12-31 in UTC is
    refused with its wire path ($.content.registrationDate) by detail_json()."""
    event = sample_event(TEST)
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14)))
    content = msgspec.structs.replace(event.detail.content, registration_date=late)
    detail = msgspec.structs.replace(event.detail, content=content)
    built = msgspec.structs.replace(event, detail=detail)
    with pytest.raises(EventValidationError) as info:
        built.detail_json()
    assert info.value.path == "$.content.registrationDate"
