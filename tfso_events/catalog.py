"""The catalog: every event class, ``parse_event``, ``event_pattern`` and ``event_schema``.

``parse_event`` decodes an EventBridge envelope in **one** msgspec call over a tagged
union keyed on ``detail-type`` (a dict, as Lambda hands it: written as the JSON text it
stands for, then decoded into the class its detail-type names); only when that fails
does it look closer, to tell an unknown detail-type (``UnknownEvent``) from a bad
payload (``EventValidationError``).
"""

from __future__ import annotations

import re
import threading
import typing
import warnings
from collections.abc import Mapping
from typing import Any, Required, TypedDict, Union

import msgspec
import msgspec.inspect

from tfso_events.errors import EventValidationError
from tfso_events.models._base import (
    _ENCODER,
    _STAMPS,
    DECIMAL_GETTERS,
    PLAIN_EVENTS,
    RawEvent,
    TfsoEvent,
    UnknownEvent,
    check_parsed,
    decode_error,
    finite_decimals,
    has_non_finite,
    integral_retry,
    mapping_json,
    unreadable,
    utf8_checked,
)
from tfso_events.models._catalog import _BY_DETAIL_TYPE, EVENTS, CatalogEvent, event_class

__all__ = [
    "DATE_TIME_PATTERN",
    "CatalogEvent",
    "EventPattern",
    "PatternValue",
    "detail_filter",
    "event_class",
    "event_classes",
    "event_pattern",
    "event_schema",
    "events",
    "parse_event",
    "validate_body",
]

# The registration is generated from tfso_events/schemas/ (``tfso-events codegen``).
_EVENTS: tuple[type[TfsoEvent], ...] = EVENTS

_ANY_EVENT: Any = Union[_EVENTS]  # noqa: UP007 - a runtime union over a tuple of classes
_DECODER: msgspec.json.Decoder[CatalogEvent] = msgspec.json.Decoder(_ANY_EVENT)


class _Head(msgspec.Struct):
    detail_type: str = msgspec.field(name="detail-type")


_HEAD_DECODER = msgspec.json.Decoder(_Head)
_ENCODE_INTO = _ENCODER.encode_into


class _Buffers(threading.local):
    """Per thread: the buffer ``parse_event`` writes a dict's JSON into (msgspec
    resizes it to each document; nothing decoded refers to it afterwards)."""

    def __init__(self) -> None:
        self.data = bytearray()


_BUFFERS = _Buffers()
# A regular expression finds a null in an 800-byte envelope in half the time ``in`` does.
_HAS_NULL = re.compile(b"null").search
#: detail-type -> a decoder of its class (made on first use): what ``parse_event`` of a
#: dict decodes with, faster than the union.
_CLASS_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}


def _class_decoder(detail_type: str) -> msgspec.json.Decoder[Any] | None:
    cls = _BY_DETAIL_TYPE.get(detail_type)
    if cls is None:
        return None
    decoder = _CLASS_DECODERS[detail_type] = msgspec.json.Decoder(cls)
    return decoder


_UNKNOWN_DECODER = msgspec.json.Decoder(UnknownEvent)


def event_classes() -> tuple[type[TfsoEvent], ...]:
    """Every event class in the catalog, in detail-type order."""
    return _EVENTS


def events() -> tuple[type[TfsoEvent], ...]:
    """Deprecated alias of :func:`event_classes` (the name was too close to
    ``tfso_events.testing.events``, a hypothesis strategy); removed in the next release.
    """
    warnings.warn(
        "tfso_events.events() is deprecated; use tfso_events.event_classes()",
        DeprecationWarning,
        stacklevel=2,
    )
    return _EVENTS


def parse_event(raw: RawEvent, *, strict: bool = False) -> CatalogEvent | UnknownEvent:
    """Parse an EventBridge envelope into its typed event.

    ``raw`` is the envelope as ``bytes``, ``str`` or ``dict`` (what Lambda hands a
    handler). Returns the ``<Name>Event`` of its detail-type, or :class:`UnknownEvent`
    for a detail-type this version does not know (``strict=True`` raises
    :class:`UnknownEventTypeError` instead). The envelope's ``source`` is kept in
    ``envelope_source``; when it is not the event's source, ``strict=True`` refuses the
    envelope (path ``$.source``) and otherwise the event is flagged
    (``source_mismatch``). A detail without ``timestamp`` is refused, never stamped
    with the reader's clock. A payload that does not match its event's
    contract raises :class:`EventValidationError` naming the JSON path::

        def handler(envelope, context):
            match parse_event(envelope):
                case BankTransactionCreatedV1Event(detail=detail):
                    book(detail.content.transaction_id)
                case UnknownEvent(detail_type=detail_type):
                    log.info("skipping %s", detail_type)
    """
    event: CatalogEvent | None = None
    if type(raw) is bytes:  # a body off the wire: the fewest steps
        try:
            if not raw.isascii():  # see utf8_checked: skipped keys are not checked
                raw.decode()
            event = _DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            error = exc
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, None) from None
    elif type(raw) is dict:
        # Lambda's json.loads of the envelope's text, read as that text (see mapping_json)
        # so it is refused exactly where the text is, then decoded into the class its
        # detail-type names. Written into this thread's buffer: no bytes object made.
        buffer = _BUFFERS.data
        data: bytes | bytearray | None = buffer
        try:
            _ENCODE_INTO(raw, buffer)
        except (TypeError, ValueError, OverflowError, RecursionError):
            data = mapping_json(raw)  # a lone surrogate, or values JSON cannot carry
        else:
            if _HAS_NULL(buffer) and has_non_finite(raw):  # a NaN or inf written as null
                data = mapping_json(raw)
        if data is not None:
            detail_type = raw.get("detail-type")
            if type(detail_type) is str:
                decoder = _CLASS_DECODERS.get(detail_type) or _class_decoder(detail_type)
                if decoder is not None:
                    try:  # noqa: SIM105 - contextlib.suppress costs more on the hot path
                        event = decoder.decode(data)
                    except (msgspec.DecodeError, RecursionError):
                        pass
            if event is None:  # as the bytes it stands for: their error, or UnknownEvent
                return parse_event(bytes(data), strict=strict)
        else:
            _STAMPS.made = None  # convert may pass a caller's datetime through
    if event is not None:
        detail = event.detail
        if detail.metadata is None:  # "metadata": null (see EventDetail)
            detail.metadata = {}  # type: ignore[unreachable]
        # A timestamp that is the last default this thread made was missing (see
        # _base._utcnow); strict asks about the source: both checked by check_parsed.
        if detail.timestamp is not _STAMPS.made and not strict:
            cls = type(event)
            if cls in PLAIN_EVENTS:
                return event  # no Decimal field: nothing left to check
            getters = DECIMAL_GETTERS.get(cls)
            if getters is not None:  # each Decimal field, read by its attribute path
                for get in getters:
                    try:
                        value = get(detail)
                    except AttributeError:  # an optional parent object is None
                        continue
                    if value is not None and not value.is_finite():
                        break  # the full check below names it
                else:
                    return event
        check_parsed(finite_decimals(event), strict=strict)
        return event
    if type(raw) is bytes:
        is_mapping = False
    else:
        _STAMPS.made = None  # convert may pass a caller's datetime through
        is_mapping = not isinstance(raw, str) and isinstance(raw, Mapping)
        try:
            if is_mapping:
                event = finite_decimals(typing.cast(CatalogEvent, msgspec.convert(raw, _ANY_EVENT)))
            else:
                event = finite_decimals(_DECODER.decode(utf8_checked(raw)))  # type: ignore[arg-type]
            check_parsed(event, strict=strict)
            return event
        except msgspec.DecodeError as exc:
            error = exc
        except (UnicodeError, RecursionError) as exc:
            raise unreadable(exc, None) from None
        except TypeError:
            if is_mapping or isinstance(raw, bytes | str | bytearray | memoryview):
                raise
            # Lambda hands a handler any JSON value it was invoked with, not only objects.
            raise EventValidationError(
                f"expected an EventBridge envelope (a JSON object), got {type(raw).__name__}",
                path="$",
            ) from None
    if not is_mapping:  # an integral float for an int field (100.0) is an integer
        _STAMPS.made = None
        try:
            fixed = integral_retry(_DECODER.decode, typing.cast(bytes, raw), error)
        except msgspec.DecodeError as exc:
            error, fixed = exc, None
        if fixed is not None:
            event = finite_decimals(fixed)
            check_parsed(event, strict=strict)
            return event
    # Slow path: is it an unknown detail-type, or a bad payload of a known one?
    try:
        if is_mapping:
            head = msgspec.convert(raw, _Head)
        else:
            head = _HEAD_DECODER.decode(typing.cast(bytes, raw))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise decode_error(error, None) from None
    if head.detail_type in _BY_DETAIL_TYPE:
        raise decode_error(error, head.detail_type) from None
    if strict:
        event_class(head.detail_type)  # raises UnknownEventTypeError, listing the known
    try:
        if is_mapping:
            return msgspec.convert(raw, UnknownEvent)
        return _UNKNOWN_DECODER.decode(typing.cast(bytes, raw))
    except msgspec.DecodeError as exc:
        raise decode_error(exc, head.detail_type) from None
    except (UnicodeError, RecursionError) as exc:
        raise unreadable(exc, head.detail_type) from None


#: One value of a pattern's list: a literal, or a match expression such as
#: ``{"prefix": "bank."}`` or ``{"numeric": [">", 100]}``.
PatternValue = str | int | float | bool | None | Mapping[str, object]

EventPattern = TypedDict(
    "EventPattern",
    {
        "version": list[PatternValue],
        "id": list[PatternValue],
        "source": Required[list[PatternValue]],
        "detail-type": Required[list[PatternValue]],
        "account": list[PatternValue],
        "time": list[PatternValue],
        "region": list[PatternValue],
        "resources": list[PatternValue],
        "replay-name": list[PatternValue],
        "detail": Mapping[str, object],
        "$or": list[Mapping[str, object]],
    },
    total=False,
)
EventPattern.__doc__ = """An EventBridge event pattern, as :func:`event_pattern` returns it.

``source`` and ``detail-type`` always; the other envelope fields by their wire names,
each a list of :data:`PatternValue`; ``detail`` (and ``$or``) nest freely. A ``detail``
filter, an operator expression or another envelope field type-checks under
``mypy --strict`` (any other pattern is a ``Mapping[str, object]``, which
:func:`~tfso_events.patterns.compile_pattern` takes)::

    pattern = event_pattern(BankTransactionCreatedV1Event)
    pattern["detail"] = {"content": {"status": {"code": [{"numeric": [">=", 100]}]}}}
"""


def event_pattern(
    *event_classes: type[TfsoEvent], detail: Mapping[str, object] | None = None
) -> EventPattern:
    """An EventBridge event pattern matching the given events (for CDK ``EventPattern``
    or ``put_rule``), with an optional ``detail`` filter (see :func:`detail_filter`)::

        >>> from tfso_events.models.bank_transaction_created_v1 import (
        ...     BankTransactionCreatedV1Event)
        >>> pattern = event_pattern(BankTransactionCreatedV1Event)
        >>> pattern["source"], pattern["detail-type"]
        (['com.24sevenoffice.banktransfer'], ['bank.transaction:created@v1'])
    """
    if not event_classes:
        raise ValueError("event_pattern() needs at least one event class")
    sources: list[PatternValue] = list(dict.fromkeys(cls.source for cls in event_classes))
    detail_types: list[PatternValue] = list(dict.fromkeys(cls.detail_type for cls in event_classes))
    pattern: EventPattern = {"source": sources, "detail-type": detail_types}
    if detail is not None:
        pattern["detail"] = detail
    return pattern


def detail_filter(event_cls: type[TfsoEvent], /, **fields: list[PatternValue]) -> dict[str, Any]:
    """A ``detail`` filter written against the model's attribute names, checked and
    turned into the wire's names::

        >>> from tfso_events.models.bank_transaction_created_v1 import (
        ...     BankTransactionCreatedV1Event)
        >>> detail_filter(BankTransactionCreatedV1Event,
        ...               content__status__code=[{"numeric": [">=", 100]}])
        {'content': {'status': {'code': [{'numeric': ['>=', 100]}]}}}

    A key is attribute names joined by ``__`` from the detail (``content__status__code``,
    ``metadata__tenant``: metadata takes any key). A name the model does not have raises
    ``ValueError`` naming it.
    """
    out: dict[str, Any] = {}
    for key, values in fields.items():
        names = key.split("__")
        wire = _wire_path(event_cls, names, key)
        node = out
        for name in wire[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ValueError(f"{key!r} nests under a field another key filters on")
            node = child
        node[wire[-1]] = list(values)
    return out


def _wire_path(event_cls: type[TfsoEvent], names: list[str], key: str) -> list[str]:
    info: msgspec.inspect.Type = msgspec.inspect.type_info(event_cls.detail_class())
    wire: list[str] = []
    for index, name in enumerate(names):
        struct = _struct_of(info)
        if struct is None:
            if isinstance(_unwrap(info), msgspec.inspect.DictType | msgspec.inspect.AnyType):
                wire.extend(names[index:])  # metadata and other free-form maps
                return wire
            raise ValueError(
                f"{event_cls.__name__}: {key!r} goes past {'__'.join(names[:index])!r}, "
                "which has no fields"
            )
        field = next((f for f in struct.fields if f.name == name), None)
        if field is None:
            known = ", ".join(f.name for f in struct.fields)
            raise ValueError(
                f"{event_cls.__name__}: no field {name!r} in {key!r} (fields here: {known})"
            )
        wire.append(field.encode_name)
        info = field.type
    return wire


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(kinds) == 1:
            return kinds[0]
    if isinstance(info, msgspec.inspect.Metadata):
        return _unwrap(info.type)
    return info


def _struct_of(info: msgspec.inspect.Type) -> msgspec.inspect.StructType | None:
    info = _unwrap(info)
    if isinstance(info, msgspec.inspect.ListType):
        info = _unwrap(info.item_type)  # EventBridge looks into arrays
    return info if isinstance(info, msgspec.inspect.StructType) else None


def event_schema(event_cls: type[TfsoEvent]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the detail of ``event_cls``.

    For an event of the catalog this is its schema document exactly as shipped in
    ``tfso_events/schemas/`` (the source its model is generated from), read on first
    use: descriptions, required flags, enums, ``format: decimal`` numbers,
    ``format: date-time`` strings, the seed's example and the ``x-detail-type``,
    ``x-source`` and ``x-module`` keywords. For any other :class:`TfsoEvent` subclass it
    is derived from the model. Each call returns a new dict.
    """
    if _BY_DETAIL_TYPE.get(event_cls.detail_type) is event_cls:
        return msgspec.json.decode(_schema_bytes(event_cls.detail_type))  # type: ignore[no-any-return]
    return model_schema(event_cls)


_SCHEMA_BYTES: dict[str, bytes] = {}


def _schema_bytes(detail_type: str) -> bytes:
    data = _SCHEMA_BYTES.get(detail_type)
    if data is None:
        from importlib.resources import files

        name = detail_type.replace(":", ".") + ".json"
        data = _SCHEMA_BYTES[detail_type] = (files("tfso_events") / "schemas" / name).read_bytes()
    return data


def model_schema(event_cls: type[TfsoEvent]) -> dict[str, Any]:
    """The JSON Schema of the detail of ``event_cls`` as derived from the model (tests
    compare it with the shipped schema document).

    It states the rules the model enforces on a consumed detail: ``timestamp`` is
    required, integers are bounded to int64 (``minimum``/``maximum``), decimals are JSON
    numbers, date-times carry ``format: date-time`` and :data:`DATE_TIME_PATTERN`
    (an offset is required), ``metadata`` may be ``null``, and unknown properties are
    allowed (``additionalProperties: true``: a newer producer may add fields; the model
    ignores them). docs/design.md lists the few documents where the model is more
    lenient than the schema.
    """
    schema = _explicit(_decimals_as_numbers(msgspec.json.schema(event_cls.detail_class())))
    detail_def = schema["$defs"][event_cls.detail_class().__name__]
    detail_def["required"] = sorted({*detail_def.get("required", ()), "timestamp"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_cls.detail_type,
        **schema,
    }


#: The date-time grammar of ``event_schema``: RFC 3339 with seconds, an optional fraction
#: and ``Z`` or ``±HH:MM`` (``T``/``Z`` in either case, as RFC 3339 allows): what the TS
#: and .NET packages and this one write.
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _explicit(node: Any) -> Any:
    # State the additionalProperties stance on every object instead of leaving it to
    # the reader to know the default, and spell the date-time grammar out so a
    # validator without format assertion checks it too.
    if isinstance(node, dict):
        out = {key: _explicit(value) for key, value in node.items()}
        if out.get("type") == "object" and "additionalProperties" not in out:
            out["additionalProperties"] = True
        if out.get("type") == "string" and out.get("format") == "date-time":
            out["pattern"] = DATE_TIME_PATTERN
        return out
    if isinstance(node, list):
        return [_explicit(item) for item in node]
    return node


def _decimals_as_numbers(node: Any) -> Any:
    # msgspec describes Decimal as a string; our encoder writes it as a JSON number.
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "decimal":
            return {**node, "type": "number"}
        return {key: _decimals_as_numbers(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decimals_as_numbers(item) for item in node]
    return node


def validate_body(source: str, detail_type: str, detail: RawEvent) -> TfsoEvent:
    """Validate an events-API body ``{source, detailType, detail}`` against the catalog.

    Returns the typed event; raises :class:`UnknownEventTypeError` for an unknown
    detail-type and :class:`EventValidationError` (path rooted at ``$.detail``) for a
    source mismatch or an invalid detail.
    """
    cls = event_class(detail_type)
    if source != cls.source:
        raise EventValidationError(
            f"source {source!r} does not match {detail_type}, whose source is {cls.source!r}",
            path="$.source",
            detail_type=detail_type,
        )
    try:
        parsed = cls.parse_detail(detail)
    except EventValidationError as exc:
        raise EventValidationError(
            exc.reason, path="$.detail" + exc.path[1:], detail_type=detail_type
        ) from None
    return cls(detail=parsed)
