"""Golden vectors: the seed's four examples decode into typed content and re-encode to the
same JSON, and envelopes around them parse from bytes, str and dict."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tfso_events import TfsoEvent, catalog, parse_event
from tfso_events.examples import sample_event

VECTORS = Path(__file__).parent.parent / "vectors"
EVENTS = {cls.__module__.rsplit(".", 1)[-1]: cls for cls in catalog.event_classes()}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def semantic(raw: bytes | str) -> Any:
    """Decode JSON comparing numbers by exact value and date-times by instant."""

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, str) and _DATETIME.match(value):
            return datetime.fromisoformat(value)
        return value

    return norm(json.loads(raw, parse_float=Decimal, parse_int=Decimal))


def content_class(cls: type[TfsoEvent]) -> type[Any]:
    return msgspec.structs.fields(cls.detail_class())[0].type  # type: ignore[no-any-return]


def envelope(cls: type[TfsoEvent], content: bytes) -> bytes:
    detail = b'{"content":' + content + b',"timestamp":"2023-07-04T08:06:00Z","metadata":{}}'
    head = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": cls.detail_type,
        "source": cls.source,
        "account": "111122223333",
        "time": "2023-07-04T08:06:00Z",
        "region": "eu-west-1",
        "resources": [],
    }
    return json.dumps(head).encode()[:-1] + b',"detail":' + detail + b"}"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_vector_round_trips_through_typed_content(name: str) -> None:
    """Each seed example decodes into its Content Struct and re-encodes to equal JSON."""
    raw = (VECTORS / f"{name}.json").read_bytes()
    content = msgspec.json.decode(raw, type=content_class(EVENTS[name]))
    encoded = msgspec.json.Encoder(decimal_format="number").encode(content)
    assert semantic(encoded) == semantic(raw)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_numbers_stay_json_numbers(name: str) -> None:
    """Every number of a vector is still a JSON number (not a string) after the round trip."""
    raw = (VECTORS / f"{name}.json").read_bytes()
    content = msgspec.json.decode(raw, type=content_class(EVENTS[name]))
    encoded = json.loads(msgspec.json.Encoder(decimal_format="number").encode(content))
    original = json.loads(raw)
    for key in ("age", "accountStatement"):
        if key in original:
            assert isinstance(encoded[key], int | float), key
    if "status" in original:
        assert type(encoded["status"]["code"]) is int


@pytest.mark.parametrize("name", sorted(EVENTS))
@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_envelope_parses_from_every_input_form(name: str, form: str) -> None:
    """parse_event returns the typed event for an envelope given as bytes, str or dict."""
    cls = EVENTS[name]
    content = (VECTORS / f"{name}.json").read_bytes()
    data = envelope(cls, content)
    raw: Any = {"bytes": data, "str": data.decode(), "dict": json.loads(data)}[form]
    event = parse_event(raw)
    assert type(event) is cls
    assert event.id == "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    assert event.account == "111122223333"
    assert event.region == "eu-west-1"
    assert semantic(event.detail_json())["content"] == semantic(content)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_sample_events_carry_the_seed_examples(name: str) -> None:
    """The packaged sample events (docs, demo) hold exactly the seed's example content."""
    cls = EVENTS[name]
    content = (VECTORS / f"{name}.json").read_bytes()
    sample = sample_event(cls.detail_type)
    assert semantic(sample.detail_json())["content"] == semantic(content)
