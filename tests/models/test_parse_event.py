"""parse_event: one tagged-union decode, UnknownEvent for new detail-types, tolerant
envelopes, and nothing but a typed event, UnknownEvent or EventValidationError out of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfso_events import (
    EventValidationError,
    TfsoEvent,
    UnknownEvent,
    UnknownEventTypeError,
    catalog,
    parse_event,
)
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event


def envelope(event: TfsoEvent, **extra: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "id-1",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "111122223333",
        "time": "2024-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": json.loads(event.detail_json()),
        **extra,
    }


def test_every_catalog_event_round_trips() -> None:
    """Every sample event, wrapped in an envelope, parses back to an equal typed event."""
    for event in sample_events():
        parsed = parse_event(json.dumps(envelope(event)).encode())
        assert type(parsed) is type(event)
        assert isinstance(parsed, TfsoEvent)
        assert parsed.detail == event.detail


def test_unknown_detail_type_gives_unknown_event() -> None:
    """An unknown detail-type returns UnknownEvent with the envelope and detail as a dict."""
    raw = {
        "detail-type": "crm.customer:created@v1",
        "source": "com.24sevenoffice.crm",
        "id": "abc",
        "detail": {"content": {"customerId": 7}},
    }
    event = parse_event(raw)
    assert isinstance(event, UnknownEvent)
    assert event.detail_type == "crm.customer:created@v1"
    assert event.source == "com.24sevenoffice.crm"
    assert event.detail == {"content": {"customerId": 7}}
    assert event.id == "abc"
    assert parse_event(json.dumps(raw)) == event


def test_strict_refuses_unknown_detail_type() -> None:
    """strict=True raises UnknownEventTypeError naming the detail-type and the known ones."""
    with pytest.raises(UnknownEventTypeError) as info:
        parse_event(b'{"detail-type":"x.y:z@v9","source":"s","detail":{}}', strict=True)
    assert "x.y:z@v9" in str(info.value)
    assert "bank.test:created@v1" in str(info.value)
    assert info.value.path == "$.detail-type"


def test_moto_envelope_without_account_parses() -> None:
    """An envelope lacking optional fields (moto has no account) parses; they are None."""
    event = sample_events()[1]
    raw = envelope(event)
    del raw["account"], raw["region"], raw["version"], raw["time"], raw["resources"]
    parsed = parse_event(raw)
    assert isinstance(parsed, BankTransactionCreatedV1Event)
    assert parsed.account is None
    assert parsed.region is None
    assert parsed.resources == []


def test_replayed_and_unknown_envelope_keys_are_tolerated() -> None:
    """A replay's replay-name is kept; envelope keys nobody knows are ignored."""
    event = sample_events()[0]
    parsed = parse_event(envelope(event, **{"replay-name": "r1", "ingestion-time": "x"}))
    assert parsed.replay_name == "r1"


def test_bad_payload_of_known_type_is_a_validation_error_not_unknown() -> None:
    """A known detail-type with a bad detail raises with the path, never UnknownEvent."""
    raw = envelope(sample_events()[0])
    raw["detail"]["content"]["favoriteColor"] = "Purple"
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert info.value.path == "$.detail.content.favoriteColor"
    assert info.value.detail_type == "bank.test:created@v1"


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"", "$"),
        (b"{", "$"),
        (b"[]", "$"),
        (b'{"source":"s","detail":{}}', "$"),
        (b'{"detail-type":7,"source":"s","detail":{}}', "$.detail-type"),
        (b'{"detail-type":"x.y","detail":{}}', "$"),
        (b'{"detail-type":"x.y","source":"s","detail":[]}', "$.detail"),
        ("not json", "$"),
    ],
)
def test_malformed_documents_are_validation_errors(raw: bytes | str, path: str) -> None:
    """Malformed JSON, a missing or non-string detail-type, or a broken unknown envelope
    raise EventValidationError with a path."""
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert info.value.path == path


def test_event_parse_accepts_only_its_own_type() -> None:
    """<Name>Event.parse parses its own detail-type and refuses another with the path."""
    event = sample_events()[0]
    assert BankTestCreatedV1Event.parse(json.dumps(envelope(event))).detail == event.detail
    with pytest.raises(EventValidationError) as info:
        BankTransactionCreatedV1Event.parse(envelope(event))
    assert info.value.path == "$.detail-type"


def test_match_statement_dispatch() -> None:
    """Parsed events work with structural pattern matching, as a Lambda handler uses them."""
    seen = []
    for event in sample_events():
        match parse_event(envelope(event)):
            case BankTransactionCreatedV1Event(detail=detail):
                seen.append(detail.content.transaction_id)
            case UnknownEvent():
                seen.append("unknown")
            case _:
                pass
    assert seen == ["123e4567-e89b-12d3-a456-426614174000"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_DETAIL_TYPES = st.sampled_from([cls.detail_type for cls in catalog.event_classes()]) | st.text()


def _outcome(raw: Any) -> None:
    try:
        result = parse_event(raw)
    except EventValidationError:
        return
    assert isinstance(result, TfsoEvent | UnknownEvent)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(raw: bytes) -> None:
    """Arbitrary bytes give a typed event, UnknownEvent or EventValidationError, nothing else."""
    _outcome(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"detail-type": _DETAIL_TYPES, "source": st.text(), "detail": _JSON},
        optional={"id": _JSON, "time": _JSON, "resources": _JSON, "account": _JSON},
    )
)
def test_fuzz_arbitrary_envelopes(raw: dict[str, Any]) -> None:
    """Arbitrary JSON envelopes, as dict and as bytes, never raise anything unexpected."""
    _outcome(raw)
    _outcome(json.dumps(raw).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_fuzz_arbitrary_json_documents(value: Any) -> None:
    """Any JSON document at all is handled without an unexpected exception."""
    _outcome(json.dumps(value).encode())
    if isinstance(value, dict):
        _outcome(value)
