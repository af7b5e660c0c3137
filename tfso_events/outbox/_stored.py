"""Events rebuilt from outbox rows, for the publishers.

A row's ``detail`` is the JSON that :meth:`Outbox.add <tfso_events.outbox.Outbox.add>`
validated with the publishers' own validation, exactly as it goes on the wire. The
relay sends those bytes as they are: each row comes back as a :class:`StoredEvent`
(one subclass per detail-type, source and module, carrying the class constants the
publishers read) whose ``detail_json()`` returns the stored bytes. Nothing is decoded
or validated again on the way out: that parse cost 8 µs a row, up to a quarter of the
relay's own CPU, and could only refuse what ``add()`` accepted (a newer service's
detail-type, a contract change between the two versions), which the hub judges anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from tfso_events.models._base import EventContent, EventDetail, TfsoEvent
from tfso_events.outbox._lease import Claimed

__all__ = ["StoredEvent", "rebuild"]


class StoredEvent(TfsoEvent, kw_only=True):
    """An event read back from an outbox row, with its wire detail (also the way to
    put an event of a detail-type this version does not know into an outbox).

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


_STORED: dict[tuple[str, str, str], type[StoredEvent]] = {}
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


#: A module as it can name a bus (``tfso-{module}-events``) and an Auth0 scope.
_MODULE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def rebuild(row: Claimed) -> TfsoEvent:
    """The event of ``row``: a :class:`StoredEvent` of its detail-type, source and
    module that sends the stored detail bytes (never decoded here).

    Raises ``ValueError`` for a row that ``add()`` cannot have written (another writer,
    a hand edit): its columns not text, its detail not UTF-8, its module no name, its
    resources not a JSON array of strings. The relay buries such a row with the reason
    instead of handing the publisher something that fails the whole batch."""
    for column in ("detail_type", "source", "module", "detail"):
        if not isinstance(getattr(row, column), str):
            raise ValueError(f"its {column} column is not text")
    if not _MODULE.fullmatch(row.module):
        raise ValueError(f"its module column {row.module[:80]!r} names no bus or scope")
    try:
        wire = row.detail.encode()
    except UnicodeEncodeError:  # read back with surrogateescape (see _db.relay_engine)
        raise ValueError("its detail column is not UTF-8 text") from None
    resources: list[str] = json.loads(row.resources) if row.resources else []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise ValueError("its resources column is not a JSON array of strings")
    cls = _STORED.get((row.detail_type, row.source, row.module))
    if cls is None:
        cls = _stored_class(row.detail_type, row.source, row.module)
    return cls(detail=_PLACEHOLDER, wire=wire, resources=resources)
