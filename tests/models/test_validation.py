"""Each field rule of the seed tables is enforced by validate()/detail_json(), naming the path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tfso_events import EventValidationError, TfsoEvent, parse_event
from tfso_events.examples import sample_event
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Event,
)

CREATED = "bank.transaction:created@v1"
DELETED = "bank.transaction:deleted@v1"
CHANGED = "bank.transaction:statuschanged@v1"
TEST = "bank.test:created@v1"


def detail_of(detail_type: str) -> dict[str, Any]:
    return json.loads(sample_event(detail_type).detail_json())  # type: ignore[no-any-return]


def reparse(detail_type: str, detail: dict[str, Any]) -> TfsoEvent:
    """Wrap a detail dict in an envelope and parse it as bytes."""
    envelope = {"detail-type": detail_type, "source": "com.24sevenoffice.banktransfer"}
    return parse_event(json.dumps({**envelope, "detail": detail}).encode())  # type: ignore[return-value]


def user(**changes: Any) -> BankTestCreatedV1Event:
    content = BankTestCreatedV1Content(
        first_name="Karl",
        last_name="Marx",
        favorite_color=BankTestCreatedV1FavoriteColor.Red,
        registration_date=datetime(2023, 7, 4, tzinfo=UTC),
    )
    for name, value in changes.items():
        setattr(content, name, value)
    return BankTestCreatedV1Event(detail=BankTestCreatedV1Detail(content=content))


# -- missing required fields (every required field of every table) -----------------------

REQUIRED = [
    (TEST, ["firstName"]),
    (TEST, ["lastName"]),
    (TEST, ["favoriteColor"]),
    (TEST, ["registrationDate"]),
    (TEST, ["address", "street"]),
    (TEST, ["address", "city"]),
    (CREATED, ["transactionId"]),
    (CREATED, ["license"]),
    (CREATED, ["status"]),
    (CREATED, ["status", "text"]),
    (CREATED, ["status", "code"]),
    (CREATED, ["sourceUris"]),
    (DELETED, ["transactionId"]),
    (DELETED, ["license"]),
    (DELETED, ["status"]),
    (DELETED, ["status", "code"]),
    (CHANGED, ["status", "text"]),
    (CHANGED, ["deletionStatus"]),
    (CHANGED, ["deletionStatus", "new"]),
    (CHANGED, ["deletionStatus", "old"]),
]


@pytest.mark.parametrize(("detail_type", "path"), REQUIRED, ids=lambda v: str(v))
def test_missing_required_field_names_its_path(detail_type: str, path: list[str]) -> None:
    """A missing required field is an EventValidationError naming the parent's JSON path."""
    detail = detail_of(detail_type)
    parent = detail["content"]
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(EventValidationError) as info:
        reparse(detail_type, detail)
    assert info.value.path == ".".join(["$.detail.content", *path[:-1]])
    assert f"`{path[-1]}`" in info.value.reason
    assert info.value.detail_type == detail_type


OPTIONAL = [(TEST, "age"), (TEST, "accountStatement"), (TEST, "address")]


@pytest.mark.parametrize(("detail_type", "field"), OPTIONAL)
def test_optional_fields_may_be_left_out(detail_type: str, field: str) -> None:
    """Optional fields of the seed tables may be absent; they read back as None."""
    detail = detail_of(detail_type)
    del detail["content"][field]
    event = reparse(detail_type, detail)
    assert field not in json.loads(event.detail_json())["content"]


def test_optional_none_is_omitted_from_the_wire() -> None:
    """Optional fields left as None are not written at all; metadata is always written."""
    wire = json.loads(user().detail_json())
    assert set(wire) == {"content", "timestamp", "metadata"}
    assert wire["metadata"] == {}
    assert {"age", "accountStatement", "address"}.isdisjoint(wire["content"])


# -- wrong types -----------------------------------------------------------------------

WRONG_TYPES = [
    (TEST, ["firstName"], 42, "Expected `str`, got `int`"),
    (TEST, ["age"], "thirty", "Expected `float | null`, got `str`"),
    (TEST, ["accountStatement"], [1], "got `array`"),
    (TEST, ["address"], "221B", "got `str`"),
    (CREATED, ["status", "code"], "100", "Expected `int`, got `str`"),
    (CREATED, ["status", "code"], 1.5, "Expected `int`, got `float`"),
    (CREATED, ["sourceUris"], "urn:x", "Expected `array`, got `str`"),
    (CREATED, ["sourceUris", 0], 7, "Expected `str`, got `int`"),
    (CHANGED, ["deletionStatus"], [], "Expected `object`, got `array`"),
]


@pytest.mark.parametrize(("detail_type", "path", "value", "message"), WRONG_TYPES, ids=str)
def test_wrong_type_names_its_path(
    detail_type: str, path: list[Any], value: Any, message: str
) -> None:
    """A value of the wrong JSON type is an EventValidationError naming the field's path."""
    detail = detail_of(detail_type)
    parent = detail["content"]
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(EventValidationError) as info:
        reparse(detail_type, detail)
    expected = "$.detail.content" + "".join(
        f"[{k}]" if isinstance(k, int) else f".{k}" for k in path
    )
    assert info.value.path == expected
    assert message in info.value.reason


def test_wrong_type_on_a_built_event_is_caught_by_validate() -> None:
    """validate() catches a wrong Python type that msgspec's __init__ let through."""
    with pytest.raises(EventValidationError) as info:
        user(first_name=42).validate()
    assert info.value.path == "$.content.firstName"
    assert "bank.test:created@v1" in str(info.value)


# -- enums: per-event value sets --------------------------------------------------------

ENUMS = [
    (CHANGED, ["status", "text"], "created"),  # allowed in deleted, not in statuschanged
    (CREATED, ["status", "text"], "approved"),  # created events are always `created`
    (TEST, ["favoriteColor"], "Purple"),
    (TEST, ["favoriteColor"], "red"),  # enum values are case-sensitive
    (CHANGED, ["deletionStatus", "new"], "archived"),
    (DELETED, ["status", "text"], "deleted"),
]


@pytest.mark.parametrize(("detail_type", "path", "value"), ENUMS, ids=str)
def test_enum_value_outside_the_events_own_set_is_refused(
    detail_type: str, path: list[str], value: str
) -> None:
    """Each event accepts exactly its own enum values, naming the path of a foreign one."""
    detail = detail_of(detail_type)
    parent = detail["content"]
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(EventValidationError) as info:
        reparse(detail_type, detail)
    assert info.value.path == "$.detail.content." + ".".join(path)
    assert f"'{value}'" in info.value.reason


@pytest.mark.parametrize(
    "text", ["created", "approved", "inProgress", "stopped", "confirmedPaid", "posted"]
)
def test_deleted_accepts_all_six_status_texts(text: str) -> None:
    """bank.transaction:deleted@v1 accepts every status the seed lists for it."""
    detail = detail_of(DELETED)
    detail["content"]["status"]["text"] = text
    assert reparse(DELETED, detail).detail_type == DELETED


def test_enum_on_a_built_event_is_checked_by_validate() -> None:
    """A plain string that is not an enum value fails validate() with the path."""
    event = sample_event(CHANGED)
    assert isinstance(event, BankTransactionStatusChangedV1Event)
    event.detail.content.status.text = "created"  # type: ignore[assignment]
    with pytest.raises(EventValidationError, match=r"content\.status\.text"):
        event.validate()


# -- datetimes --------------------------------------------------------------------------


def test_naive_datetime_is_a_validation_error() -> None:
    """A naive datetime is refused by validate() with its path, never silently guessed."""
    with pytest.raises(EventValidationError) as info:
        user(registration_date=datetime(2023, 7, 4, 8, 5)).validate()
    assert info.value.path == "$.content.registrationDate"
    assert "timezone" in info.value.reason


def test_naive_timestamp_is_a_validation_error() -> None:
    """The detail's own timestamp must be timezone-aware too."""
    event = user()
    event.detail.timestamp = datetime(2023, 7, 4, 8, 5)
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == "$.timestamp"


@pytest.mark.parametrize("value", ["2023-07-04", "2023-07-04T08:05:58", "yesterday", 1688457958])
def test_date_time_fields_refuse_dates_and_naive_strings(value: Any) -> None:
    """A date-only, naive or non-RFC 3339 value where a date-time is required is refused."""
    detail = detail_of(TEST)
    detail["content"]["registrationDate"] = value
    with pytest.raises(EventValidationError) as info:
        reparse(TEST, detail)
    assert info.value.path == "$.detail.content.registrationDate"


def test_offsets_are_kept_as_the_same_instant() -> None:
    """A datetime with a non-UTC offset round-trips as the same instant."""
    detail = detail_of(TEST)
    detail["content"]["registrationDate"] = "2023-07-04T10:05:58+02:00"
    event = reparse(TEST, detail)
    assert isinstance(event, BankTestCreatedV1Event)
    assert event.detail.content.registration_date == datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC)


def test_default_timestamp_is_now_in_utc() -> None:
    """A detail built without a timestamp gets the current time, timezone-aware UTC."""
    before = datetime.now(UTC)
    event = user()
    assert before <= event.detail.timestamp <= datetime.now(UTC)
    assert event.detail.timestamp.utcoffset() is not None
    assert json.loads(event.detail_json())["timestamp"].endswith("Z")


# -- decimals ---------------------------------------------------------------------------


def test_big_decimal_survives_encode_and_parse_exactly() -> None:
    """A 29-digit Decimal is written as a JSON number and parsed back without rounding."""
    amount = Decimal("12345678901234567890.123456789")
    event = user(account_statement=amount)
    wire = event.detail_json()
    assert b'"accountStatement":12345678901234567890.123456789' in wire
    raw_parsed = parse_event(
        b'{"detail-type":"bank.test:created@v1","source":"s","detail":' + wire + b"}"
    )
    assert isinstance(raw_parsed, BankTestCreatedV1Event)
    assert raw_parsed.detail.content.account_statement == amount
    assert str(raw_parsed.detail.content.account_statement) == str(amount)


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimal_is_a_validation_error(value: str) -> None:
    """Decimal NaN/Infinity would be invalid JSON, so validate() refuses them by path."""
    with pytest.raises(EventValidationError) as info:
        user(account_statement=Decimal(value)).validate()
    assert info.value.path == "$.content.accountStatement"
    assert "finite" in info.value.reason


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_float_is_a_validation_error(value: float) -> None:
    """float NaN/inf (which msgspec would write as null) are refused with the path."""
    with pytest.raises(EventValidationError) as info:
        user(age=value).validate()
    assert info.value.path == "$.content.age"


def test_non_finite_float_in_metadata_is_a_validation_error() -> None:
    """A NaN hidden in metadata (msgspec would write null) is refused with its path."""
    event = user()
    event.detail.metadata = {"score": [1.0, float("nan")]}
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == "$.metadata.score[1]"


@pytest.mark.parametrize(
    ("metadata", "path"),
    [
        ({"trace": {"spans": [{"ms": 1.5}, {"ms": float("inf")}]}}, "$.metadata.trace.spans[1].ms"),
        ({"tenant": {"id": 42, "score": float("-inf")}}, "$.metadata.tenant.score"),
        ({"correlationId": "c-1", "total": Decimal("NaN")}, "$.metadata.total"),
    ],
)
def test_non_finite_nested_in_metadata_is_refused_with_its_path(
    metadata: dict[str, Any], path: str
) -> None:
    """A float or Decimal NaN/Infinity anywhere in realistic, nested metadata is refused
    with its JSON path (the success path's cheap null check must not miss it)."""
    event = user()
    event.detail.metadata = {"userId": "auth0|u1", **metadata}
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == path
    assert "finite" in info.value.reason


def test_metadata_with_real_nulls_and_null_text_round_trips() -> None:
    """A null somebody sent, and the text "null", in metadata pass validation and reach
    the consumer unchanged (the NaN check looks closer at a null, it does not refuse it)."""
    event = user()
    metadata = {"parentId": None, "note": "null", "tenant": {"id": 7, "region": None}}
    event.detail.metadata = metadata
    wire = event.detail_json()
    raw = b'{"detail-type":"bank.test:created@v1","source":"s","detail":' + wire + b"}"
    parsed = parse_event(raw)
    assert isinstance(parsed, BankTestCreatedV1Event)
    assert parsed.detail.metadata == metadata


def test_finite_optional_float_passes() -> None:
    """An optional float that is finite (or absent) passes validation."""
    user(age=41.5).validate()
    user(age=None).validate()


def test_unencodable_metadata_names_its_path() -> None:
    """metadata holding something JSON cannot carry is refused with its path."""
    event = user()
    event.detail.metadata = {"tags": [object()]}
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == "$.metadata.tags[0]"


def test_wrong_detail_class_is_refused() -> None:
    """An event carrying another event's detail class is refused before encoding."""
    other = sample_event(CREATED).detail
    event = BankTestCreatedV1Event(detail=other)  # type: ignore[arg-type]
    with pytest.raises(EventValidationError, match="BankTestCreatedV1Detail"):
        event.validate()


def test_validation_error_is_a_value_error() -> None:
    """EventValidationError can be caught as the builtin ValueError."""
    with pytest.raises(ValueError, match="favoriteColor"):
        user(favorite_color="Purple").validate()


def test_detail_json_is_what_validate_checked() -> None:
    """detail_json() returns the validated wire bytes, which parse back to an equal detail."""
    event = sample_event(TEST)
    wire = event.detail_json()
    assert BankTestCreatedV1Event.parse_detail(wire) == event.detail


# -- gaps closed in issue 29: a NaN anywhere, metadata keys ------------------------------


@pytest.mark.parametrize("metadata", [{}, {"correlationId": "c-1"}], ids=["empty", "set"])
@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("account_statement", float("nan"), "$.content.accountStatement"),
        ("account_statement", float("-inf"), "$.content.accountStatement"),
        ("address", float("nan"), "$.content.address"),
        ("age", float("inf"), "$.content.age"),
    ],
)
def test_a_nan_in_any_optional_field_is_refused_whatever_metadata_holds(
    metadata: dict[str, Any], field: str, value: float, path: str
) -> None:
    """A float NaN/inf in an optional field of another type (msgspec would write null,
    which reads back as an absent field) is refused with its path, with empty metadata
    as with metadata set."""
    event = user(**{field: value})
    event.detail.metadata = dict(metadata)
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == path
    assert "finite" in info.value.reason


@pytest.mark.parametrize(
    ("metadata", "path", "key"),
    [
        ({1: "x"}, "$.metadata", "1"),
        ({"tenant": {"id": 7, 2: "y"}}, "$.metadata.tenant", "2"),
        ({"spans": [{"ok": 1}, {None: 1}]}, "$.metadata.spans[1]", "None"),
        ({"a": {"b": {(1, 2): "t"}}}, "$.metadata.a.b", "(1, 2)"),
        ({1.5: "f", "x": 1}, "$.metadata", "1.5"),
        ({True: "b"}, "$.metadata", "True"),
    ],
)
def test_metadata_keys_that_are_not_strings_are_refused_with_the_path(
    metadata: dict[Any, Any], path: str, key: str
) -> None:
    """metadata (at any depth) with a key that is not a string is refused with the path
    of the object holding it (JSON has only string keys; msgspec would write 1 as "1",
    and the consumer would read another dict than the one sent)."""
    event = user()
    event.detail.metadata = metadata
    with pytest.raises(EventValidationError) as info:
        event.validate()
    assert info.value.path == path
    assert key in info.value.reason
    assert "string" in info.value.reason


def test_string_subclass_keys_in_metadata_pass() -> None:
    """A StrEnum key is a string: it passes and reads back as its value."""
    event = user()
    event.detail.metadata = {BankTestCreatedV1FavoriteColor.Red: {"n": 1}}
    assert json.loads(event.detail_json())["metadata"] == {"Red": {"n": 1}}
