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
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

import msgspec
import msgspec.inspect

from tfso_events.errors import EventValidationError

__all__ = [
    "AwareDatetime",
    "EventContent",
    "EventDetail",
    "RawEvent",
    "TfsoEvent",
    "UnknownEvent",
    "decode_error",
    "encode",
]

#: A timezone-aware datetime; a naive one is a validation error, never a silent guess.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

#: What the parsers accept: the JSON document as bytes or str, or an already-decoded
#: dict (a Lambda handler receives the envelope as a dict).
RawEvent = bytes | bytearray | memoryview | str | Mapping[str, Any]

# Decimals go on the wire as JSON numbers, never strings (the seed's `number(decimal)`).
_ENCODER = msgspec.json.Encoder(decimal_format="number")
encode = _ENCODER.encode


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventContent(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    """Base of an event's ``content`` and of the objects nested in it.

    Attributes are snake_case, the wire is camelCase; optional fields default to ``None``
    and are left out of the JSON when ``None``.
    """


class EventDetail(msgspec.Struct, kw_only=True, rename="camel", gc=False):
    """Base of every ``<Name>Detail``: ``content``, ``timestamp`` and ``metadata``.

    All three are always written; ``timestamp`` defaults to now (UTC) and ``metadata``
    to ``{}``.
    """

    content: EventContent
    timestamp: AwareDatetime = msgspec.field(default_factory=_utcnow)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


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
        try:
            data = _ENCODER.encode(detail)
        except (TypeError, ValueError, OverflowError) as exc:
            # msgspec >= 0.23 refuses a Decimal NaN/Infinity here (0.22 wrote a bare token).
            raise _non_finite(detail, self.detail_type) or _unencodable(
                detail, exc, self.detail_type
            ) from None
        except RecursionError as exc:
            raise unreadable(exc, self.detail_type) from None
        # The validating decode reads metadata as raw JSON: any JSON object is a valid
        # dict[str, Any], so building its dicts would check nothing (a non-dict metadata
        # takes the full decoder, for its error and path).
        decoder = codec.validator if type(detail.metadata) is dict else codec.decoder
        try:
            decoder.decode(data)
        except RecursionError as exc:
            raise unreadable(exc, self.detail_type) from None
        except msgspec.DecodeError as exc:
            raise _non_finite(detail, self.detail_type) or decode_error(
                exc, self.detail_type
            ) from None
        # msgspec writes a float NaN/inf as null, which an optional field or metadata
        # reads back as None: a silent change. Look closer only where such a float can
        # hide: at the optional float fields of the content (attribute getters), and in
        # metadata only when the JSON holds a null at all (a NaN always leaves one; a
        # null nobody wrote as NaN costs one walk, ~µs, and passes).
        if (
            (detail.metadata and b"null" in data)
            or (codec.float_getters and codec.may_hide_nan(detail))
        ) and (error := _non_finite(detail, self.detail_type)):
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
    def parse(cls, raw: RawEvent) -> Self:
        """Parse an EventBridge envelope of exactly this event type.

        ``raw`` is bytes, str or a dict (as Lambda hands it). Raises
        :class:`~tfso_events.EventValidationError` with the path when it does not match.
        """
        decoder = _ENVELOPE_DECODERS.get(cls)
        if decoder is None:
            decoder = _ENVELOPE_DECODERS[cls] = msgspec.json.Decoder(cls)
        try:
            if not isinstance(raw, bytes | str) and isinstance(raw, Mapping):
                return msgspec.convert(raw, cls)
            return typing.cast(Self, decoder.decode(raw))
        except msgspec.DecodeError as exc:
            raise decode_error(exc, cls.detail_type) from None
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, cls.detail_type) from None

    @classmethod
    def parse_detail(cls, raw: RawEvent) -> EventDetail:
        """Decode and validate a bare detail (``{content, timestamp, metadata}``)."""
        codec = _CODECS.get(cls) or _codec(cls)
        try:
            if not isinstance(raw, bytes | str) and isinstance(raw, Mapping):
                return msgspec.convert(raw, codec.detail_cls)
            return typing.cast(EventDetail, codec.decoder.decode(raw))
        except msgspec.DecodeError as exc:
            raise decode_error(exc, cls.detail_type) from None
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, cls.detail_type) from None


class UnknownEvent(_Envelope):
    """An event whose detail-type is not in this version's catalog.

    ``parse_event`` returns it (unless ``strict=True``) so a consumer can log or skip it.
    """

    detail_type: str = msgspec.field(name="detail-type")
    source: str
    detail: dict[str, Any]


_ENVELOPE_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


class _Codec:
    """Per event class: its detail Struct, a decoder for it, and where a float can hide."""

    __slots__ = ("decoder", "detail_cls", "float_getters", "validator")

    def __init__(self, event_cls: type[TfsoEvent]) -> None:
        self.detail_cls: type[EventDetail] = typing.get_type_hints(event_cls)["detail"]
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self.detail_cls)
        # What detail_json() decodes with: the detail, but metadata as msgspec.Raw.
        hints = typing.get_type_hints(self.detail_cls, include_extras=True)
        checked = msgspec.defstruct(
            f"_{self.detail_cls.__name__}Check",
            [
                (name, msgspec.Raw if name == "metadata" else hints[name])
                for name in self.detail_cls.__struct_fields__
            ],
            kw_only=True,
            rename="camel",
        )
        self.validator: msgspec.json.Decoder[Any] = msgspec.json.Decoder(checked)
        # Getters of every optional float; when one sits where no attribute path reaches
        # (in a list or dict), every validation walks the whole detail instead.
        paths = _optional_floats(msgspec.inspect.type_info(self.detail_cls), ())
        self.float_getters: list[Callable[[EventDetail], Any]] = [
            operator.attrgetter(".".join(p)) for p in paths or ()
        ]
        if paths is None:  # walk everything, every time: an always-true getter
            self.float_getters = [lambda _detail: math.nan]

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
        # The class's own field tuples, not msgspec.structs.fields(), which re-reads the
        # annotations (a compile() per field) on every call.
        cls = type(value)
        for name, wire_name in zip(
            cls.__struct_fields__, cls.__struct_encode_fields__, strict=True
        ):
            yield from _walk(getattr(value, name), f"{path}.{wire_name}")
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
