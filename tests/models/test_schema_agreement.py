"""event_schema(cls) and the model accept the same documents, both ways: for valid,
mutated and hostile details, the model accepts ⇔ ``jsonschema`` (draft 2020-12, with
``FormatChecker``) accepts. The few documents where msgspec is more lenient than JSON
Schema can say are listed once (KNOWN_GAPS) and pinned by their own test."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from tfso_events import EventValidationError, TfsoEvent, catalog
from tfso_events.catalog import event_schema
from tfso_events.examples import sample_event
from tfso_events.models._base import INT64_MAX, INT64_MIN

EVENTS = catalog.event_classes()
VALIDATORS = {
    cls: Draft202012Validator(event_schema(cls), format_checker=FormatChecker()) for cls in EVENTS
}


def kinds(cls: type[TfsoEvent]) -> dict[str, str]:
    """Property name → 'integer', 'decimal', 'date-time' (read from the schema)."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                text = json.dumps(prop)
                if '"format": "decimal"' in text:
                    found[name] = "decimal"
                elif '"format": "date-time"' in text:
                    found[name] = "date-time"
                elif '"type": "integer"' in text:
                    found[name] = "integer"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(event_schema(cls))
    return found


def model_accepts(cls: type[TfsoEvent], document: Any) -> bool:
    try:
        cls.parse_detail(json.dumps(document).encode())
    except EventValidationError:
        return False
    return True


def schema_accepts(cls: type[TfsoEvent], document: Any) -> bool:
    return VALIDATORS[cls].is_valid(json.loads(json.dumps(document)))


def base(cls: type[TfsoEvent]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample_event(cls.detail_type).detail_json())
    return document


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
RFC3339 = st.builds(
    lambda when, sep, frac, zone: when.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + zone,
    st.datetimes(),
    st.sampled_from(["T", "t"]),
    st.sampled_from(["", ".1", ".120", ".123456", ".1234567"]),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59"]),
)


def leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += leaves(value, (*path, index))
    return found


def replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(node) if isinstance(node, dict) else list(node)
    if value is _DELETE and not rest:
        del copy[head]
    elif not rest:
        copy[head] = value
    else:
        copy[head] = replaced(node[head], tuple(rest), value)
    return copy


_DELETE = object()


def known_gap(kind: str | None, value: Any) -> bool:
    """A replacement where msgspec and JSON Schema are known to differ (see KNOWN_GAPS)."""
    if kind == "decimal":
        return isinstance(value, str)
    return False


@st.composite
def documents(draw: st.DrawFn) -> tuple[type[TfsoEvent], Any]:
    cls = draw(st.sampled_from(EVENTS))
    document: Any = base(cls)
    names = kinds(cls)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        how = draw(st.sampled_from(["valid", "mutate", "delete", "extra", "hostile"]))
        paths = leaves(document)
        path = draw(st.sampled_from(paths))
        kind = names.get(path[-1]) if path and isinstance(path[-1], str) else None
        if how == "valid" and kind == "date-time":
            value: Any = draw(RFC3339)
        elif how == "valid" and kind == "integer":
            value = draw(st.integers(min_value=INT64_MIN - 2, max_value=INT64_MAX + 2))
        elif how == "valid" and kind == "decimal":
            value = draw(st.integers() | st.floats(allow_nan=False, allow_infinity=False))
        elif how == "delete" and path:
            value = _DELETE
        elif how == "extra":
            path = (*path, draw(st.text(max_size=6)))
            if not isinstance(_at(document, path[:-1]), dict):
                continue
            value = draw(JSON_VALUES)
        elif how == "hostile" and not path:
            value = draw(JSON_VALUES)
        else:
            value = draw(JSON_VALUES)
        if known_gap(kind, value):
            continue
        document = replaced(document, path, value)
    return cls, document


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_model_accepts_exactly_what_the_schema_accepts(case: tuple[type[TfsoEvent], Any]) -> None:
    """For generated valid, mutated and hostile details: model accepts ⇔ schema accepts."""
    cls, document = case
    assert model_accepts(cls, document) == schema_accepts(cls, document), document


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.detail_type)
def test_samples_are_accepted_by_both(cls: type[TfsoEvent]) -> None:
    """The sample detail of every event passes the model and the schema."""
    assert model_accepts(cls, base(cls))
    assert schema_accepts(cls, base(cls))


BANK_TEST = catalog.event_class("bank.test:created@v1")
STATUS = catalog.event_class("bank.transaction:statuschanged@v1")

#: (event, path, value, model accepts, schema accepts): where they still differ.
KNOWN_GAPS = [
    # msgspec reads a decimal from a numeric string; the schema says number (what every
    # producer writes). Nothing is lost: the string's digits are the Decimal's.
    (BANK_TEST, ("content", "accountStatement"), "100000.50", True, False),
    # msgspec's RFC 3339 reader also takes a space separator and ±HHMM offsets.
    (BANK_TEST, ("timestamp",), "2024-05-01 12:00:00Z", True, False),
    (BANK_TEST, ("timestamp",), "2024-05-01T12:00:00+0100", True, False),
]


@pytest.mark.parametrize(("cls", "path", "value", "model", "schema"), KNOWN_GAPS)
def test_known_gaps_are_exactly_these(
    cls: type[TfsoEvent], path: tuple[str, ...], value: Any, model: bool, schema: bool
) -> None:
    """Each listed gap still differs in the listed direction (fix one: drop it here and
    from known_gap, and the property test then covers it)."""
    document = replaced(base(cls), path, value)
    assert (model_accepts(cls, document), schema_accepts(cls, document)) == (model, schema)


@pytest.mark.parametrize(
    ("cls", "path", "value"),
    [
        (BANK_TEST, ("timestamp",), "not a date"),
        (BANK_TEST, ("timestamp",), "2024-05-01T12:00:00"),  # naive
        (BANK_TEST, ("content", "registrationDate"), "2024-05-01T12:00"),
        (STATUS, ("content", "status", "code"), 2**63),
        (STATUS, ("content", "status", "code"), -(2**63) - 1),
        (STATUS, ("timestamp",), None),
        (STATUS, ("timestamp",), _DELETE),
    ],
)
def test_issue_probes_are_refused_by_both(
    cls: type[TfsoEvent], path: tuple[str, ...], value: Any
) -> None:
    """The probes that used to pass one side only are refused by the model and by the
    schema, even without format assertion (the date-time pattern is spelled out)."""
    document = replaced(base(cls), path, value)
    assert not model_accepts(cls, document)
    assert not schema_accepts(cls, document)
    assert not Draft202012Validator(event_schema(cls)).is_valid(document)


def test_decimal_is_a_number_in_the_schema() -> None:
    """accountStatement is a JSON number in the schema, and a number is read exactly."""
    document = replaced(base(BANK_TEST), ("content", "accountStatement"), 1.5)
    assert schema_accepts(BANK_TEST, document)
    parsed = BANK_TEST.parse_detail(json.dumps(document))
    assert parsed.content.account_statement == Decimal("1.5")  # type: ignore[attr-defined]
