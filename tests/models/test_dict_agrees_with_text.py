"""parse_event on a dict refuses exactly what it refuses on the text the dict was read from.

Lambda hands a function ``json.loads(text)``: ``1e400`` becomes inf, ``NaN`` stays, a
``"\\ud800"`` escape becomes a lone surrogate. Each of them is refused on the text; the
dict must not turn them into a typed event. And an integral float (``100.0``, ``1e2``) is
an integer for an int field on every path (JSON Schema's view), the local hub included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tfso_events import EventValidationError, parse_event
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Event,
)

SAMPLES = sample_events()


def envelope_of(index: int) -> dict[str, Any]:
    """The EventBridge envelope (as json.loads gives it) of the index-th sample event."""
    event = SAMPLES[index]
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "111122223333",
        "time": "2024-05-01T12:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": json.loads(event.detail_json()),
    }


def bank_test_text(**replace: str) -> str:
    """The bank.test:created@v1 envelope as text, each ``"key": value`` token replaced."""
    text = json.dumps(envelope_of(0))
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def outcome(raw: Any) -> tuple[str, Any, Any]:
    """("event", the event, None) or ("refused", its path, its reason)."""
    try:
        return ("event", parse_event(raw), None)
    except EventValidationError as exc:
        return ("refused", exc.path, exc.reason)


HOSTILE_TEXTS = {
    "float out of range in a float field": bank_test_text(**{'"age": 30': '"age": 1e400'}),
    "NaN in a float field": bank_test_text(**{'"age": 30': '"age": NaN'}),
    "lone surrogate in a string field": bank_test_text(**{'"John"': '"\\ud800"'}),
    "lone surrogate in metadata": bank_test_text(
        **{'"metadata": {}': '"metadata": {"a": "\\udc00"}'}
    ),
    "lone surrogate in an ignored key": bank_test_text(**{'"region"': '"\\ud800": 1, "region"'}),
    "NaN in an ignored envelope key": bank_test_text(**{'"region"': '"zz": NaN, "region"'}),
    "float out of range in metadata": bank_test_text(
        **{'"metadata": {}': '"metadata": {"a": 1e400}'}
    ),
    "NaN in an unknown event's detail": bank_test_text(
        **{"bank.test:created@v1": "bank.future:thing@v9", '"age": 30': '"age": NaN'}
    ),
    "int past int64 in an int field": json.dumps(envelope_of(3)).replace(
        '"code": 200', '"code": 9223372036854775808'
    ),
}


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_dict_is_refused_with_the_path_and_reason_of_its_text(text: str) -> None:
    """What the text is refused for, its json.loads dict is refused for: same path, same reason."""
    on_text = outcome(text)
    assert on_text[0] == "refused"
    assert outcome(json.loads(text)) == on_text


def test_negative_infinity_token_is_refused_on_both() -> None:
    """`-Infinity` (json.loads reads it as -inf, as it reads -1e400) is refused on both."""
    text = bank_test_text(**{'"age": 30': '"age": -Infinity'})
    assert outcome(text)[0] == outcome(json.loads(text))[0] == "refused"
    assert outcome(json.loads(text))[1] == "$.detail.content.age"


def test_a_decimal_out_of_float_range_is_kept_on_both() -> None:
    """1e400 in a Decimal field is a number (kept exactly); json.loads' inf reads as it too."""
    text = bank_test_text(**{'"accountStatement": 100000': '"accountStatement": 1e400'})
    on_text = outcome(text)
    assert on_text[0] == "event"
    assert outcome(json.loads(text)) == on_text


def test_the_callers_dict_is_not_changed() -> None:
    """Parsing a dict leaves it as it was (a non-finite float included)."""
    document = envelope_of(0)
    document["detail"]["metadata"] = {"a": float("inf")}
    before = json.dumps(document)
    with pytest.raises(EventValidationError):
        parse_event(document)
    assert json.dumps(document) == before


# -- the property -------------------------------------------------------------------

SPECIAL = st.sampled_from(
    [
        float("inf"),
        float("-inf"),
        float("nan"),
        "\ud800",
        "a\udc00b",
        2**63,
        -(2**63) - 1,
        2**64,
        100.0,
        100.5,
        1e2,
        -0.0,
        None,
        True,
    ]
)
# json.loads reads these exactly (ints, and floats written as their repr): a decimal
# with more digits than a float holds is rounded by json.loads itself, before any parser.
PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _set(node[path[0]], path[1:], value)
    return copy


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Envelopes of every sample event with up to three leaves replaced by hostile or
    plain values, or keys added, written by json.dumps (ASCII or not; NaN as its token,
    an infinity as `1e400`, the JSON that gives one); or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40))
    document: Any = envelope_of(draw(st.integers(0, len(SAMPLES) - 1)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        value = draw(SPECIAL | PLAIN)
        if draw(st.booleans()) and isinstance(_at(document, path), dict):
            path = (*path, draw(st.text(max_size=4) | st.just("\udfff")))
            document = _set(document, path[:-1], {**_at(document, path[:-1]), path[-1]: value})
        else:
            document = _set(document, path, value)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    return text.replace("Infinity", "1e400")


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts())
def test_text_and_its_json_loads_dict_both_refuse_or_give_equal_events(text: str) -> None:
    """For any text: parse_event(text) and parse_event(json.loads(text)) both refuse, or
    give equal events (the one exception: json.loads reads the non-JSON token
    `Infinity` as it reads `1e400`, so the dict is judged as if the text said 1e400)."""
    assume("Infinity" not in text)
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    assume(isinstance(document, dict))
    on_text, on_dict = outcome(text), outcome(document)
    if on_text[0] == "event" or on_dict[0] == "event":
        assert on_dict == on_text


# -- an integral float for an int field ---------------------------------------------


def status_text(code: str) -> str:
    """A bank.transaction:statuschanged@v1 envelope whose status code is ``code``."""
    text = json.dumps(envelope_of(3))
    assert '"code": 200' in text
    return text.replace('"code": 200', f'"code": {code}')


@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
@pytest.mark.parametrize("code", ["200.0", "2e2", "2.00E+2"])
def test_an_integral_float_is_an_int(form: str, code: str) -> None:
    """200.0, 2e2 and 2.00E+2 read as the int 200 for an int field, from bytes, text or dict."""
    text = status_text(code)
    raw: Any = {"bytes": text.encode(), "str": text, "dict": json.loads(text)}[form]
    event = parse_event(raw)
    assert isinstance(event, BankTransactionStatusChangedV1Event)
    code_value = event.detail.content.status.code
    assert (type(code_value), code_value) == (int, 200)
    assert event == BankTransactionStatusChangedV1Event.parse(raw)


@pytest.mark.parametrize("form", ["bytes", "dict"])
@pytest.mark.parametrize("code", ["200.5", "1e19", "2e-1"])
def test_a_fractional_or_too_large_float_is_still_refused_with_its_path(
    form: str, code: str
) -> None:
    """200.5 and 0.2 (not integral) and 1e19 (past int64) are refused at the field."""
    text = status_text(code)
    raw: Any = text.encode() if form == "bytes" else json.loads(text)
    with pytest.raises(EventValidationError) as caught:
        parse_event(raw)
    assert caught.value.path == "$.detail.content.status.code"


def test_a_later_invalid_field_is_reported_after_an_integral_float() -> None:
    """An integral float first and an invalid enum later: the enum is what is refused."""
    document = envelope_of(3)
    document["detail"]["content"]["status"]["code"] = 200.0
    document["detail"]["content"]["deletionStatus"]["new"] = "mauve"
    with pytest.raises(EventValidationError) as caught:
        parse_event(json.dumps(document))
    assert caught.value.path == "$.detail.content.deletionStatus.new"


def test_metadata_floats_stay_floats_when_an_int_field_is_fixed() -> None:
    """Only the refused int field changes: a 1.0 in metadata stays the float 1.0."""
    document = envelope_of(3)
    document["detail"]["content"]["status"]["code"] = 200.0
    document["detail"]["metadata"] = {"ratio": 1.0}
    event = parse_event(json.dumps(document))
    assert type(event.detail.metadata["ratio"]) is float


def test_parse_detail_takes_an_integral_float() -> None:
    """<Event>.parse_detail (what the local hub validates with) takes 200.0 as 200."""
    detail = envelope_of(3)["detail"]
    detail["content"]["status"]["code"] = 200.0
    for raw in (detail, json.dumps(detail)):
        parsed = BankTransactionStatusChangedV1Event.parse_detail(raw)
        assert parsed.content.status.code == 200  # type: ignore[attr-defined]


def test_bank_test_sample_still_parses_from_a_dict() -> None:
    """The plain case is unchanged: a valid dict envelope parses to its typed event."""
    event = parse_event(envelope_of(0))
    assert isinstance(event, BankTestCreatedV1Event)
    assert event == parse_event(json.dumps(envelope_of(0)))
