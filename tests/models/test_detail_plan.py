"""detail_json()'s per-class plan against the general path: the same bytes or the same error.

The plan (``_Plan`` in ``tfso_events/models/_base.py``) takes the common case (plain
metadata, date-times in UTC, a detail that validates) on a shorter road; anything else
goes to ``_checked_json``, the general path, which checks every value as before. This
differential fuzz generates valid and invalid details (NaN/Infinity anywhere, keys that
are not strings, naive and aware date-times, nested metadata, wrong types) and requires
``event.detail_json()`` to equal ``_checked_json(event)``: the same bytes, or the same
error with the same path and reason.
"""

from __future__ import annotations

import copy
import enum
import random
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

import msgspec
import pytest

from tfso_events import EventValidationError, TfsoEvent
from tfso_events.examples import sample_events
from tfso_events.models import _base
from tfso_events.models._base import (
    AwareDatetime,
    EventContent,
    EventDetail,
    Int64,
    _checked_json,
)
from tfso_events.models._strict import strict_twin

#: How many generated details the differential test compares (seeded: reproducible).
CASES = 10_000
SEED = 29


# -- event classes with the shapes the catalog lacks -------------------------------------


class _Child(EventContent):
    when: AwareDatetime
    score: float | None = None
    amount: Decimal | None = None


class _NestedContent(EventContent):
    """Date-times in an optional object and at the top, optional floats and Decimals,
    a list of ints: a plan without a null scan."""

    name: str
    codes: list[Int64] = msgspec.field(default_factory=list)
    seen: AwareDatetime | None = None
    child: _Child | None = None
    ratio: float | None = None


class _NestedDetail(EventDetail):
    content: _NestedContent


class _NestedEvent(TfsoEvent, tag="fuzz.plan:nested@v1"):
    source: ClassVar[str] = "com.24sevenoffice.fuzz"
    detail_type: ClassVar[str] = "fuzz.plan:nested@v1"
    module: ClassVar[str] = "fuzz"

    detail: _NestedDetail


class _NullableContent(EventContent):
    """Lists that may hold null: a null passes the strict validator there, so the plan
    scans the JSON for one."""

    values: list[float | None] = msgspec.field(default_factory=list)
    labels: list[str | None] | None = None


class _NullableDetail(EventDetail):
    content: _NullableContent


class _NullableEvent(TfsoEvent, tag="fuzz.plan:nullable@v1"):
    source: ClassVar[str] = "com.24sevenoffice.fuzz"
    detail_type: ClassVar[str] = "fuzz.plan:nullable@v1"
    module: ClassVar[str] = "fuzz"

    detail: _NullableDetail


class _ListedContent(EventContent):
    """Date-times inside a list: out of reach of an attribute path, so no plan."""

    stamps: list[AwareDatetime] = msgspec.field(default_factory=list)


class _ListedDetail(EventDetail):
    content: _ListedContent


class _ListedEvent(TfsoEvent, tag="fuzz.plan:listed@v1"):
    source: ClassVar[str] = "com.24sevenoffice.fuzz"
    detail_type: ClassVar[str] = "fuzz.plan:listed@v1"
    module: ClassVar[str] = "fuzz"

    detail: _ListedDetail


class _Key(enum.StrEnum):
    TENANT = "tenant"


# -- the generator -------------------------------------------------------------------------

_NAIVE = datetime(2024, 5, 1, 12, 0)
_ZONES = [
    UTC,
    timezone(timedelta(0), "GMT"),  # a zero offset that is not UTC itself
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5, minutes=-30, seconds=-15)),
]


def _when(rng: random.Random) -> datetime:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(10**8), microseconds=rng.randrange(10**6)
    )
    zone = rng.choice(_ZONES) if rng.random() < 0.4 else UTC
    return moment.astimezone(zone)


def _odd_value(rng: random.Random) -> Any:
    """A value that may or may not belong where it is put."""
    return rng.choice(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            Decimal("NaN"),
            Decimal("-Infinity"),
            Decimal("12.50"),
            None,
            "text",
            "null",
            "",
            0,
            -1,
            2**64,
            True,
            1.5,
            _NAIVE,
            _when(rng),
            [],
            [float("nan")],
            ["a", None],
            {},
            {"k": float("inf")},
            (1, 2),
            object(),
            _Key.TENANT,
        ]
    )


def _json_value(rng: random.Random, depth: int, odd: float) -> Any:
    roll = rng.random()
    if roll < odd:
        return _odd_value(rng)
    if depth < 3 and roll < 0.25:
        return _metadata_dict(rng, depth + 1, odd)
    if depth < 3 and roll < 0.35:
        return [_json_value(rng, depth + 1, odd) for _ in range(rng.randrange(4))]
    return rng.choice(
        [
            f"auth0|{rng.randrange(10**8):08d}",
            rng.randrange(-(2**40), 2**40),
            rng.random() * 1e6,
            rng.choice([True, False, None]),
            "null",
            "ünïcødé ✓",
        ]
    )


def _key(rng: random.Random, odd: float) -> Any:
    if rng.random() < odd:
        return rng.choice([1, 2.5, True, None, (1, 2), _Key.TENANT, "1"])
    return rng.choice(["correlationId", "tenant", "userId", "traceId", "a", "b", "n"])


def _metadata_dict(rng: random.Random, depth: int, odd: float) -> dict[Any, Any]:
    return {_key(rng, odd): _json_value(rng, depth, odd) for _ in range(rng.randrange(6))}


def _realistic(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "correlationId": f"3f1c2a9e-8d4b-4c55-9a0e-{i:012d}",
        "tenant": {"id": 693081080913543, "license": "1198", "region": "eu-west-1"},
        "userId": f"auth0|{i:08d}",
        "traceId": f"1-5759e988-bd862e3fe1be46a9{i:08x}",
    }


def _metadata(rng: random.Random, i: int, odd: float) -> Any:
    roll = rng.random()
    if roll < 0.25:
        return {}
    if roll < 0.45:
        return _realistic(rng, i)
    if roll < 0.48:
        return None  # set after it was built
    if roll < 0.51:
        return rng.choice(
            [
                OrderedDict(a=1),
                MappingProxyType({"a": 1}),
                [1, 2],
                "metadata",
                {"deep": _deep(1100)},
            ]
        )
    return _metadata_dict(rng, 0, odd)


def _deep(levels: int) -> Any:
    node: Any = 1
    for _ in range(levels):
        node = {"n": node}
    return node


def _structs(value: Any) -> list[msgspec.Struct]:
    """Every Struct in ``value``'s content, for a mutation to pick from."""
    found = [value]
    for name in value.__struct_fields__:
        child = getattr(value, name)
        if isinstance(child, msgspec.Struct):
            found += _structs(child)
    return found


def _base_events(rng: random.Random, i: int) -> TfsoEvent:
    """A valid event of one of the classes under test, with varied values."""
    kind = rng.randrange(7)
    if kind < 4:
        event = copy.deepcopy(sample_events()[kind])
        content = event.detail.content
        for name in content.__struct_fields__:
            value = getattr(content, name)
            if isinstance(value, str) and rng.random() < 0.5:
                setattr(content, name, f"{value}-{i}")
            elif isinstance(value, datetime):
                setattr(content, name, _when(rng))
        if hasattr(content, "age") and rng.random() < 0.5:
            content.age = rng.choice([None, 41.5, 0.0, 1e300])
        if hasattr(content, "address") and rng.random() < 0.3:
            content.address = None
        return event
    if kind == 4:
        child = _Child(when=_when(rng), score=rng.choice([None, 0.5]), amount=Decimal("1.25"))
        return _NestedEvent(
            detail=_NestedDetail(
                content=_NestedContent(
                    name=f"n{i}",
                    codes=[rng.randrange(100) for _ in range(rng.randrange(3))],
                    seen=rng.choice([None, _when(rng)]),
                    child=rng.choice([None, child]),
                    ratio=rng.choice([None, 2.5]),
                )
            )
        )
    if kind == 5:
        return _NullableEvent(
            detail=_NullableDetail(
                content=_NullableContent(
                    values=[rng.choice([1.0, None, 2.5]) for _ in range(rng.randrange(3))],
                    labels=rng.choice([None, ["x", None], ["null"]]),
                )
            )
        )
    return _ListedEvent(
        detail=_ListedDetail(content=_ListedContent(stamps=[_when(rng), _when(rng)]))
    )


def _case(rng: random.Random, i: int) -> TfsoEvent:
    event = _base_events(rng, i)
    detail = event.detail
    odd = rng.choice([0.0, 0.0, 0.02, 0.1])
    detail.timestamp = _when(rng) if rng.random() > 0.03 else rng.choice([_NAIVE, "2024"])
    detail.metadata = _metadata(rng, i, odd)
    if isinstance(detail, _NullableDetail) and rng.random() < 0.2:  # where a null passes
        detail.content.values.append(rng.choice([float("nan"), None]))
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):  # mutations of the content
        target = rng.choice(_structs(detail.content))
        setattr(target, rng.choice(target.__struct_fields__), _odd_value(rng))
    if rng.random() < 0.01:  # another event's detail
        event = msgspec.structs.replace(event, detail=sample_events()[1].detail)
    return event


def _outcome(fn: Callable[[], bytes]) -> tuple[str, Any]:
    try:
        return "bytes", fn()
    except EventValidationError as exc:
        return "refused", (exc.path, exc.reason, exc.detail_type)
    except Exception as exc:  # any other error must match too
        return type(exc).__name__, str(exc)


# -- the tests ---------------------------------------------------------------------------


def test_plan_and_general_path_agree_on_generated_details(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For 10,000 generated details (valid and invalid), detail_json() gives the same
    bytes as the general path, or the same error with the same path and reason; and
    the plan, not the general path, handled most valid ones."""
    handed_off = 0

    def general(event: TfsoEvent) -> bytes:
        nonlocal handed_off
        handed_off += 1
        return _checked_json(event)

    def reference(event: TfsoEvent) -> bytes:
        # The general path with its key check by isinstance alone: its fast check is
        # the plan's own metadata walk, which must not be compared with itself.
        monkeypatch.setattr(_base, "_plain_object", lambda node: False)
        try:
            return _checked_json(event)
        finally:
            monkeypatch.setattr(_base, "_plain_object", plain_object)

    plain_object = _base._plain_object
    monkeypatch.setattr(_base, "_checked_json", general)  # counts the plan's hand-offs
    rng = random.Random(SEED)
    tally = {"bytes": 0, "refused": 0, "planned": 0}
    for i in range(CASES):
        event = _case(rng, i)
        before = handed_off
        planned = _outcome(event.detail_json)
        general_outcome = _outcome(lambda event=event: reference(event))  # type: ignore[misc]
        assert planned == general_outcome, f"case {i}: {event!r}"
        tally[planned[0] if planned[0] in tally else "refused"] += 1
        if handed_off == before:
            tally["planned"] += 1
    # The generator reaches both sides, and the plan is what handles the common case.
    assert tally["bytes"] > CASES // 3, tally
    assert tally["refused"] > CASES // 5, tally
    assert tally["planned"] > tally["bytes"] // 2, tally


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("ratio", float("nan"), "$.content.ratio"),
        ("seen", float("inf"), "$.content.seen"),
        ("name", float("-inf"), "$.content.name"),
    ],
)
def test_a_nan_the_strict_validator_refuses_is_named_by_path(
    field: str, value: float, path: str
) -> None:
    """A float NaN/inf in a content field, optional or not, is refused with its path
    (the strict validator refuses its null; the general path names it)."""
    event = _NestedEvent(detail=_NestedDetail(content=_NestedContent(name="n"), metadata={"a": 1}))
    setattr(event.detail.content, field, value)
    with pytest.raises(EventValidationError) as info:
        event.detail_json()
    assert info.value.path == path
    assert "finite" in info.value.reason


def test_a_nan_where_a_null_passes_is_still_refused() -> None:
    """A NaN in a list that may hold null (the strict validator lets the null pass) is
    refused by the plan's null scan, with its path."""
    event = _NullableEvent(
        detail=_NullableDetail(content=_NullableContent(values=[1.0, None, float("nan")]))
    )
    with pytest.raises(EventValidationError) as info:
        event.detail_json()
    assert info.value.path == "$.content.values[2]"


def test_strict_twin_reads_omitted_optionals_as_required_types() -> None:
    """The twin of an omit_defaults Struct refuses null where the field defaults to None
    (at any depth), accepts the field's absence, and says a null can pass where a list
    item or an Any may be None."""
    twin, nulls_pass = strict_twin(_NestedContent)
    decoder = msgspec.json.Decoder(twin)
    decoder.decode(b'{"name":"n","child":{"when":"2024-01-01T00:00:00Z"}}')
    for document in (
        b'{"name":"n","ratio":null}',
        b'{"name":"n","child":{"when":"2024-01-01T00:00:00Z","score":null}}',
    ):
        with pytest.raises(msgspec.ValidationError, match="got `null`"):
            decoder.decode(document)
    assert nulls_pass is False
    assert strict_twin(_NullableContent)[1] is True
    assert strict_twin(dict[str, Any])[1] is True


def test_strict_twin_keeps_names_constraints_and_tags() -> None:
    """The twin keeps wire names, constraints (int64 bounds, tz-awareness) and a tagged
    Struct's tag, so it refuses what the original refuses."""

    class Tagged(msgspec.Struct, tag_field="kind", tag="t", omit_defaults=True):
        n: Int64
        at: AwareDatetime | None = None

    twin, _ = strict_twin(Tagged)
    decoder = msgspec.json.Decoder(twin)
    decoder.decode(b'{"kind":"t","n":1}')
    for document, message in (
        (b'{"kind":"t","n":9223372036854775808}', "<= 9223372036854775807"),
        (b'{"kind":"t","n":1,"at":"2024-01-01T00:00:00"}', "timezone"),
        (b'{"kind":"u","n":1}', "Invalid value 'u'"),
    ):
        with pytest.raises(msgspec.ValidationError, match=message):
            decoder.decode(document)


def test_strict_twin_keeps_a_struct_with_post_init_as_it_is() -> None:
    """A Struct with __post_init__ is not twinned (a decode into it runs its check, as
    the general path's decode does), and the plan then scans for nulls."""

    class Checked(msgspec.Struct, omit_defaults=True):
        n: int
        note: str | None = None

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("n must not be negative")

    twin, nulls_pass = strict_twin(list[Checked])
    assert twin == list[Checked]
    assert nulls_pass is True
    with pytest.raises(msgspec.ValidationError, match="negative"):
        msgspec.json.Decoder(twin).decode(b'[{"n":-1}]')
