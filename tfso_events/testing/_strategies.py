"""Hypothesis strategies: ``event_strategy(EventClass)`` draws valid events of that class.

Built from the event's own types (``msgspec.inspect``), so a new event class needs
nothing here: strings, integers within 64 bits, finite floats and decimals, enums,
timezone-aware date-times (UTC and fixed offsets), lists, nested objects, and every
optional field both present and absent; ``metadata`` gets JSON-like values. Importing
this module imports hypothesis (only a dev dependency of yours).
"""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import msgspec.inspect as mi
from hypothesis import strategies as st

from tfso_events.models._base import TfsoEvent

__all__ = ["event_strategy"]

E = TypeVar("E", bound=TfsoEvent)

_INT64 = (-(2**63), 2**63 - 1)
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
_DATETIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=_ZONES
)
_DECIMALS = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), allow_nan=False, places=4
)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_JSON_SCALARS = st.none() | st.booleans() | st.integers(*_INT64) | _FLOATS | _TEXT
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_METADATA = st.dictionaries(_TEXT, _JSON, max_size=5)


def event_strategy(cls: type[E]) -> st.SearchStrategy[E]:
    """A strategy of valid ``cls`` events (a ``<Name>Event`` class)::

        @given(event_strategy(BankTransactionCreatedV1Event))
        def test_handler_books_every_transaction(event): ...

    Every drawn event passes ``event.validate()`` and survives the wire unchanged.
    """
    if not (isinstance(cls, type) and issubclass(cls, TfsoEvent)) or cls is TfsoEvent:
        raise TypeError(
            f"event_strategy() needs an event class such as BankTestCreatedV1Event, got {cls!r}"
        )
    detail_cls = cls.detail_class()
    hints = typing.get_type_hints(detail_cls, include_extras=True)
    content = _strategy(mi.type_info(hints["content"]))
    detail = st.builds(
        detail_cls,
        content=content,
        timestamp=_DATETIMES,
        metadata=_METADATA,
    )
    return st.builds(cls, detail=detail)


def _strategy(info: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, mi.Metadata):
        return _strategy(info.type)
    if isinstance(info, mi.StructType):
        required = {f.name: _strategy(f.type) for f in info.fields if f.required}
        optional = {f.name: _strategy(f.type) for f in info.fields if not f.required}
        return st.fixed_dictionaries(required, optional=optional).map(lambda kw: info.cls(**kw))
    if isinstance(info, mi.UnionType):
        return st.one_of([_strategy(member) for member in info.types])
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.StrType):
        return (
            st.text(
                st.characters(exclude_categories=["Cs"]),
                min_size=info.min_length or 0,
                max_size=info.max_length if info.max_length is not None else 24,
            )
            if info.pattern is None
            else st.from_regex(info.pattern, fullmatch=True)
        )
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.IntType):
        low = (
            info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else _INT64[0])
        )
        high = (
            info.le if info.le is not None else (info.lt - 1 if info.lt is not None else _INT64[1])
        )
        return st.integers(low, high)
    if isinstance(info, mi.FloatType):
        return st.floats(
            min_value=info.ge if info.ge is not None else info.gt,
            max_value=info.le if info.le is not None else info.lt,
            exclude_min=info.gt is not None,
            exclude_max=info.lt is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    if isinstance(info, mi.DecimalType):
        return _DECIMALS
    if isinstance(info, mi.DateTimeType):
        return _DATETIMES if info.tz is not False else st.datetimes()
    if isinstance(info, mi.EnumType):
        return st.sampled_from(list(info.cls))
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(list(info.values))
    if isinstance(info, mi.ListType):
        return st.lists(
            _strategy(info.item_type),
            min_size=info.min_length or 0,
            max_size=info.max_length if info.max_length is not None else 3,
        )
    if isinstance(info, mi.DictType):
        return st.dictionaries(_strategy(info.key_type), _strategy(info.value_type), max_size=3)
    if isinstance(info, mi.AnyType):
        return _JSON
    raise TypeError(f"event_strategy(): no strategy for the field type {info!r}")
