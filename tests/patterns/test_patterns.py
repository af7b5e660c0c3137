"""tfso_events.patterns: inputs, explanations, refusals, robustness and its import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfso_events import InvalidPatternError, event_pattern
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event
from tfso_events.patterns import compile_pattern, matches
from tfso_events.testing import build

PATTERN = {
    "source": ["com.24sevenoffice.banktransfer"],
    "detail": {"content": {"status": {"code": [{"numeric": [">=", 1]}]}}},
}


def test_envelope_as_dict_bytes_and_text_match_alike() -> None:
    """An envelope matches the same whether given as a dict, JSON bytes or JSON text."""
    envelope = {
        "source": "com.24sevenoffice.banktransfer",
        "detail": {"content": {"status": {"code": 2}}},
    }
    compiled = compile_pattern(json.dumps(PATTERN))
    text = json.dumps(envelope)
    assert [compiled.matches(e) for e in (envelope, text, text.encode())] == [True] * 3
    envelope["detail"]["content"]["status"]["code"] = 0
    text = json.dumps(envelope)
    assert [compiled.matches(e) for e in (envelope, text, text.encode())] == [False] * 3


def test_typed_event_is_matched_by_its_envelope() -> None:
    """A typed event matches through the envelope it is delivered in (source, type, detail)."""
    event = build(BankTransactionDeletedV1Event, content__status__code=3)
    compiled = compile_pattern({**event_pattern(BankTransactionDeletedV1Event), **PATTERN})
    assert compiled.matches(event)
    assert not compiled.matches(build(BankTransactionDeletedV1Event, content__status__code=0))
    assert compile_pattern({"version": ["0"], "resources": [{"exists": False}]}).matches(event)


def test_explain_names_path_value_and_pattern() -> None:
    """explain() says which field failed, with the value found and the pattern it failed."""
    compiled = compile_pattern(PATTERN)
    event = {
        "source": "com.24sevenoffice.banktransfer",
        "detail": {"content": {"status": {"code": 0}}},
    }
    assert compiled.explain(event) == (
        '$.detail.content.status.code: 0 does not match [{"numeric":[">=",1]}]'
    )
    assert compiled.explain({"source": "x", "detail": {"content": {"status": {"code": 1}}}}) == (
        '$.source: "x" does not match ["com.24sevenoffice.banktransfer"]'
    )
    missing = {"source": "com.24sevenoffice.banktransfer", "detail": {}}
    assert compiled.explain(missing) == (
        "$.detail.content.status.code: the event has no such field "
        '(pattern: [{"numeric":[">=",1]}])'
    )
    assert compiled.explain(b"not json").startswith("the event is not JSON")
    assert (
        compiled.explain(
            {
                "source": "com.24sevenoffice.banktransfer",
                "detail": {"content": {"status": {"code": 1}}},
            }
        )
        is None
    )


def test_explain_object_where_a_value_is_wanted() -> None:
    """explain() says when the pattern points at an object (patterns match leaf values only)."""
    reason = compile_pattern({"detail": [{"exists": True}]}).explain({"detail": {"a": 1}})
    assert reason is not None
    assert "leaf values only" in reason


def test_explain_array_elements_and_or_branches() -> None:
    """explain() names fields matched only in different array elements, and each $or branch."""
    compiled = compile_pattern({"d": {"a": ["1"], "b": ["2"]}})
    reason = compiled.explain({"d": [{"a": "1"}, {"b": "2"}]})
    assert reason is not None
    assert reason.startswith("$.d.a, $.d.b: each matches, but not within the same element")
    either = compile_pattern({"$or": [{"a": ["x"]}, {"b": [{"prefix": "y"}]}]})
    assert either.explain({"a": "z", "b": "z"}) == (
        "none of the 2 branches of $or matches:\n"
        '  1. $.a: "z" does not match ["x"]\n'
        '  2. $.b: "z" does not match [{"prefix":"y"}]'
    )


@pytest.mark.parametrize(
    ("pattern", "path", "rule"),
    [
        (
            {"detail": {"amount": [{"numeric": [">", "5"]}]}},
            "$.detail.amount[0].numeric[1]",
            "Value of > must be numeric",
        ),
        (
            {"detail": {"amount": [{"numeric": [">", 5, "<", 1]}]}},
            "$.detail.amount[0].numeric",
            "Bottom must be less than top",
        ),
        ({"a": "x"}, "$.a", '"a" must be an object or an array'),
        ({"a": []}, "$.a", "Empty arrays are not allowed"),
        ({"a": [{"regex": "x"}]}, "$.a[0].regex", "Unrecognized match type regex"),
        (
            {"a": [{"wildcard": "a**"}]},
            "$.a[0].wildcard",
            "Consecutive wildcard characters at pos 2",
        ),
        ({"a": [{"anything-but": ["x", 1]}]}, "$.a[0].anything-but", "mixed type is not supported"),
        ({"a": [{"cidr": "10.0.0.0/32"}]}, "$.a[0].cidr", "IPv4 mask bits must be < 32"),
        (
            {"a": [{"prefix": "x", "suffix": "y"}]},
            "$.a[0]",
            "Only one key allowed in match expression",
        ),
        ({"x": {"$or": [{"a": ["1"]}]}}, "$.x.$or", "at least 2 Objects"),
    ],
)
def test_refusals_name_the_path_and_the_rule(pattern: Any, path: str, rule: str) -> None:
    """InvalidPatternError names the place in the pattern and the rule EventBridge enforces."""
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(pattern)
    assert caught.value.path == path
    assert rule in caught.value.rule
    assert path in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_refuses_a_pattern_whose_or_branches_multiply_past_1000() -> None:
    """$or branches multiply; past 1000 combinations the pattern is refused (EventBridge's
    "rule is too complex"), at once rather than after building them all."""
    eleven = {"$or": [{f"a{i}": ["x"]} for i in range(11)]}
    compile_pattern({"p0": eleven, "p1": eleven})  # 121 combinations
    with pytest.raises(InvalidPatternError, match="more than 1000 combinations"):
        compile_pattern({f"p{j}": eleven for j in range(6)})


def test_refuses_json_that_is_not_an_object() -> None:
    """A pattern that is not a JSON object, or not JSON at all, is refused."""
    for bad in ("[1]", "{", b"null"):
        with pytest.raises(InvalidPatternError):
            compile_pattern(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)
    ),
    max_leaves=25,
)

EVERY_OPERATOR = {
    "a": ["x", 1, True, None, {"prefix": "a"}, {"suffix": {"equals-ignore-case": "B"}}],
    "b": [
        {"anything-but": {"wildcard": "*c*"}},
        {"numeric": [">", 0, "<=", 9]},
        {"cidr": "10.0.0.0/8"},
    ],
    "c": {"d": [{"exists": False}, {"equals-ignore-case": "Q"}, {"anything-but": [1, 2]}]},
    "$or": [{"d": [{"exists": True}]}, {"a": {"b": [{"wildcard": "*"}]}}],
}


@settings(max_examples=300, deadline=None)
@given(event=json_values, raw=st.binary(max_size=20))
def test_matcher_never_raises(event: object, raw: bytes) -> None:
    """Whatever the event (any JSON, NaN, nested arrays, non-JSON bytes), matching gives a bool."""
    compiled = compile_pattern(EVERY_OPERATOR)
    for candidate in (event, {"a": event, "b": event, "c": {"d": event}}, raw):
        assert compiled.matches(candidate) in (True, False)
        explanation = compiled.explain(candidate)
        assert explanation is None or isinstance(explanation, str)


def test_matcher_takes_odd_python_values() -> None:
    """Non-JSON Python values in a dict event exist, and match only exists/anything-but."""
    assert matches({"a": [{"exists": True}]}, {"a": {1, 2}})
    assert matches({"a": [{"anything-but": "x"}]}, {"a": object()})
    assert not matches({"a": ["x"]}, {"a": [b"x"]})
    assert not compile_pattern({"a": ["x"]}).matches(42)


def test_loads_msgspec_only() -> None:
    """Importing tfso_events.patterns and matching loads no I/O stack (aiohttp, boto, authlib)."""
    code = (
        "import sys\n"
        "from tfso_events.patterns import compile_pattern\n"
        "assert compile_pattern({'a': [{'prefix': 'x'}]}).matches(b'{\"a\": \"xy\"}')\n"
        "heavy = {'aioboto3', 'aiobotocore', 'botocore', 'boto3', 'aiohttp', 'authlib',"
        " 'joserfc'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
