"""What arrived at the hub: an SQLite table (standard library), in memory or in a file.

Writes are cheap on purpose (soak tests push tens of thousands of events through the
hub): one transaction per request, a PutEvents call's entries in one ``executemany``,
the detail stored as the JSON text that arrived (never re-encoded). A file database
runs in WAL mode with ``synchronous=NORMAL``, so a commit does not wait for fsync and
readers (``sqlite3 hub.db``) never block the hub.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec

from tfso_events._files import create_private

__all__ = [
    "JSON_PAGE_SIZE",
    "EventStore",
    "ReceivedEvent",
    "StoredEntry",
    "Via",
    "unreadable_number",
]

logger = logging.getLogger("tfso_events.local")

#: How :meth:`EventStore.records` reads a detail back: msgspec's untyped JSON.
_DECODE = msgspec.json.Decoder().decode
#: The fallback for a stored number that does not fit a float: every float as Decimal.
_DECODE_EXACT = msgspec.json.Decoder(float_hook=Decimal).decode


def unreadable_number(detail: str | bytes) -> str | None:
    """The JSON path (``$.content.accountStatement``) of the first number in ``detail``
    that the hub could store but not read back as JSON (``1e400``, out of a float's
    range), or ``None`` when the whole detail reads back. ``detail`` is valid JSON."""
    try:
        _DECODE(detail)
    except msgspec.ValidationError:
        pass
    else:
        return None
    try:
        value = _DECODE_EXACT(detail)
    except (msgspec.DecodeError, RecursionError):
        return "$"
    return _out_of_range(value, "$") or "$"


def _out_of_range(value: Any, path: str) -> str | None:
    if isinstance(value, Decimal):
        return None if math.isfinite(float(value)) else path
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for where, item in items:
        found = _out_of_range(item, where)
        if found is not None:
            return found
    return None


def _read_detail(row_id: int, text: str) -> dict[str, Any] | None:
    """A stored detail as a dict; never raises. A number out of a float's range (stored
    before the hub refused them) is read as the exact :class:`~decimal.Decimal` that was
    sent; a row that is not a JSON object at all is skipped with a warning."""
    try:
        value = _DECODE(text)
    except (msgspec.DecodeError, RecursionError):
        try:
            value = _DECODE_EXACT(text)
        except (msgspec.DecodeError, RecursionError):
            value = None
    if isinstance(value, dict):
        return value
    logger.warning("local hub: stored event #%d has no readable detail; skipped", row_id)
    return None


#: Which door an event came in by.
Via = Literal["api", "eventbridge"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    via TEXT NOT NULL,
    source TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    detail TEXT NOT NULL,
    event_bus_name TEXT,
    resources TEXT NOT NULL,
    client_id TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_detail_type ON events (detail_type);
"""

_COLUMNS = (
    "id, event_id, via, source, detail_type, detail, event_bus_name, resources, client_id, "
    "received_at"
)
_INSERT = (
    "INSERT INTO events (event_id, via, source, detail_type, detail, event_bus_name, "
    "resources, client_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_Row = tuple[int, str, str, str, str, str, str | None, str, str | None, float]

#: One row to insert: event_id, via, source, detail_type, detail (JSON text),
#: event_bus_name, resources (JSON text), client_id, received_at (epoch seconds).
StoredEntry = tuple[str, str, str, str, str, str | None, str, str | None, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedEvent:
    """One event the hub accepted, as :meth:`LocalHub.received` returns it.

    ``via`` is ``"api"`` (``POST /events``) or ``"eventbridge"`` (PutEvents);
    ``detail`` is the detail as a dict, exactly as it arrived; ``event_id`` is the id
    the hub answered; ``event_bus_name`` is the PutEvents ``EventBusName`` as sent
    (``"default"`` when omitted; ``None`` for the API); ``client_id`` is the Auth0
    client that posted it (API only); ``id`` is the store's sequence number (the
    ``after_id`` cursor of ``GET /events``).
    """

    via: Via
    source: str
    detail_type: str
    detail: dict[str, Any]
    event_id: str
    event_bus_name: str | None
    received_at: datetime
    client_id: str | None = None
    resources: tuple[str, ...] = ()
    id: int = 0

    def envelope(self) -> dict[str, Any]:
        """The event as EventBridge would deliver it to a target (for ``parse_event``)."""
        return {
            "version": "0",
            "id": self.event_id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": "000000000000",
            "time": self.received_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "local",
            "resources": list(self.resources),
            "detail": self.detail,
        }

    def parse(self) -> Any:
        """The typed event (``<Name>Event``, or ``UnknownEvent``) via ``parse_event``."""
        from tfso_events.catalog import parse_event

        return parse_event(self.envelope())


class _EventJson(msgspec.Struct, rename="camel"):
    """One record of ``GET /events``; ``detail`` and ``resources`` pass through raw."""

    id: int
    event_id: str
    via: str
    source: str
    detail_type: str
    detail: msgspec.Raw
    event_bus_name: str | None
    resources: msgspec.Raw
    client_id: str | None
    received_at: str


_ENCODE = msgspec.json.Encoder().encode
#: Records per page of ``GET /events``: each page is one query and one encode, a few
#: milliseconds of the hub's loop (docs/performance.md, "the hub's GET /events").
JSON_PAGE_SIZE = 100


class EventStore:
    """The hub's event table; safe to read from another thread (``with LocalHub()``)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path:
            # Every event the hub received goes in: owner-only (0600), as SQLite's WAL
            # and shared-memory files then are too (SQLite gives them the database's mode).
            create_private(path)
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False)
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        """Close the database (a file keeps its events for the next start)."""
        with self._lock:
            self._conn.close()

    def add(self, entries: Sequence[StoredEntry]) -> None:
        """Insert ``entries`` in one transaction."""
        if not entries:
            return
        with self._lock, self._conn:
            if len(entries) == 1:
                self._conn.execute(_INSERT, entries[0])
            else:
                self._conn.executemany(_INSERT, entries)

    def clear(self) -> None:
        """Forget every event."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM events")

    def count(self, *, detail_type: str | None = None, via: str | None = None) -> int:
        """How many events are stored (optionally of one detail-type / way in)."""
        where: list[str] = []
        params: list[str] = []
        for column, value in (("detail_type", detail_type), ("via", via)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT count(*) FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            (n,) = self._conn.execute(sql, params).fetchone()
        return int(n)

    def _select(
        self,
        *,
        detail_type: str | None,
        via: str | None,
        source: str | None,
        after_id: int | None,
        limit: int | None,
        newest_first: bool,
        before_id: int | None = None,
    ) -> list[_Row]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("detail_type", detail_type), ("via", via), ("source", source)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows: list[_Row] = self._conn.execute(sql, params).fetchall()
        return rows

    def records(
        self,
        *,
        detail_type: str | None = None,
        via: str | None = None,
        source: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ReceivedEvent]:
        """Stored events, oldest first (or newest first), filtered."""
        rows = self._select(
            detail_type=detail_type,
            via=via,
            source=source,
            after_id=after_id,
            limit=limit,
            newest_first=newest_first,
        )
        events: list[ReceivedEvent] = []
        for row in rows:
            detail = _read_detail(row[0], row[5])
            if detail is None:
                continue
            try:
                resources = tuple(str(r) for r in _DECODE(row[7]))
            except (msgspec.DecodeError, TypeError):
                resources = ()
            events.append(
                ReceivedEvent(
                    id=row[0],
                    event_id=row[1],
                    via=row[2],  # type: ignore[arg-type]  # only "api"/"eventbridge" are written
                    source=row[3],
                    detail_type=row[4],
                    detail=detail,
                    event_bus_name=row[6],
                    resources=resources,
                    client_id=row[8],
                    received_at=datetime.fromtimestamp(row[9], UTC),
                )
            )
        return events

    def json_pages(
        self,
        *,
        detail_type: str | None = None,
        via: str | None = None,
        source: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        page_size: int = JSON_PAGE_SIZE,
    ) -> Iterator[bytes]:
        """The records of ``GET /events``, as the comma-separated JSON objects of at most
        ``page_size`` records per item (details passed through, never re-encoded).

        Each item is one short query (keyset on ``id``, the lock held for that query
        only) and one encode, so a caller serving a large store can let other work run
        between pages. The set is fixed when the first page is read: events stored
        later are not included (poll again with ``after_id``)."""
        with self._lock:
            (last,) = self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        remaining = limit
        # The window still to serve: ids above ``low`` and below ``high``.
        low, high = after_id, int(last) + 1
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            rows = self._select(
                detail_type=detail_type,
                via=via,
                source=source,
                after_id=low,
                before_id=high,
                limit=size,
                newest_first=newest_first,
            )
            if not rows:
                return
            if remaining is not None:
                remaining -= len(rows)
            if newest_first:
                high = rows[-1][0]
            else:
                low = rows[-1][0]
            yield _ENCODE([_event_json(row) for row in rows])[1:-1]
            if len(rows) < size:
                return

    def records_json(
        self,
        *,
        detail_type: str | None = None,
        via: str | None = None,
        source: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> bytes:
        """The same records as one JSON array (what ``GET /events`` streams in pages)."""
        pages = self.json_pages(
            detail_type=detail_type,
            via=via,
            source=source,
            after_id=after_id,
            limit=limit,
            newest_first=newest_first,
        )
        return b"[" + b",".join(pages) + b"]"


def _event_json(row: _Row) -> _EventJson:
    return _EventJson(
        id=row[0],
        event_id=row[1],
        via=row[2],
        source=row[3],
        detail_type=row[4],
        detail=msgspec.Raw(row[5].encode()),
        event_bus_name=row[6],
        resources=msgspec.Raw(row[7].encode()),
        client_id=row[8],
        received_at=_iso(row[9]),
    )


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def resources_json(resources: Iterable[str] | None) -> str:
    """The JSON text stored for an entry's ``Resources``."""
    return _ENCODE(list(resources or ())).decode()
