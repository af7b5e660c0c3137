"""Hostile input to the library: whatever a consumer hands ``parse_event`` (a mutated
envelope, broken bytes, JSON nested thousands deep, invalid UTF-8, a JSON value that is
not an object), it returns a typed event or ``UnknownEvent`` or raises
``EventValidationError``; and what it accepts is valid. A publisher handed an event it
cannot write raises ``EventValidationError`` before anything is sent.

``tests/models/test_parse_event.py`` fuzzes arbitrary bytes and JSON; this module adds
the structure-aware strategies of ``benchmarks/bench_fuzz.py`` (which runs them 100,000
times) at CI size, and pins each gap they found.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings

from benchmarks.bench_fuzz import documents, envelope, outcome
from tfso_events import EventValidationError, catalog, parse_event
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents())
# Invalid UTF-8 inside an object key, where msgspec skips a field the type lacks (found).
@example(b'{"detail-type":"bank.test:created@v1","source":"s","\xffx":1,"detail":{}}')
# A Decimal given as the JSON string "NaN": msgspec decodes it; nobody can write it (found).
@example(
    json.dumps(envelope(sample_events()[0])).replace(
        '"accountStatement": 100000', '"accountStatement": "NaN"'
    )
)
def test_fuzz_mutated_envelopes_and_broken_bytes(raw: Any) -> None:
    """Mutated envelopes (as bytes, str and dict), broken JSON text, arbitrary JSON and
    bytes: a typed event that validates, UnknownEvent, or EventValidationError."""
    result = outcome(raw)
    assert not result.startswith("UNEXPECTED"), result


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _envelope_text(**detail_overrides: str) -> str:
    """The JSON text of a test event's envelope with raw JSON spliced into the detail."""
    text = json.dumps(envelope(sample_events()[0]))
    for key, raw_json in detail_overrides.items():
        text = text.replace(f'"{key}": {{}}', f'"{key}": {raw_json}', 1)
    return text


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("form", ["bytes", "str"])
def test_deeply_nested_documents_are_validation_errors(depth: int, form: str) -> None:
    """JSON text nested deeper than the decoder's recursion limit is an
    EventValidationError saying so, not a RecursionError."""
    text = _envelope_text(metadata=_deep(depth))
    raw = text.encode() if form == "bytes" else text
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert "nested too deeply" in str(info.value)
    with pytest.raises(EventValidationError):
        BankTestCreatedV1Event.parse(raw)


def test_deep_metadata_in_a_dict_is_kept_but_cannot_be_resent() -> None:
    """A dict (already decoded by Lambda) with deeply nested free-form metadata parses
    without a RecursionError; the event refuses to be written again with an
    EventValidationError, so a publisher would refuse it before sending."""
    raw = envelope(sample_events()[0])
    node = raw["detail"]["metadata"] = {}
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    event = parse_event(raw)
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert "nested too deeply" in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        _envelope_text().encode().replace(b'"John"', b'"J\xffhn"'),
        b'{"detail-type":"x.y:z@v1","source":"s","detail":{"a":"\xc3"}}',
        b'{"detail-type":"\xed\xa0\x80","source":"s","detail":{}}',
        '{"detail-type":"x.y:z@v1","source":"\ud800","detail":{}}',
        _envelope_text().encode().replace(b'"account"', b'"\xffccount"'),
        _envelope_text().encode().replace(b'"timestamp"', b'"\xffimestamp"'),
        _envelope_text().encode().replace(b'"firstName"', b'"firstName", "\xc3x": 1, "f"'),
        b'{"detail-type":"x.y:z@v1","source":"s","detail":{"\xff":1}}',
    ],
    ids=[
        "bad-byte",
        "truncated-sequence",
        "encoded-surrogate",
        "str-with-lone-surrogate",
        "envelope-key",
        "detail-key",
        "unknown-content-key",
        "unknown-event-key",
    ],
)
def test_invalid_unicode_is_a_validation_error(raw: bytes | str) -> None:
    """Invalid UTF-8 inside a JSON string or an object key, even a key the model does
    not have (or a str holding a lone surrogate), is an EventValidationError from
    parse_event and <Event>.parse, not an accepted event or a UnicodeError."""
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert "UTF-8" in str(info.value)
    if isinstance(raw, bytes) and b"bank.test" in raw:
        with pytest.raises(EventValidationError):
            BankTestCreatedV1Event.parse(raw)


@pytest.mark.parametrize("raw", [None, 7, 1.5, [], ["x"], True], ids=repr)
def test_a_json_value_that_is_not_an_object_is_a_validation_error(raw: Any) -> None:
    """Lambda hands a handler whatever JSON it was invoked with: a list, a number or
    null is an EventValidationError, like any other document that is not an envelope."""
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert info.value.path == "$"


def test_detail_of_a_known_type_with_invalid_utf8_is_a_validation_error() -> None:
    """The detail decoder (used by the hub's events API) refuses invalid UTF-8 with an
    EventValidationError too."""
    for detail in (
        b'{"content":{"firstName":"\xff"},"timestamp":"2024-01-01T00:00:00Z"}',
        b'{"content":{},"\xffimestamp":"2024-01-01T00:00:00Z"}',
    ):
        with pytest.raises(EventValidationError):
            catalog.validate_body(
                BankTestCreatedV1Event.source, BankTestCreatedV1Event.detail_type, detail
            )


def test_event_too_deep_to_write_is_a_validation_error() -> None:
    """An event whose metadata is nested too deeply to be written as JSON raises
    EventValidationError from validate() (so a publisher refuses it before sending),
    not a RecursionError."""
    event = sample_events()[0]
    metadata: dict[str, Any] = {}
    node = metadata
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    deep = msgspec.structs.replace(
        event, detail=msgspec.structs.replace(event.detail, metadata=metadata)
    )
    with pytest.raises(EventValidationError) as info:
        deep.validate()
    assert "nested too deeply" in str(info.value)


@pytest.mark.parametrize("value", ['"NaN"', '"-Infinity"', '"inf"', '"sNaN"'])
@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_non_finite_decimal_strings_are_validation_errors(value: str, form: str) -> None:
    """A Decimal field given as the JSON string "NaN" or "Infinity" (which msgspec decodes
    into a Decimal) is an EventValidationError naming the field from parse_event,
    <Event>.parse and parse_detail: a consumer never receives a number that could not
    have been written as JSON."""
    text = json.dumps(envelope(sample_events()[0]))
    assert '"accountStatement": 100000' in text
    text = text.replace('"accountStatement": 100000', f'"accountStatement": {value}')
    raw: Any = {"bytes": text.encode(), "str": text, "dict": json.loads(text)}[form]
    for parse in (parse_event, BankTestCreatedV1Event.parse):
        with pytest.raises(EventValidationError) as info:
            parse(raw)
        assert info.value.path == "$.detail.content.accountStatement"
    detail = json.loads(text)["detail"]
    with pytest.raises(EventValidationError) as info:
        BankTestCreatedV1Event.parse_detail(detail if form == "dict" else json.dumps(detail))
    assert info.value.path == "$.content.accountStatement"
