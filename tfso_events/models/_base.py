"""Base Structs of every event, and the one encode/validate mechanism they share.

An event has two layers, as on the wire:

* the **envelope** EventBridge wraps around every event on delivery (``id``, ``time``,
  ``account``, ``region``, ``resources``, ``version`` and the ``detail-type`` tag), and
* the **detail** a producer writes: ``content`` (the event's own fields),
  ``timestamp`` and ``metadata``.

msgspec does not validate in ``__init__``; validation is a round trip (encode, then
decode into the declared type), so what we send is exactly what any consumer of this
package can decode. Encoders and decoders are built once and reused.
"""

from __future__ import annotations

import math
import operator
import threading
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

import msgspec
import msgspec.inspect

from tfso_events.errors import EventValidationError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "AwareDatetime",
    "EventContent",
    "EventDetail",
    "Int64",
    "RawEvent",
    "TfsoEvent",
    "UnknownEvent",
    "decode_error",
    "encode",
]

#: A timezone-aware datetime; a naive one is a validation error, never a silent guess.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

#: PutEvents documents JSON integers as signed 64-bit: an ``int`` field is bounded to
#: this range, so a larger value is a validation error with its path, never published.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: An integer in the signed 64-bit range (the schema states ``minimum``/``maximum``).
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]

#: What the parsers accept: the JSON document as bytes or str, or an already-decoded
#: dict (a Lambda handler receives the envelope as a dict).
RawEvent = bytes | bytearray | memoryview | str | Mapping[str, Any]

# Decimals go on the wire as JSON numbers, never strings (the seed's `number(decimal)`).
_ENCODER = msgspec.json.Encoder(decimal_format="number")
encode = _ENCODER.encode


# The default ``timestamp`` is for events built here. Decoding must not use it (a
# consumer would get a time nobody sent), so each thread notes when the default was
# made; a decode that made one read a detail without ``timestamp`` and is refused.
_STAMPS = threading.local()


def _utcnow() -> datetime:
    now = _STAMPS.made = datetime.now(UTC)
    return now


def _watch_default_timestamp() -> None:
    _STAMPS.made = None


def _made_default_timestamp() -> bool:
    return getattr(_STAMPS, "made", None) is not None


def _missing_timestamp(detail_type: str | None, prefix: str = "$") -> EventValidationError:
    return EventValidationError(
        "Object missing required field `timestamp` (a detail without a timestamp is "
        "refused: the package never invents when an event happened)",
        path=f"{prefix}.timestamp",
        detail_type=detail_type,
    )


class EventContent(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    """Base of an event's ``content`` and of the objects nested in it.

    Attributes are snake_case, the wire is camelCase; optional fields default to ``None``
    and are left out of the JSON when ``None``.
    """


class EventDetail(msgspec.Struct, kw_only=True, rename="camel", gc=False):
    """Base of every ``<Name>Detail``: ``content``, ``timestamp`` and ``metadata``.

    All three are always written. On an event you build, ``timestamp`` defaults to now
    (UTC) and ``metadata`` to ``{}``. On an event you parse, ``timestamp`` is required
    (a detail without one is refused with its path; never stamped with the reader's
    clock) and ``"metadata": null`` (what a .NET producer writes for an unset
    dictionary) reads as ``{}``.
    """

    content: EventContent
    timestamp: AwareDatetime = msgspec.field(default_factory=_utcnow)
    if typing.TYPE_CHECKING:
        metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    else:  # null on the wire reads as {} (see __post_init__); the attribute is never None
        metadata: dict[str, Any] | None = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if typing.cast(Any, self.metadata) is None:  # None only at runtime: see above
            self.metadata = {}


class _Envelope(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """The fields EventBridge adds on delivery; ``None``/empty on an event you build.

    Unknown envelope keys are ignored and missing optional ones are ``None``, so
    envelopes from emulators (moto has no ``account``) and replays (``replay-name``)
    parse too.
    """

    id: str | None = None
    version: str | None = None
    time: datetime | None = None
    account: str | None = None
    region: str | None = None
    resources: list[str] = []
    replay_name: str | None = msgspec.field(default=None, name="replay-name")


class TfsoEvent(_Envelope, tag_field="detail-type"):
    """Base of every ``<Name>Event``.

    Class constants: ``source``, ``detail_type`` and ``module`` (also the Auth0 scope
    and the middle of the default bus name ``tfso-{module}-events``).
    """

    source: ClassVar[str]
    detail_type: ClassVar[str]
    module: ClassVar[str]

    detail: EventDetail
    #: The ``source`` the envelope carried (``None`` on an event you build). It differs
    #: from the class constant ``source`` only when a producer sent this detail-type
    #: from another source: see :attr:`source_mismatch`.
    envelope_source: str | None = msgspec.field(default=None, name="source")

    @property
    def source_mismatch(self) -> bool:
        """True when the envelope's ``source`` is not this event's ``source``.

        ``parse_event(..., strict=True)`` refuses such an envelope (path ``$.source``);
        otherwise the event is returned flagged, the real source in
        :attr:`envelope_source`.
        """
        return self.envelope_source is not None and self.envelope_source != self.source

    # -- the wire ------------------------------------------------------------------

    def detail_json(self) -> bytes:
        """Return the detail exactly as it goes on the wire, after validating it.

        Raises :class:`~tfso_events.EventValidationError` naming the field path
        (``$.content.favoriteColor``) when the event does not match its contract.
        """
        codec = _CODECS.get(type(self)) or _codec(type(self))
        detail = self.detail
        if type(detail) is not codec.detail_cls:
            raise EventValidationError(
                f"detail must be a {codec.detail_cls.__name__}, got {type(detail).__name__}",
                path="$",
                detail_type=self.detail_type,
            )
        if codec.datetime_paths is None or codec.datetime_paths:
            # Every date-time goes on the wire in UTC with ``Z`` (as the TS package's
            # toISOString): the exact instant, also of an offset with seconds.
            detail = _in_utc(detail, codec.datetime_paths)
        try:
            data = _ENCODER.encode(detail)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _unencodable(detail, exc, self.detail_type) from None
        except RecursionError as exc:
            raise unreadable(exc, self.detail_type) from None
        try:
            codec.decoder.decode(data)
        except RecursionError as exc:
            raise unreadable(exc, self.detail_type) from None
        except msgspec.DecodeError as exc:
            raise _non_finite(detail, self.detail_type) or decode_error(
                exc, self.detail_type
            ) from None
        # msgspec writes a float NaN/inf as null, which an optional field reads back as
        # None: a silent change. Look closer only where such a float can hide.
        if (detail.metadata or (codec.float_getters and codec.may_hide_nan(detail))) and (
            error := _non_finite(detail, self.detail_type)
        ):
            raise error
        return data

    def validate(self) -> None:
        """Raise :class:`~tfso_events.EventValidationError` if the event is invalid."""
        self.detail_json()

    # -- reading ---------------------------------------------------------------------

    @classmethod
    def detail_class(cls) -> type[EventDetail]:
        """The ``<Name>Detail`` Struct this event carries."""
        return (_CODECS.get(cls) or _codec(cls)).detail_cls

    @classmethod
    def parse(cls, raw: RawEvent, *, strict: bool = False) -> Self:
        """Parse an EventBridge envelope of exactly this event type.

        ``raw`` is bytes, str or a dict (as Lambda hands it). Raises
        :class:`~tfso_events.EventValidationError` with the path when it does not match
        (and, with ``strict=True``, when the envelope's ``source`` is not ``cls.source``;
        otherwise see :attr:`source_mismatch`).
        """
        decoder = _ENVELOPE_DECODERS.get(cls)
        if decoder is None:
            decoder = _ENVELOPE_DECODERS[cls] = msgspec.json.Decoder(cls)
        _watch_default_timestamp()
        try:
            if not isinstance(raw, bytes | str) and isinstance(raw, Mapping):
                event = msgspec.convert(raw, cls)
            else:
                event = typing.cast(Self, decoder.decode(raw))
        except msgspec.DecodeError as exc:
            raise decode_error(exc, cls.detail_type) from None
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, cls.detail_type) from None
        check_parsed(event, strict=strict)
        return event

    @classmethod
    def parse_detail(cls, raw: RawEvent) -> EventDetail:
        """Decode and validate a bare detail (``{content, timestamp, metadata}``)."""
        codec = _CODECS.get(cls) or _codec(cls)
        _watch_default_timestamp()
        try:
            if not isinstance(raw, bytes | str) and isinstance(raw, Mapping):
                detail = msgspec.convert(raw, codec.detail_cls)
            else:
                detail = typing.cast(EventDetail, codec.decoder.decode(raw))
        except msgspec.DecodeError as exc:
            raise decode_error(exc, cls.detail_type) from None
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, cls.detail_type) from None
        if _made_default_timestamp():
            raise _missing_timestamp(cls.detail_type)
        return detail


class UnknownEvent(_Envelope):
    """An event whose detail-type is not in this version's catalog.

    ``parse_event`` returns it (unless ``strict=True``) so a consumer can log or skip it.
    """

    detail_type: str = msgspec.field(name="detail-type")
    source: str
    detail: dict[str, Any]


_ENVELOPE_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def check_parsed(event: TfsoEvent, *, strict: bool) -> None:
    """The checks after an envelope was decoded (call right after the decode, in the
    same thread): a detail without ``timestamp`` is refused, and so is (with
    ``strict``) an envelope whose ``source`` is not the event's."""
    if _made_default_timestamp():
        raise _missing_timestamp(event.detail_type, "$.detail")
    if strict and event.source_mismatch:
        raise EventValidationError(
            f"source {event.envelope_source!r} does not match {event.detail_type}, whose "
            f"source is {event.source!r}",
            path="$.source",
            detail_type=event.detail_type,
        )


def _in_utc(detail: EventDetail, paths: list[tuple[str, ...]] | None) -> EventDetail:
    """``detail`` with every date-time in UTC: itself when all are, else a copy (the
    caller's event is never changed)."""
    if paths is None:  # a date-time inside a list or dict: rebuild through builtins
        tree = msgspec.to_builtins(detail, builtin_types=(datetime, Decimal))
        return msgspec.convert(_tree_in_utc(tree), type(detail))
    for path in paths:
        try:
            value = operator.attrgetter(".".join(path))(detail)
        except AttributeError:  # an optional parent object is None
            continue
        # a naive one is left for the decode to refuse with its path
        if isinstance(value, datetime) and value.tzinfo not in (UTC, None):
            detail = _replace_at(detail, path, value.astimezone(UTC))
    return detail


def _replace_at(obj: Any, path: tuple[str, ...], value: object) -> Any:
    head, *rest = path
    new = value if not rest else _replace_at(getattr(obj, head), tuple(rest), value)
    return msgspec.structs.replace(obj, **{head: new})


def _tree_in_utc(node: Any) -> Any:
    if isinstance(node, datetime):
        return node.astimezone(UTC) if node.tzinfo not in (UTC, None) else node
    if isinstance(node, dict):
        return {key: _tree_in_utc(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_tree_in_utc(item) for item in node]
    return node


class _Codec:
    """Per event class: its detail Struct, a decoder for it, and where a float can hide."""

    __slots__ = ("datetime_paths", "decoder", "detail_cls", "float_getters")

    def __init__(self, event_cls: type[TfsoEvent]) -> None:
        self.detail_cls: type[EventDetail] = typing.get_type_hints(event_cls)["detail"]
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self.detail_cls)
        # Getters of every optional float; when one sits where no attribute path reaches
        # (in a list or dict), every validation walks the whole detail instead.
        paths = _optional_floats(msgspec.inspect.type_info(self.detail_cls), ())
        self.float_getters: list[Callable[[EventDetail], Any]] = [
            operator.attrgetter(".".join(p)) for p in paths or ()
        ]
        if paths is None:  # walk everything, every time: an always-true getter
            self.float_getters = [lambda _detail: math.nan]
        # Attribute paths of every date-time field (None: one sits in a list or dict).
        self.datetime_paths = _datetimes(msgspec.inspect.type_info(self.detail_cls), ())

    def may_hide_nan(self, detail: EventDetail) -> bool:
        for getter in self.float_getters:
            try:
                value = getter(detail)
            except AttributeError:  # an optional parent object is None
                continue
            if value is not None and not math.isfinite(value):
                return True
        return False


def _optional_floats(
    info: msgspec.inspect.Type, path: tuple[str, ...]
) -> list[tuple[str, ...]] | None:
    mi = msgspec.inspect
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        found: list[tuple[str, ...]] = []
        for member in info.types:
            sub = _optional_floats(member, path)
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, mi.FloatType):
        return [path]
    if isinstance(info, mi.StructType):
        found = []
        for field in info.fields:
            if field.name == "metadata" and not path:
                continue  # checked by value: any non-empty metadata is walked
            sub = _optional_floats(field.type, (*path, field.name))
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, mi.ListType | mi.DictType | mi.AnyType | mi.TupleType | mi.SetType):
        return None if _has_float(info) else []
    return []


def _datetimes(info: msgspec.inspect.Type, path: tuple[str, ...]) -> list[tuple[str, ...]] | None:
    mi = msgspec.inspect
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.DateTimeType):
        return [path]
    if isinstance(info, mi.UnionType):
        found: list[tuple[str, ...]] = []
        for member in info.types:
            sub = _datetimes(member, path)
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, mi.StructType):
        found = []
        for field in info.fields:
            if field.name == "metadata" and not path:
                continue  # free-form JSON: a datetime there is written as given
            sub = _datetimes(field.type, (*path, field.name))
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, mi.ListType | mi.DictType | mi.TupleType | mi.SetType):
        return None if _has_datetime(info) else []
    return []


def _has_datetime(info: msgspec.inspect.Type) -> bool:
    mi = msgspec.inspect
    if isinstance(info, mi.DateTimeType):
        return True
    for child in ("type", "item_type", "key_type", "value_type"):
        sub = getattr(info, child, None)
        if isinstance(sub, mi.Type) and _has_datetime(sub):
            return True
    if isinstance(info, mi.UnionType | mi.TupleType):
        return any(_has_datetime(t) for t in getattr(info, "types", ()) or ())
    if isinstance(info, mi.StructType):
        return any(_has_datetime(f.type) for f in info.fields)
    return False


def _has_float(info: msgspec.inspect.Type) -> bool:
    mi = msgspec.inspect
    if isinstance(info, mi.FloatType | mi.AnyType):
        return True
    for child in ("type", "item_type", "value_type"):
        sub = getattr(info, child, None)
        if isinstance(sub, mi.Type) and _has_float(sub):
            return True
    if isinstance(info, mi.UnionType):
        return any(_has_float(t) for t in info.types)
    if isinstance(info, mi.StructType):
        return any(_has_float(f.type) for f in info.fields)
    return False


_CODECS: dict[type[TfsoEvent], _Codec] = {}


def _codec(cls: type[TfsoEvent]) -> _Codec:
    codec = _CODECS[cls] = _Codec(cls)
    return codec


def decode_error(
    exc: msgspec.DecodeError, detail_type: str | None, prefix: str = ""
) -> EventValidationError:
    """Translate a msgspec error into :class:`EventValidationError` with its JSON path.

    ``prefix`` re-roots the path (``$.detail``) when only part of a document was decoded.
    """
    message = str(exc)
    reason, sep, path = message.rpartition(" - at `")
    if sep:
        path = path.rstrip("`")
    else:
        reason, path = message, "$"
    if prefix:
        path = prefix + path[1:]
    return EventValidationError(reason, path=path, detail_type=detail_type)


def unreadable(exc: Exception, detail_type: str | None) -> EventValidationError:
    """Translate what msgspec raises outside :class:`msgspec.DecodeError` (JSON nested
    past the recursion limit, invalid UTF-8 in a string) into
    :class:`EventValidationError` at ``$``."""
    if isinstance(exc, RecursionError):
        reason = "the document is nested too deeply (past the JSON decoder's depth limit)"
    else:
        reason = f"the document is not valid UTF-8 ({exc})"
    return EventValidationError(reason, path="$", detail_type=detail_type)


def _walk(value: object, path: str) -> typing.Iterator[tuple[str, object]]:
    yield path, value
    if isinstance(value, msgspec.Struct):
        for field in msgspec.structs.fields(value):
            yield from _walk(getattr(value, field.name), f"{path}.{field.encode_name}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _non_finite(detail: EventDetail, detail_type: str) -> EventValidationError | None:
    # msgspec writes Decimal NaN/Infinity as bare tokens (invalid JSON) and float NaN as
    # null; find the field so the error names it instead of "malformed JSON".
    for path, value in _walk(detail, "$"):
        if (isinstance(value, Decimal) and not value.is_finite()) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            return EventValidationError(
                f"{value!s} is not a finite number and cannot be written as JSON",
                path=path,
                detail_type=detail_type,
            )
    return None


def _unencodable(detail: EventDetail, exc: Exception, detail_type: str) -> EventValidationError:
    for path, value in _walk(detail, "$"):
        if (
            not isinstance(
                value,
                msgspec.Struct | Mapping | list | tuple | str | int | float | Decimal | datetime,
            )
            and value is not None
        ):
            return EventValidationError(
                f"{type(value).__name__} cannot be written as JSON ({exc})",
                path=path,
                detail_type=detail_type,
            )
    return EventValidationError(f"cannot be written as JSON ({exc})", detail_type=detail_type)
