"""A stricter twin of a Struct type: what its encoder can write, and nothing more.

A Struct with ``omit_defaults=True`` (every ``EventContent``) never writes a field
whose value is its default ``None``. So where such a field is ``T | None = None``, a
``null`` on the wire was not written for ``None``: msgspec writes a float NaN or
infinity as ``null``, and that is the only way one gets there. A decoder of the twin,
where those fields are ``T`` (still optional), refuses that ``null`` instead of reading
it back as an absent field, which is what ``detail_json()`` needs to know without
scanning the JSON for ``null``.

:func:`strict_twin` also says whether a ``null`` can still pass the twin anywhere (a
``None`` inside a list, an ``Any``, a type it does not know): then the caller keeps
looking for a NaN the slow way.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from typing import Annotated, Any, Literal

import msgspec

__all__ = ["strict_twin"]

# Types that never decode from ``null``: a NaN written in their place is refused.
_NEVER_NULL: frozenset[object] = frozenset(
    {
        str,
        int,
        float,
        bool,
        bytes,
        bytearray,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        decimal.Decimal,
        uuid.UUID,
    }
)
_CONTAINERS: frozenset[object] = frozenset({list, set, frozenset, tuple, dict})


@dataclasses.dataclass
class _Twins:
    """Struct twins built so far (one per Struct class, shared by every place that
    names it) and whether a ``null`` can pass any of them."""

    built: dict[type[msgspec.Struct], type[msgspec.Struct]] = dataclasses.field(
        default_factory=dict
    )
    pending: set[type[msgspec.Struct]] = dataclasses.field(default_factory=set)
    null_passes: bool = False


def strict_twin(tp: Any) -> tuple[Any, bool]:
    """``tp`` with every ``X | None = None`` field of an ``omit_defaults`` Struct in it
    (at any depth) read as ``X``; and whether a ``null`` can still decode somewhere in
    it (True when unsure). Everything else (names, constraints, tags, enums) is kept,
    so the twin accepts exactly what ``tp`` accepts, less those ``null``s."""
    twins = _Twins()
    return _twin(tp, twins), twins.null_passes


def _twin(tp: Any, twins: _Twins) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *metas = typing.get_args(tp)
        return Annotated[(_twin(inner, twins), *metas)]
    if origin is typing.Union or origin is types.UnionType:
        return _union([_twin(member, twins) for member in typing.get_args(tp)])
    if origin in _CONTAINERS:
        args = typing.get_args(tp)
        if not args:  # a bare ``list``: items of any type, null included
            twins.null_passes = True
            return tp
        return origin[tuple(arg if arg is Ellipsis else _twin(arg, twins) for arg in args)]
    if origin is Literal:
        if None in typing.get_args(tp):
            twins.null_passes = True
        return tp
    if origin is None and isinstance(tp, type):
        if issubclass(tp, msgspec.Struct):
            return _struct(tp, twins)
        if tp in _NEVER_NULL or issubclass(tp, enum.Enum):
            return tp
    # None itself, Any, msgspec.Raw, a generic Struct, a dataclass, a TypedDict...:
    # kept as it is, and a NaN hidden there is the caller's to find.
    twins.null_passes = True
    return tp


def _union(members: list[Any]) -> Any:
    return typing.Union[tuple(members)]  # noqa: UP007 (a Union built from a list)


def _struct(cls: type[msgspec.Struct], twins: _Twins) -> Any:
    if cls in twins.built:
        return twins.built[cls]
    config = cls.__struct_config__
    # Kept as it is: a recursive Struct, a positional one, and one with __post_init__
    # (a decode into it runs that check; a twin would not)
    if cls in twins.pending or config.array_like or hasattr(cls, "__post_init__"):
        twins.null_passes = True
        return cls
    twins.pending.add(cls)
    fields = []
    for field in msgspec.structs.fields(cls):
        tp = field.type
        if config.omit_defaults and field.default is None:
            tp = _without_none(tp)
            if tp is None:  # declared ``None`` only: nothing to tighten
                twins.null_passes = True
                tp = field.type
        tp = _twin(tp, twins)
        required = field.required
        # The twin only validates: a missing field's value is never used, so no
        # default_factory runs.
        fields.append((field.name, tp) if required else (field.name, tp, None))
    twin = msgspec.defstruct(
        f"_Strict{cls.__name__}",
        fields,
        kw_only=True,
        rename={field.name: field.encode_name for field in msgspec.structs.fields(cls)},
        tag=config.tag,
        tag_field=config.tag_field,
        forbid_unknown_fields=config.forbid_unknown_fields,
        gc=False,
    )
    twins.pending.discard(cls)
    twins.built[cls] = twin
    return twin


def _without_none(tp: Any) -> Any:
    """``tp`` less ``None`` (inside ``Annotated`` too); None when nothing is left."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *metas = typing.get_args(tp)
        rest = _without_none(inner)
        return None if rest is None else Annotated[(rest, *metas)]
    if origin is typing.Union or origin is types.UnionType:
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        return _union(members) if members else None
    return None if tp is type(None) or tp is None else tp
