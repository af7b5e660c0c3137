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
import re
import threading
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

import msgspec
import msgspec.inspect

from tfso_events.errors import EventValidationError
from tfso_events.models._strict import strict_twin

__all__ = [
    "DECIMAL_GETTERS",
    "INT64_MAX",
    "INT64_MIN",
    "PLAIN_EVENTS",
    "AwareDatetime",
    "EventContent",
    "EventDetail",
    "Int64",
    "RawEvent",
    "TfsoEvent",
    "UnknownEvent",
    "decode_error",
    "encode",
    "finite_decimals",
    "has_non_finite",
    "integral_retry",
    "mapping_json",
    "null_metadata",
    "utf8_checked",
]

_T = typing.TypeVar("_T")
_E = typing.TypeVar("_E", bound="TfsoEvent")

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
# consumer would get a time nobody sent), so each thread keeps the last default it made;
# a decoded detail whose timestamp *is* that object (a JSON decode makes new ones) read
# a detail without ``timestamp`` and is refused. One thread-local read per parse, no
# write: the parsers' hot paths check ``_STAMPS.made is detail.timestamp`` inline.
class _Stamps(threading.local):
    made: datetime | None = None


_STAMPS = _Stamps()


def _utcnow() -> datetime:
    now = _STAMPS.made = datetime.now(UTC)
    return now


def _watch_default_timestamp() -> None:
    """Forget the last default made: before a ``msgspec.convert``, which may pass a
    caller's own datetime object through (it could be that very object)."""
    _STAMPS.made = None


def _made_default_timestamp(detail: EventDetail) -> bool:
    return _STAMPS.made is detail.timestamp


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
    dictionary) reads as ``{}``. A detail built with ``metadata=None`` (a type error)
    keeps ``None`` until it is written, and is written as ``{}``.
    """

    content: EventContent
    timestamp: AwareDatetime = msgspec.field(default_factory=_utcnow)
    if typing.TYPE_CHECKING:
        metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    else:
        # null on the wire decodes (None), and the parsers turn it into {} (see
        # null_metadata): not a __post_init__, which would cost a Python call on every
        # construction and every decode (~0.14x of orjson.loads of an envelope).
        metadata: dict[str, Any] | None = msgspec.field(default_factory=dict)


def null_metadata(detail: EventDetail) -> None:
    """Set a decoded ``"metadata": null`` to ``{}`` (every parser calls this, or does the
    same inline, on the detail it decoded)."""
    if typing.cast(Any, detail.metadata) is None:  # None only at runtime: see EventDetail
        detail.metadata = {}


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
        # The common case, by the class's plan (see _Plan). Anything else, a failure
        # included, takes _checked_json(), the general path: the same bytes or the same
        # error, which tests/models/test_detail_plan.py checks on generated details.
        try:
            plan = _PLANS[type(self)]
        except KeyError:  # the class's first event
            plan = _plan(type(self))
        detail = self.detail
        metadata = detail.metadata
        try:
            if (
                plan is None
                or type(detail) is not plan.detail_cls
                or type(metadata) is not dict
                or (metadata and not _plain_object(metadata))
            ):
                return _checked_json(self)
        except RecursionError:  # metadata nested past the limit
            return _checked_json(self)
        zones = plan.zones
        try:
            # UTC, or (in content) a zone equal to it: a zero offset, also written as Z
            in_utc = detail.timestamp.tzinfo is UTC and (zones is None or zones(detail) == plan.utc)
        except AttributeError:  # an optional parent object is None, or not a datetime
            in_utc = False
        try:
            if not in_utc:
                detail = _in_utc(detail, plan.datetime_paths)
            data = encode(detail)
            plan.decode(data)
        except (TypeError, ValueError, OverflowError, RecursionError, msgspec.DecodeError):
            return _checked_json(self)
        if plan.nulls_pass and b"null" in data and _non_finite(detail, self.detail_type):
            return _checked_json(self)
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
        event: Self = finite_decimals(_decode(decoder, cls, raw, cls.detail_type))
        check_parsed(event, strict=strict)
        return event

    @classmethod
    def parse_detail(cls, raw: RawEvent) -> EventDetail:
        """Decode and validate a bare detail (``{content, timestamp, metadata}``)."""
        codec = _CODECS.get(cls) or _codec(cls)
        _watch_default_timestamp()
        detail: EventDetail = _decode(codec.decoder, codec.detail_cls, raw, cls.detail_type)
        null_metadata(detail)
        if _made_default_timestamp(detail):
            raise _missing_timestamp(cls.detail_type)
        if codec.decimal_getters:
            _finite_detail(codec, detail, cls.detail_type, "$")
        return detail


class UnknownEvent(_Envelope):
    """An event whose detail-type is not in this version's catalog.

    ``parse_event`` returns it (unless ``strict=True``) so a consumer can log or skip it.
    """

    detail_type: str = msgspec.field(name="detail-type")
    source: str
    detail: dict[str, Any]


_ENVELOPE_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decode(
    decoder: msgspec.json.Decoder[Any], cls: type[Any], raw: RawEvent, detail_type: str
) -> Any:
    """``raw`` (bytes, str or a mapping) decoded as ``cls``: a mapping as the JSON text it
    stands for (see :func:`mapping_json`), an integral float taken for an int field
    (see :func:`integral_retry`); errors as :class:`EventValidationError`."""
    if not isinstance(raw, bytes | str) and isinstance(raw, Mapping):
        data = mapping_json(raw)
        if data is None:  # values JSON cannot carry (a caller's own objects)
            try:
                return msgspec.convert(raw, cls)
            except msgspec.DecodeError as exc:
                raise decode_error(exc, detail_type) from None
        raw = data
    try:
        try:
            return decoder.decode(utf8_checked(raw))
        except msgspec.DecodeError as exc:
            _watch_default_timestamp()
            fixed = integral_retry(decoder.decode, raw, exc)
            if fixed is None:
                raise
            return fixed
    except msgspec.DecodeError as exc:
        raise decode_error(exc, detail_type) from None
    except (UnicodeError, RecursionError) as exc:
        raise unreadable(exc, detail_type) from None


def _checked_json(event: TfsoEvent) -> bytes:
    """``detail_json()`` for any event: every check by value, each failure named by
    its path. The plan of the common case must give the same bytes or the same error."""
    codec = _CODECS.get(type(event)) or _codec(type(event))
    detail = event.detail
    detail_type = event.detail_type
    if type(detail) is not codec.detail_cls:
        raise EventValidationError(
            f"detail must be a {codec.detail_cls.__name__}, got {type(detail).__name__}",
            path="$",
            detail_type=detail_type,
        )
    if typing.cast(Any, detail.metadata) is None:  # set to None after it was built
        detail = msgspec.structs.replace(detail, metadata={})
    elif detail.metadata and (error := _non_string_key(detail.metadata, detail_type)):
        raise error
    if codec.datetime_paths is None or codec.datetime_paths:
        # Every date-time goes on the wire in UTC with ``Z`` (as the TS package's
        # toISOString): the exact instant, also of an offset with seconds.
        try:
            detail = _in_utc(detail, codec.datetime_paths)
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
            raise _out_of_range(detail, detail_type) from None
    try:
        data = _ENCODER.encode(detail)
    except (TypeError, ValueError, OverflowError) as exc:
        # msgspec < 0.23 writes a non-finite Decimal as a bare token (caught below, on
        # decode); 0.23 refuses to encode it. Either way the error names the field.
        raise _non_finite(detail, detail_type) or _unencodable(detail, exc, detail_type) from None
    except RecursionError as exc:
        raise unreadable(exc, detail_type) from None
    # The validating decode reads metadata as raw JSON: any JSON object is a valid
    # dict[str, Any], so building its dicts would check nothing (a non-dict metadata
    # takes the full decoder, for its error and path).
    decoder = codec.validator if type(detail.metadata) is dict else codec.decoder
    try:
        decoder.decode(data)
    except RecursionError as exc:
        raise unreadable(exc, detail_type) from None
    except msgspec.DecodeError as exc:
        raise _non_finite(detail, detail_type) or decode_error(exc, detail_type) from None
    # msgspec writes a float NaN/inf as null, which any optional field (of whatever
    # type) or metadata reads back as None: a silent change. A NaN always leaves a
    # null, and None fields are omitted, so look closer only when the JSON holds a
    # null at all (a null nobody wrote as NaN costs one walk, ~µs, and passes).
    if b"null" in data and (error := _non_finite(detail, detail_type)):
        raise error
    return data


def check_parsed(event: TfsoEvent, *, strict: bool) -> None:
    """The checks after an envelope was decoded (call right after the decode, in the
    same thread): a detail without ``timestamp`` is refused, and so is (with
    ``strict``) an envelope whose ``source`` is not the event's; ``"metadata": null``
    becomes ``{}``."""
    null_metadata(event.detail)
    if _made_default_timestamp(event.detail):
        raise _missing_timestamp(event.detail_type, "$.detail")
    if strict and event.source_mismatch:
        raise EventValidationError(
            f"source {event.envelope_source!r} does not match {event.detail_type}, whose "
            f"source is {event.source!r}",
            path="$.source",
            detail_type=event.detail_type,
        )


def _in_utc(
    detail: EventDetail, paths: list[tuple[tuple[str, ...], Callable[[Any], Any]]] | None
) -> EventDetail:
    """``detail`` with every date-time in UTC: itself when all are, else a copy (the
    caller's event is never changed)."""
    if paths is None:  # a date-time inside a list or dict: rebuild through builtins
        tree = msgspec.to_builtins(detail, builtin_types=(datetime, Decimal))
        return msgspec.convert(_tree_in_utc(tree), type(detail))
    for path, get in paths:
        try:
            value = get(detail)
        except AttributeError:  # an optional parent object is None
            continue
        tz = getattr(value, "tzinfo", None)
        # UTC already; or naive (or no datetime), left for the decode to refuse by path
        if tz is UTC or tz is None or not isinstance(value, datetime):
            continue
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
    """Per event class: its detail Struct, a decoder for it, where a float can hide and
    where a Decimal sits."""

    __slots__ = (
        "datetime_paths",
        "decimal_getters",
        "decoder",
        "detail_cls",
        "validator",
    )

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
        info = msgspec.inspect.type_info(self.detail_cls)
        # msgspec decodes a Decimal from a JSON string too, "NaN" and "Infinity"
        # included: a consumer must not receive a number nobody could have written.
        self.decimal_getters = _getters(_leaf_paths(info, (), msgspec.inspect.DecimalType))
        # Attribute paths of every date-time field (None: one sits in a list or dict).
        paths = _leaf_paths(info, (), msgspec.inspect.DateTimeType)
        self.datetime_paths: list[tuple[tuple[str, ...], Callable[[Any], Any]]] | None = (
            None if paths is None else [(p, operator.attrgetter(".".join(p))) for p in paths]
        )

    def has_non_finite_decimal(self, detail: EventDetail) -> bool:
        for getter in self.decimal_getters:
            try:
                value = getter(detail)
            except AttributeError:  # an optional parent object is None
                continue
            if isinstance(value, Decimal) and not value.is_finite():
                return True
        return False


class _Plan:
    """How ``detail_json()`` handles an event of one class in the common case: plain
    metadata (checked by value first), date-times in UTC, no failure. Made once per
    class; for one whose date-times sit out of reach of an attribute path, or whose
    types msgspec cannot rebuild, there is none (:data:`_PLANS` holds None).

    * ``decode`` reads the detail as the class's validator does, but with every
      ``X | None = None`` field of the content read as ``X``: ``None`` is omitted on the
      wire, so a ``null`` there can only be a float NaN/inf, and it fails the decode
      (the general path then names it) instead of reading back as an absent field.
      Metadata is raw JSON: it was checked by value.
    * ``nulls_pass``: a ``null`` can still pass ``decode`` somewhere (a ``None`` in a
      list, an ``Any``): the JSON is scanned for one, as the general path does.
    * ``zones`` reads the ``tzinfo`` of every date-time in the content in one call
      (None: there is none); ``utc`` is what it returns when all are UTC. The
      timestamp's is read inline.
    """

    __slots__ = ("datetime_paths", "decode", "detail_cls", "nulls_pass", "utc", "zones")

    def __init__(self, codec: _Codec, paths: list[tuple[tuple[str, ...], Any]]) -> None:
        self.detail_cls = codec.detail_cls
        self.datetime_paths = paths
        hints = typing.get_type_hints(codec.detail_cls, include_extras=True)
        fields: list[tuple[str, Any]] = []
        self.nulls_pass = False
        for name in codec.detail_cls.__struct_fields__:
            twin, nulls_pass = (
                (msgspec.Raw, False) if name == "metadata" else strict_twin(hints[name])
            )
            fields.append((name, twin))
            self.nulls_pass = self.nulls_pass or nulls_pass
        checked = msgspec.defstruct(
            f"_{codec.detail_cls.__name__}Strict", fields, kw_only=True, rename="camel", gc=False
        )
        self.decode: Callable[[bytes], Any] = msgspec.json.Decoder(checked).decode
        names = [".".join(path) + ".tzinfo" for path, _ in paths if path != ("timestamp",)]
        self.zones: Callable[[EventDetail], Any] | None = (
            operator.attrgetter(*names) if names else None
        )
        self.utc: object = UTC if len(names) == 1 else (UTC,) * len(names)


_PLANS: dict[type[TfsoEvent], _Plan | None] = {}


def _plan(cls: type[TfsoEvent]) -> _Plan | None:
    """Make (and keep in :data:`_PLANS`) the plan of ``cls``, or None when it has none."""
    codec = _CODECS.get(cls) or _codec(cls)
    plan = None
    if codec.datetime_paths and any(path == ("timestamp",) for path, _ in codec.datetime_paths):
        try:
            plan = _Plan(codec, codec.datetime_paths)
        except (TypeError, ValueError):  # a type msgspec cannot rebuild: no plan
            plan = None
    _PLANS[cls] = plan
    return plan


def _getters(paths: list[tuple[str, ...]] | None) -> list[Callable[[EventDetail], Any]]:
    if paths is None:  # out of reach of a path: walk everything, every time
        return [lambda _detail: Decimal("NaN")]
    return [operator.attrgetter(".".join(p)) for p in paths]


def _leaf_paths(
    info: msgspec.inspect.Type, path: tuple[str, ...], leaf: type[msgspec.inspect.Type]
) -> list[tuple[str, ...]] | None:
    """Attribute paths to every ``leaf``-typed field, or None if one sits in a container."""
    mi = msgspec.inspect
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        found: list[tuple[str, ...]] = []
        for member in info.types:
            sub = _leaf_paths(member, path, leaf)
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, leaf):
        return [path]
    if isinstance(info, mi.StructType):
        found = []
        for field in info.fields:
            if field.name == "metadata" and not path:
                continue  # checked by value: any non-empty metadata is walked
            sub = _leaf_paths(field.type, (*path, field.name), leaf)
            if sub is None:
                return None
            found += sub
        return found
    if isinstance(info, mi.ListType | mi.DictType | mi.AnyType | mi.TupleType | mi.SetType):
        return None if _has_leaf(info, leaf) else []
    return []


def _has_leaf(info: msgspec.inspect.Type, leaf: type[msgspec.inspect.Type]) -> bool:
    mi = msgspec.inspect
    if isinstance(info, leaf | mi.AnyType):
        return True
    for child in ("type", "item_type", "value_type"):
        sub = getattr(info, child, None)
        if isinstance(sub, mi.Type) and _has_leaf(sub, leaf):
            return True
    if isinstance(info, mi.UnionType):
        return any(_has_leaf(t, leaf) for t in info.types)
    if isinstance(info, mi.StructType):
        return any(_has_leaf(f.type, leaf) for f in info.fields)
    return False


def finite_decimals(event: _E) -> _E:
    """Return a decoded ``event``, or raise :class:`EventValidationError` (path under
    ``$.detail``) if a Decimal in it is NaN or infinite (decoded from a JSON string).

    Costs one dict lookup for an event without Decimal fields.
    """
    codec = _CODECS.get(type(event)) or _codec(type(event))
    if codec.decimal_getters:
        _finite_detail(codec, event.detail, event.detail_type, "$.detail")
    return event


def _finite_detail(codec: _Codec, detail: EventDetail, detail_type: str, prefix: str) -> None:
    if codec.has_non_finite_decimal(detail) and (error := _non_finite(detail, detail_type)):
        raise EventValidationError(
            error.reason, path=prefix + error.path[1:], detail_type=detail_type
        )


_CODECS: dict[type[TfsoEvent], _Codec] = {}

#: Event classes seen so far with no Decimal field: a parsed one needs no finiteness
#: check (filled as classes are first used; a class not in it takes the full checks).
PLAIN_EVENTS: set[type[TfsoEvent]] = set()


#: For event classes seen so far whose Decimal fields all sit at attribute paths: a
#: getter per field (``parse_event`` checks them inline).
DECIMAL_GETTERS: dict[type[TfsoEvent], tuple[Callable[[EventDetail], Any], ...]] = {}


def _codec(cls: type[TfsoEvent]) -> _Codec:
    codec = _CODECS[cls] = _Codec(cls)
    if not codec.decimal_getters:
        PLAIN_EVENTS.add(cls)
    elif _leaf_paths(msgspec.inspect.type_info(codec.detail_cls), (), msgspec.inspect.DecimalType):
        DECIMAL_GETTERS[cls] = tuple(codec.decimal_getters)
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


def utf8_checked(raw: _T) -> _T:
    """Return ``raw``, or raise :class:`UnicodeDecodeError` if its bytes are not UTF-8.

    msgspec checks UTF-8 only where it reads a string: an object key it skips (a field
    the type does not have) may hold any bytes. Every parser calls this first, so bad
    bytes anywhere in a document are refused, not carried along. ASCII (the common
    case) costs one pass of ``bytes.isascii``.
    """
    if isinstance(raw, bytes | bytearray):
        if not raw.isascii():
            bytes(raw).decode("utf-8")
    elif isinstance(raw, memoryview):
        bytes(raw).decode("utf-8")
    return raw


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


def _out_of_range(detail: EventDetail, detail_type: str) -> EventValidationError:
    """The error for a date-time whose instant has no UTC date-time (before year 1 or
    after 9999 once its offset is applied), naming the first such field."""
    for path, value in _walk(detail, "$"):
        if isinstance(value, datetime) and value.tzinfo not in (UTC, None):
            try:
                value.astimezone(UTC)
            except OverflowError:
                return EventValidationError(
                    f"{value.isoformat()} is outside the years 1-9999 in UTC, where every "
                    "date-time is written",
                    path=path,
                    detail_type=detail_type,
                )
    return EventValidationError(  # not reached: _in_utc overflowed on one of them
        "a date-time is outside the years 1-9999 in UTC", path="$", detail_type=detail_type
    )


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


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain_object(node: dict[Any, Any]) -> bool:
    """True when every key in ``node`` is exactly ``str``, at any depth, and it holds
    nothing but dicts, lists, JSON scalars and finite floats: the metadata the plan of
    ``detail_json()`` takes, checked without ``isinstance`` (False sends the event to the
    general path). Such metadata cannot hide a NaN, so it needs no ``null`` scan."""
    for key, value in node.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is str or kind is int:  # most values: one test
            continue
        if kind is dict:
            if not _plain_object(value):
                return False
        elif kind is list:
            if not _plain_items(value):
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _plain_items(items: Iterable[Any]) -> bool:
    for value in items:
        kind = type(value)
        if kind is dict:
            if not _plain_object(value):
                return False
        elif kind is list:
            if not _plain_items(value):
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _non_string_key(metadata: Mapping[Any, Any], detail_type: str) -> EventValidationError | None:
    """The error for a key of ``metadata`` (at any depth) that is not a string: JSON has
    only string keys, and msgspec would write ``1`` as ``"1"``, so the consumer would
    read another dict than the one sent. ``None`` when every key is a string."""
    try:
        if type(metadata) is dict and _plain_object(metadata):
            return None
    except RecursionError:
        pass  # nested past the limit: the walk below is iterative (and encoding refuses it)
    stack: list[tuple[object, str]] = [(metadata, "$.metadata")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    return EventValidationError(
                        f"metadata key {key!r} ({type(key).__name__}) is not a string; "
                        f"JSON object keys are strings: use {str(key)!r} if that is meant",
                        path=path,
                        detail_type=detail_type,
                    )
                if isinstance(value, Mapping | list | tuple):
                    stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list | tuple):
            stack += [
                (item, f"{path}[{index}]")
                for index, item in enumerate(node)
                if isinstance(item, Mapping | list | tuple)
            ]
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


# -- a decoded document read as the text it came from ----------------------------------

# json.loads (what Lambda hands a handler) reads `1e400` and `Infinity` as inf, keeps
# `NaN`, and decodes "\ud800" to a lone surrogate; msgspec.convert would take all of
# them. A mapping is parsed as the JSON text it stands for instead, so it is refused
# exactly where the text is: msgspec writes it (~1 µs, faster than convert) and refuses
# a lone surrogate; a non-finite float leaves a `null` in the output, the only case that
# needs a walk of the values.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity')


def mapping_json(raw: Mapping[str, Any]) -> bytes | None:
    """The JSON document ``raw`` was decoded from, as bytes, for the bytes parser (or
    ``None`` when it holds values JSON cannot carry: the caller converts it).

    A non-finite float is written as it most likely came: inf as ``1e400`` (out of a
    float's range: refused where a float is expected, kept exactly by a Decimal), NaN
    as ``NaN`` (not JSON: refused as malformed); a lone surrogate as its ``\\u`` escape
    (refused as malformed), so the errors are those of the text.
    """
    try:
        data = _ENCODER.encode(raw)
    except UnicodeEncodeError:
        return _json_text(raw)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None
    if b"null" in data and has_non_finite(raw):
        return _json_text(raw)
    return data


def has_non_finite(node: object) -> bool:
    """True when a float in ``node`` (dicts and lists, walked) is NaN or infinite.

    Iterative: a dict nested deeper than Python's recursion limit but within msgspec's
    (which wrote it) is walked too, not turned into a RecursionError.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):  # type: ignore[arg-type]
                return True
        elif kind is dict:
            stack.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list:
            stack.extend(item)  # type: ignore[arg-type]
    return False


def _json_text(raw: Mapping[str, Any]) -> bytes | None:
    import json

    try:
        text = json.dumps(raw, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return None

    def token(match: re.Match[str]) -> str:
        found = match.group()
        if found[0] == '"':
            return found
        return "-1e400" if found[0] == "-" else "1e400"

    return _JSON_TOKENS.sub(token, text).encode()


# -- an integral float for an integer field ---------------------------------------------

# JSON Schema counts 100.0 and 1e2 as integers (a .NET decimal writes them); msgspec
# refuses a float for an int. On that error only (the success path pays nothing), the
# document is read with every float as an exact Decimal, the reported value replaced by
# its int when it is integral, and decoded again: once per such field.
_INT_GOT_FLOAT = "Expected `int`, got `float` - at `"
_EXACT_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MAX_INTEGRAL_FIXES = 256


def integral_retry(
    decode: Callable[[bytes], _T], raw: bytes | bytearray | memoryview | str, error: Exception
) -> _T | None:
    """``decode`` of ``raw`` after ``error``: when ``error`` refused an integral float
    for an int field, the decode of ``raw`` with such floats as ints (it may raise the
    next :class:`msgspec.DecodeError`); ``None`` when ``error`` is something else."""
    message = str(error)
    if not message.startswith(_INT_GOT_FLOAT):
        return None
    try:
        tree = _EXACT_DECODER.decode(raw)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    for _ in range(_MAX_INTEGRAL_FIXES):
        if not _integral_at(tree, message[len(_INT_GOT_FLOAT) : -1]):
            return None
        try:
            return decode(_ENCODER.encode(tree))
        except msgspec.DecodeError as exc:
            message = str(exc)
            if not message.startswith(_INT_GOT_FLOAT):
                raise
    return None


def _integral_at(tree: object, path: str) -> bool:
    """Replace the integral Decimal at ``path`` (``$.detail.content.items[0].code``) in
    ``tree`` by its int; False when there is none."""
    if not path.startswith("$"):
        return False
    steps: list[str | int] = []
    end = 1
    for match in _PATH_STEP.finditer(path, 1):
        if match.start() != end:
            return False
        name, index = match.groups()
        steps.append(name if name is not None else int(index))
        end = match.end()
    if end != len(path) or not steps:
        return False
    node: Any = tree
    try:
        for step in steps[:-1]:
            node = node[step]
        value = node[steps[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    if not (type(value) is Decimal and value.is_finite() and value == value.to_integral_value()):
        return False
    node[steps[-1]] = int(value)
    return True
