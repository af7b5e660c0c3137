"""The catalog, constants, event patterns, JSON Schemas and body validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfso_events import (
    DetailTypes,
    EventValidationError,
    TfsoModules,
    TfsoSources,
    UnknownEventTypeError,
    event_class,
    event_classes,
    event_pattern,
    event_schema,
    validate_body,
)
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1StatusText
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1DeletionState,
    BankTransactionStatusChangedV1StatusText,
)


def test_catalog_lists_the_four_seed_events() -> None:
    """The catalog holds exactly the seed's four events, each under its detail-type."""
    assert [cls.detail_type for cls in event_classes()] == [str(d) for d in DetailTypes]
    for cls in event_classes():
        assert event_class(cls.detail_type) is cls
        assert cls.__struct_config__.tag == cls.detail_type
        assert cls.source == TfsoSources.BankTransfer
        assert cls.module == TfsoModules.Bank


def test_event_class_of_unknown_detail_type() -> None:
    """event_class raises UnknownEventTypeError for a detail-type not in the catalog."""
    with pytest.raises(UnknownEventTypeError, match="nope"):
        event_class("nope")


def test_constants_match_the_ts_package() -> None:
    """Module, source and enum members carry the TS package's names and wire values."""
    assert TfsoModules.Bank == "bank"
    assert TfsoModules.Crm == "crm"
    assert TfsoSources.BankTransfer == "com.24sevenoffice.banktransfer"
    assert BankTestCreatedV1FavoriteColor.Red == "Red"
    assert BankTransactionDeletedV1StatusText.InProgress == "inProgress"
    assert BankTransactionDeletedV1StatusText.ConfirmedPaid == "confirmedPaid"
    assert [m.value for m in BankTransactionDeletedV1StatusText] == [
        "created",
        "approved",
        "inProgress",
        "stopped",
        "confirmedPaid",
        "posted",
    ]
    assert "created" not in {m.value for m in BankTransactionStatusChangedV1StatusText}
    assert {m.value for m in BankTransactionStatusChangedV1DeletionState} == {"deleted", "active"}


def test_event_pattern_lists_sources_and_detail_types_once() -> None:
    """event_pattern builds an EventBridge pattern with de-duplicated sources."""
    pattern = event_pattern(BankTestCreatedV1Event, BankTransactionCreatedV1Event)
    assert pattern == {
        "source": ["com.24sevenoffice.banktransfer"],
        "detail-type": ["bank.test:created@v1", "bank.transaction:created@v1"],
    }
    with pytest.raises(ValueError, match="at least one"):
        event_pattern()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_event_schema_describes_the_wire() -> None:
    """event_schema gives camelCase properties, required fields, enums, and decimals as
    numbers, with the seed's descriptions."""
    schema = event_schema(BankTestCreatedV1Event)
    assert schema["title"] == "bank.test:created@v1"
    detail = _resolve(schema, schema)
    content = _resolve(schema, detail["properties"]["content"])
    assert set(content["required"]) == {
        "firstName",
        "lastName",
        "favoriteColor",
        "registrationDate",
    }
    props = content["properties"]
    assert props["firstName"]["description"] == "First name of the user"
    assert props["registrationDate"]["format"] == "date-time"
    decimal = next(s for s in props["accountStatement"]["anyOf"] if s.get("type") != "null")
    assert decimal["type"] == "number"
    color = _resolve(schema, props["favoriteColor"])
    assert color["enum"] == ["Blue", "Green", "Red"] or sorted(color["enum"]) == [
        "Blue",
        "Green",
        "Red",
    ]
    json.dumps(schema)  # serialisable as is


def test_validate_body_accepts_a_good_body() -> None:
    """validate_body returns the typed event for a matching source and valid detail."""
    event = sample_events()[1]
    parsed = validate_body(event.source, event.detail_type, json.loads(event.detail_json()))
    assert parsed.detail == event.detail


def test_validate_body_refuses_a_source_mismatch() -> None:
    """validate_body refuses a source that is not the detail-type's, at $.source."""
    event = sample_events()[1]
    with pytest.raises(EventValidationError) as info:
        validate_body("com.example.other", event.detail_type, event.detail_json())
    assert info.value.path == "$.source"


def test_validate_body_roots_paths_at_detail() -> None:
    """validate_body reports detail errors with paths rooted at $.detail."""
    detail = json.loads(sample_events()[1].detail_json())
    detail["content"]["status"]["code"] = "x"
    with pytest.raises(EventValidationError) as info:
        validate_body(TfsoSources.BankTransfer, DetailTypes.BankTransactionCreatedV1, detail)
    assert info.value.path == "$.detail.content.status.code"


def test_validate_body_refuses_unknown_detail_types() -> None:
    """validate_body raises UnknownEventTypeError for a detail-type not in the catalog."""
    with pytest.raises(UnknownEventTypeError):
        validate_body(TfsoSources.BankTransfer, "bank.x:y@v1", b"{}")


def test_detail_filter_writes_wire_names_from_attribute_paths() -> None:
    """detail_filter turns content__status__code into the wire's nested camelCase names,
    looks through lists and optional fields, and lets metadata take any key."""
    from tfso_events import detail_filter

    assert detail_filter(
        BankTransactionCreatedV1Event,
        content__status__code=[{"numeric": [">=", 100]}],
        content__source_uris=[{"prefix": "urn:"}],
        metadata__tenant=["693081080913543"],
    ) == {
        "content": {
            "status": {"code": [{"numeric": [">=", 100]}]},
            "sourceUris": [{"prefix": "urn:"}],
        },
        "metadata": {"tenant": ["693081080913543"]},
    }


def test_detail_filter_refuses_a_name_the_model_does_not_have() -> None:
    """A misspelt attribute is a ValueError naming it and the fields that exist there."""
    from tfso_events import detail_filter

    with pytest.raises(ValueError, match=r"no field 'stauts' in 'content__stauts__code'"):
        detail_filter(BankTransactionCreatedV1Event, content__stauts__code=[1])


def test_event_pattern_takes_a_detail_filter() -> None:
    """event_pattern(..., detail=...) puts the filter under "detail"; the pattern matches
    the event it was written for."""
    from tfso_events.patterns import matches
    from tfso_events.testing import build

    pattern = event_pattern(
        BankTransactionCreatedV1Event, detail={"content": {"status": {"code": [100]}}}
    )
    assert pattern["detail"] == {"content": {"status": {"code": [100]}}}
    event = build(BankTransactionCreatedV1Event, content__status__code=100)
    assert matches(pattern, event)
    assert not matches(pattern, build(BankTransactionCreatedV1Event, content__status__code=5))


def test_events_is_a_deprecated_alias_of_event_classes() -> None:
    """tfso_events.events() still returns the catalog for one release, with a
    DeprecationWarning naming its new name, event_classes()."""
    import tfso_events

    with pytest.warns(DeprecationWarning, match=r"use tfso_events\.event_classes\(\)"):
        old = tfso_events.events()
    assert old == event_classes()
