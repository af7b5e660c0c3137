"""parse_event(dict) takes a fast way (the dict written into a per-thread buffer, decoded
into the class its detail-type names), and it must answer exactly what the bytes parser
answers on the JSON text the dict stands for (``mapping_json``): the same event, or the
same refusal with the same path and reason. A differential over generated envelopes,
hostile and Python-only values included, plus the thread and timestamp corners of it.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfso_events import EventValidationError, UnknownEventTypeError, parse_event
from tfso_events.catalog import event_classes
from tfso_events.examples import sample_events
from tfso_events.models._base import mapping_json
from tfso_events.testing import event_strategy


def envelope_of(event: Any, **head: Any) -> dict[str, Any]:
    """The EventBridge envelope of ``event`` as json.loads gives it to a Lambda handler."""
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
        **head,
    }


def outcome(raw: Any, *, strict: bool = False) -> tuple[str, Any, Any]:
    """("event", the event, None) or ("refused", its class, path and reason)."""
    try:
        return ("event", parse_event(raw, strict=strict), None)
    except EventValidationError as exc:
        return ("refused", type(exc), (exc.path, exc.reason))


class _Colour(StrEnum):
    Red = "Red"


# Values a dict can hold and a JSON text cannot, or can only in another form.
HOSTILE = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        "\ud800",
        "a\udfffb",
        2**63,
        2**64,
        2**70,
        100.0,
        100.5,
        -0.0,
        None,
        True,
        (1, 2),
        {1: "int key"},
        {"a": {2.5: "float key"}},
        Decimal("1.10"),
        Decimal("NaN"),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1),
        _Colour.Red,
        b"bytes",
        object(),
        "Red",
        "2024-01-01T00:00:00Z",
        "NaN",
        "Infinity",
        [],
        {},
    ]
)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
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


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A generated valid event's envelope, with up to three values replaced (or keys
    added, or deleted) by hostile, Python-only or plain values."""
    cls = draw(st.sampled_from(event_classes()))
    document: Any = envelope_of(draw(event_strategy(cls)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        value = draw(HOSTILE | PLAIN)
        action = draw(st.sampled_from(["replace", "add", "delete"]))
        parent_path, target = path[:-1], None
        if path:
            target = document
            for key in parent_path:
                target = target[key]
        if action == "add" and isinstance(_at(document, path), dict):
            key = draw(st.text(max_size=4) | st.sampled_from(["\udfff", 7, "timestamp"]))
            document = _replaced(document, path, {**_at(document, path), key: value})
        elif action == "delete" and path and isinstance(target, dict):
            document = _replaced(
                document, parent_path, {k: v for k, v in target.items() if k != path[-1]}
            )
        else:
            document = _replaced(document, path, value)
    return document  # type: ignore[no-any-return]


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.booleans())
def test_dict_answers_what_the_bytes_it_stands_for_answer(document: Any, strict: bool) -> None:
    """For any generated envelope dict, parse_event(dict) and parse_event(mapping_json(dict))
    give equal events or the same refusal (class, path, reason), strict or not."""
    if not isinstance(document, dict):
        return
    before = repr(document)
    data = mapping_json(document)
    on_dict = outcome(document, strict=strict)
    assert repr(document) == before  # the caller's dict is left as it was
    if data is None:  # values JSON cannot carry: converted, by the same code as before
        return
    assert on_dict == outcome(data, strict=strict)


def test_every_sample_event_parses_from_its_dict_as_from_its_bytes() -> None:
    """The four catalog events, metadata null and an unknown detail-type included: the
    dict and the bytes give equal results."""
    samples = [envelope_of(event) for event in sample_events()]
    samples.append({**samples[1], "detail": {**samples[1]["detail"], "metadata": None}})
    samples.append({**samples[0], "detail-type": "bank.future:thing@v9"})
    for document in samples:
        on_dict = outcome(document)
        assert on_dict[0] == "event"
        assert on_dict == outcome(json.dumps(document).encode())
    assert parse_event(samples[4]).detail.metadata == {}


def test_an_unknown_detail_type_in_a_dict_is_refused_under_strict() -> None:
    """strict=True refuses a dict's unknown detail-type as it refuses the bytes'."""
    document = {**envelope_of(sample_events()[0]), "detail-type": "bank.future:thing@v9"}
    for raw in (document, json.dumps(document).encode()):
        with pytest.raises(UnknownEventTypeError) as caught:
            parse_event(raw, strict=True)
        assert caught.value.path == "$.detail-type"


def test_dicts_parsed_on_many_threads_at_once_give_their_own_events() -> None:
    """Each thread writes dicts into its own buffer: with a switch every microsecond,
    eight threads parsing different envelopes each get exactly their own events."""
    documents = [
        envelope_of(event, id=f"e-{n}-{i}")
        for n, event in enumerate(sample_events())
        for i in range(4)
    ]
    expected = [parse_event(json.dumps(d).encode()) for d in documents]
    failures: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(60):
            index = (offset + round_) % len(documents)
            if parse_event(documents[index]) != expected[index]:
                failures.append(f"thread {offset} round {round_}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_a_callers_default_made_timestamp_object_is_not_taken_for_a_missing_one() -> None:
    """A dict carrying, as a datetime object, the very timestamp this thread's last built
    event was given by default (it goes the convert way: a value JSON cannot carry) parses
    as that timestamp; it is not refused as a missing one."""
    template = sample_events()[1]
    built = type(template)(detail=type(template.detail)(content=template.detail.content))
    document = envelope_of(template)
    document["detail"]["timestamp"] = built.detail.timestamp  # the default just made
    document["unused"] = object()  # JSON cannot carry it: msgspec.convert reads the dict
    assert mapping_json(document) is None
    event = parse_event(document)
    assert event.detail.timestamp == built.detail.timestamp


def test_a_detail_without_timestamp_is_refused_after_an_event_was_built() -> None:
    """Building an event (its timestamp made by default) and then parsing a dict whose
    detail has no timestamp: refused at $.detail.timestamp, on the fast way too."""
    template = sample_events()[2]
    type(template)(detail=type(template.detail)(content=template.detail.content))
    document = envelope_of(template)
    del document["detail"]["timestamp"]
    refused = outcome(document)
    assert refused[:2] == ("refused", EventValidationError)
    assert refused[2][0] == "$.detail.timestamp"


def test_a_null_nested_past_the_recursion_limit_parses_as_its_text() -> None:
    """A dict whose metadata holds a null 900 lists deep (past Python's recursion limit,
    within msgspec's) parses to the event its text gives, not a RecursionError."""
    document = envelope_of(sample_events()[1])
    node: Any = None
    for _ in range(900):
        node = [node]
    document["detail"]["metadata"] = {"deep": node}
    text = json.dumps(document).encode()
    assert outcome(document) == outcome(text)
    assert outcome(document)[0] == "event"
