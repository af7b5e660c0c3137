"""Golden vectors from producers we did not write (tests/vectors/foreign/): envelopes as
the TS package (``Date.toISOString()``: 3 fractional digits and ``Z``; JS numbers; absent
keys left out) and the .NET package (System.Text.Json: ``+00:00``/``+02:00`` offsets, 7
fractional digits, ``null`` for unset values) write them, each with the typed result it
must give (``*.expected.json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tfso_events import EventValidationError, TfsoEvent, parse_event

FOREIGN = Path(__file__).parent.parent / "vectors" / "foreign"
NAMES = sorted(p.name.removesuffix(".envelope.json") for p in FOREIGN.glob("*.envelope.json"))
_DATE_TIME_KEYS = {"registrationDate", "timestamp"}


def canonical(value: Any, key: str = "") -> Any:
    """JSON with exact numbers (Decimal) and date-times as UTC instants; a date-time we
    write must end in Z."""
    if isinstance(value, dict):
        return {k: canonical(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if key in _DATE_TIME_KEYS and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    raw = (FOREIGN / f"{name}.envelope.json").read_bytes()
    expected = json.loads((FOREIGN / f"{name}.expected.json").read_text())
    return raw, expected


def test_both_producers_are_covered() -> None:
    """There are TS-style and .NET-style vectors, each with its expected result."""
    assert {name.split("_")[0] for name in NAMES} == {"ts", "dotnet"}
    for name in NAMES:
        assert (FOREIGN / f"{name}.expected.json").exists()


@pytest.mark.parametrize("name", NAMES)
def test_foreign_vector_gives_its_typed_result(name: str) -> None:
    """Each vector parses from bytes, str and dict to the expected class, envelope
    source and flag, and writes back the expected detail (UTC Z date-times, exact
    decimals, metadata {} for null) — or is refused at the expected path."""
    raw, expected = load(name)
    for form in (raw, raw.decode(), json.loads(raw)):
        if "error_path" in expected:
            with pytest.raises(EventValidationError) as caught:
                parse_event(form)
            assert caught.value.path == expected["error_path"]
            continue
        event = parse_event(form)
        assert isinstance(event, TfsoEvent)
        assert type(event).__name__ == expected["class"]
        assert event.envelope_source == expected["envelope_source"]
        assert event.source_mismatch is expected["source_mismatch"]
        written = event.detail_json()
        assert canonical(json.loads(written, parse_float=Decimal)) == canonical(expected["detail"])
        for stamp in (b'"timestamp":"', b'"registrationDate":"'):
            if stamp in written:
                value = written.split(stamp, 1)[1].split(b'"', 1)[0]
                assert value.endswith(b"Z"), value
        if "strict_error_path" in expected:
            with pytest.raises(EventValidationError) as strict:
                parse_event(form, strict=True)
            assert strict.value.path == expected["strict_error_path"]


def test_dotnet_seven_digit_fraction_rounds_to_the_microsecond() -> None:
    """.NET's 7th fractional digit (100 ns) is below Python's resolution: the instant is
    rounded to the nearest microsecond, never truncated to a different second."""
    raw, _ = load("dotnet_bank_transaction_deleted_v1")
    event = parse_event(raw)
    assert event.detail.timestamp == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
