"""Events rebuilt from outbox rows, for the publishers.

A detail-type this version's catalog knows comes back as its typed event (its detail
parsed by its own class, so what the relay sends is checked once more against the
contract, and a :class:`~tfso_events.PublishFailure` carries a real event). A
detail-type it does not know (a newer service wrote it) is still publishable: it comes
back as a :class:`StoredEvent` whose ``detail_json()`` is the stored bytes, exactly as
they were validated at ``add()``; the publishers take any :class:`TfsoEvent` by its
class constants and ``detail_json()``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tfso_events.errors import EventValidationError, UnknownEventTypeError
from tfso_events.models._base import EventContent, EventDetail, TfsoEvent
from tfso_events.models._catalog import event_class
from tfso_events.outbox._lease import Claimed

__all__ = ["StoredEvent", "rebuild"]


class StoredEvent(TfsoEvent, kw_only=True):
    """An event of a detail-type this version does not know, with its wire detail.

    One subclass per (detail-type, source, module) carries the class constants the
    publishers read; ``wire`` holds the detail bytes that ``detail_json()`` returns.
    """

    source: ClassVar[str] = ""
    detail_type: ClassVar[str] = ""
    module: ClassVar[str] = ""

    wire: bytes = b""

    def detail_json(self) -> bytes:
        """The stored detail, as validated when it was added."""
        return self.wire


def _wire_detail_json(self: Any) -> bytes:
    """The stored detail bytes (validated at ``add()``, checked again when rebuilt)."""
    wire: bytes = self.wire
    return wire


_STORED: dict[tuple[str, str, str], type[StoredEvent]] = {}
_WIRED: dict[type[TfsoEvent], type[TfsoEvent]] = {}
_PLACEHOLDER = EventDetail(content=EventContent(), metadata={})


def _stored_class(detail_type: str, source: str, module: str) -> type[StoredEvent]:
    key = (detail_type, source, module)
    cls = _STORED.get(key)
    if cls is None:
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__annotations__": {
                "source": ClassVar[str],
                "detail_type": ClassVar[str],
                "module": ClassVar[str],
            },
            "source": source,
            "detail_type": detail_type,
            "module": module,
        }
        meta: Any = type(StoredEvent)  # msgspec's StructMeta, with its class options
        cls = _STORED[key] = meta(
            f"StoredEvent[{detail_type}]", (StoredEvent,), namespace, kw_only=True
        )
    return cls


def _wired_class(cls: type[TfsoEvent]) -> type[TfsoEvent]:
    """``cls`` with a ``wire`` field that ``detail_json()`` returns: the typed event,
    sending the bytes that were stored (a re-encode could differ: an ``int`` given for
    a ``float`` field reads back as ``30.0``)."""
    wired = _WIRED.get(cls)
    if wired is None:
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__annotations__": {"wire": bytes},
            "wire": b"",
            "detail_json": _wire_detail_json,
        }
        meta: Any = type(cls)
        wired = _WIRED[cls] = meta(cls.__name__, (cls,), namespace, kw_only=True)
    return wired


def rebuild(row: Claimed) -> TfsoEvent:
    """The event of ``row``: typed when the catalog knows its detail-type (raises
    :class:`~tfso_events.EventValidationError` when the stored detail no longer
    matches its class), else a :class:`StoredEvent`; either sends the stored bytes."""
    resources: list[str] = json.loads(row.resources) if row.resources else []
    wire = row.detail.encode()
    try:
        cls = event_class(row.detail_type)
    except UnknownEventTypeError:
        stored = _stored_class(row.detail_type, row.source, row.module)
        return stored(detail=_PLACEHOLDER, wire=wire, resources=resources)
    if cls.source != row.source:
        raise EventValidationError(
            f"stored with source {row.source!r}, but {row.detail_type} is {cls.source!r}",
            path="$.source",
            detail_type=row.detail_type,
        )
    detail = cls.parse_detail(wire)  # raises EventValidationError with the path
    event: TfsoEvent = _wired_class(cls)(detail=detail, resources=resources, wire=wire)  # type: ignore[call-arg]
    return event
