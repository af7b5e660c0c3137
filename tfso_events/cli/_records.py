"""Event records read from JSON and NDJSON files, for ``tfso-events validate`` and ``publish``.

A file holds one JSON object, a JSON array of objects, or NDJSON (one object per line,
blank lines allowed). Each object is either an EventBridge envelope (it has
``detail-type``, as a consumer receives it) or an events API body
(``{"source", "detailType", "detail"}``, as ``TfsoEventApiClient`` posts it); any other
key is ignored, so a record written by ``publish --failed-out`` (the original plus a
``reason``) reads back as it was.

The format is told from the content, streaming where possible: when the first non-blank
line is a JSON object on its own, the file is NDJSON and is read line by line (memory
stays flat however big it is, and a broken line is reported while the others are still
read); otherwise the whole file is one JSON document. Files named ``*.ndjson`` or
``*.jsonl`` are always read as NDJSON.

Each record keeps its raw bytes: the typed decoder reads numbers exactly (a decimal is
never rounded through a float), and ``--failed-out`` writes back what was read.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

import msgspec

from tfso_events.catalog import event_class, validate_body
from tfso_events.errors import EventValidationError, UnknownEventTypeError
from tfso_events.models._base import TfsoEvent

__all__ = ["STDIN", "Record", "RecordFile", "failed_record", "to_event"]

#: The file name that means standard input.
STDIN = "-"
_NDJSON_SUFFIXES = frozenset({".ndjson", ".jsonl"})
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Record:
    """One record: where it was read (``file``, 1-based ``line``) and its ``raw`` JSON
    bytes, or, for text that is not JSON, ``raw=None`` and the ``error``; ``end`` is
    how many bytes of the file were read up to the end of it (for progress)."""

    file: str
    line: int
    raw: bytes | None
    error: str | None = None
    end: int = 0

    @property
    def where(self) -> str:
        """``file:line``, as editors and compilers print it."""
        return f"{self.file}:{self.line}"


class RecordFile:
    """Every record of the file at ``path`` (``-``: standard input), in order.

    The file is opened at once, so a missing or unreadable one raises :class:`OSError`
    here. Iterate once; the file is closed when the iteration ends, or by
    :meth:`close` (also ``with RecordFile(path) as records:``).
    """

    def __init__(self, path: str) -> None:
        self.size: int | None = None
        """The file's size in bytes, when it is a regular file (not a pipe)."""
        if path == STDIN:
            # A stream of its own on the same descriptor, not sys.stdin's: a thread may be
            # left blocked reading it at exit, and the interpreter tears sys.stdin down.
            self._stream: BinaryIO | None = open(  # noqa: SIM115 - closed by close()
                os.dup(sys.stdin.fileno()), "rb"
            )
            self._records = _records("<stdin>", self._stream, ndjson=False)
            return
        self._stream = open(path, "rb")  # noqa: SIM115 - closed by close()
        status = os.fstat(self._stream.fileno())
        if stat.S_ISREG(status.st_mode):
            self.size = status.st_size
        ndjson = Path(path).suffix.lower() in _NDJSON_SUFFIXES
        self._records = _records(path, self._stream, ndjson=ndjson)

    def __iter__(self) -> Iterator[Record]:
        try:
            yield from self._records
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading and close the file (unless another thread is blocked reading
        it, a pipe with nothing to read: then both are left to the process's exit)."""
        try:
            self._records.close()
        except ValueError:  # "generator already executing", on the reading thread
            return
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _records(name: str, stream: BinaryIO, *, ndjson: bool) -> Generator[Record, None, None]:
    lines = _numbered(stream)
    head: list[bytes] = []
    for number, line, end in lines:
        head.append(line)
        if line.strip(_WHITESPACE):
            first = (number, line, end)
            break
    else:
        return  # empty, or only blank lines: no records
    try:
        value = msgspec.json.decode(first[1])
    except msgspec.DecodeError:
        value = _BROKEN
    if ndjson or isinstance(value, dict):
        yield from _ndjson(name, [first], lines)
        return
    # Not an object on one line: a pretty-printed document, an array, or broken NDJSON.
    document = b"".join(head) + stream.read()
    records = _document(name, document)
    if records is None:
        # Not one valid document either. NDJSON with a broken first line still has
        # objects on later lines: read it line by line so the rest is checked too.
        numbered = list(_numbered(io.BytesIO(document)))
        if any(_is_object(line) for _, line, _ in numbered[first[0] :]):
            yield from _ndjson(name, numbered, iter(()))
            return
        yield _broken_document(name, document)
        return
    yield from records


def _numbered(stream: BinaryIO) -> Iterator[tuple[int, bytes, int]]:
    """Each line with its 1-based number and the bytes read up to its end."""
    end = 0
    for number, line in enumerate(stream, start=1):
        end += len(line)
        yield number, line, end


_BROKEN = object()


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(msgspec.json.decode(line), dict)
    except msgspec.DecodeError:
        return False


def _ndjson(
    name: str,
    first: Iterable[tuple[int, bytes, int]],
    rest: Iterator[tuple[int, bytes, int]],
) -> Iterator[Record]:
    for lines in (first, rest):
        for number, line, end in lines:
            raw = line.strip(_WHITESPACE)
            if not raw:
                continue
            try:
                _RAW.decode(raw)  # a syntax check that builds no objects
            except msgspec.DecodeError as exc:
                yield Record(name, number, None, f"not JSON: {_json_error(exc, raw)}", end)
                continue
            yield Record(name, number, raw, end=end)


_RAW = msgspec.json.Decoder(msgspec.Raw)


def _document(name: str, document: bytes) -> list[Record] | None:
    """The records of a whole-file JSON document, or ``None`` if it is not valid JSON."""
    start = len(document) - len(document.lstrip(_WHITESPACE))
    try:
        if document[start : start + 1] != b"[":
            # an object (or a stray scalar, which to_event refuses)
            whole = msgspec.json.decode(document, type=msgspec.Raw)
            raw = bytes(whole).strip(_WHITESPACE)
            return [Record(name, _line_at(document, start), raw, end=len(document))]
        value = msgspec.json.decode(document, type=list[msgspec.Raw])
    except msgspec.DecodeError:
        return None
    records = []
    cursor, line, counted = start + 1, 1, 0
    for item in value:
        raw = bytes(item)
        # Each element's bytes appear verbatim after the previous one: find its line.
        at = document.find(raw, cursor)
        line += document.count(b"\n", counted, at)
        counted = at
        cursor = at + len(raw)
        records.append(Record(name, line, raw, end=cursor))
    return records


def _broken_document(name: str, document: bytes) -> Record:
    end = len(document)
    try:
        msgspec.json.decode(document)
    except msgspec.DecodeError as exc:
        offset = _offset(exc)
        if offset is not None:
            line = _line_at(document, offset)
            column = offset - (document.rfind(b"\n", 0, offset) + 1) + 1
            reason = str(exc).rsplit(" (byte", 1)[0]
            return Record(name, line, None, f"not JSON: {reason} (column {column})", end)
        return Record(name, 1, None, f"not JSON: {exc}", end)
    return Record(name, 1, None, "not JSON", end)  # pragma: no cover - decoded after all


def _line_at(document: bytes, offset: int) -> int:
    return document.count(b"\n", 0, offset) + 1


def _offset(exc: msgspec.DecodeError) -> int | None:
    text = str(exc)
    marker = "(byte "
    if marker not in text:
        return None
    try:
        return int(text.rsplit(marker, 1)[1].rstrip(")"))
    except ValueError:
        return None


def _json_error(exc: msgspec.DecodeError, raw: bytes) -> str:
    offset = _offset(exc)
    reason = str(exc).rsplit(" (byte", 1)[0]
    return reason if offset is None else f"{reason} (column {offset + 1})"


# -- records as events ------------------------------------------------------------------


class _Shape(msgspec.Struct):
    """The keys that say what a record is; anything else is ignored."""

    envelope_type: Any = msgspec.field(default=None, name="detail-type")
    body_type: Any = msgspec.field(default=None, name="detailType")
    source: Any = None
    detail: msgspec.Raw = msgspec.Raw()  # empty: absent (Raw cannot be in a union)


_SHAPE = msgspec.json.Decoder(_Shape)


def to_event(raw: bytes) -> TfsoEvent:
    """The typed, validated event of one record's raw JSON.

    Raises :class:`~tfso_events.EventValidationError` with the JSON path of what is
    wrong, rooted at the record (``$.detail.content.favoriteColor``, ``$.source``).
    """
    try:
        shape = _SHAPE.decode(raw)
    except msgspec.ValidationError:
        raise EventValidationError("a record must be a JSON object", path="$") from None
    if shape.envelope_type is not None:
        key, detail_type, envelope = "detail-type", shape.envelope_type, True
    elif shape.body_type is not None:
        key, detail_type, envelope = "detailType", shape.body_type, False
    else:
        raise EventValidationError(
            "neither `detail-type` (an EventBridge envelope) nor `detailType` (an events "
            "API body {source, detailType, detail})",
            path="$",
        )
    if not isinstance(detail_type, str):
        raise EventValidationError(
            f"expected a string, got {_json_type(detail_type)}", path=f"$.{key}"
        )
    try:
        cls = event_class(detail_type)
    except UnknownEventTypeError as exc:
        raise UnknownEventTypeError(exc.reason, path=f"$.{key}") from None
    if shape.source is None:
        raise EventValidationError("missing `source`", path="$.source", detail_type=detail_type)
    if not isinstance(shape.source, str):
        raise EventValidationError(
            f"expected a string, got {_json_type(shape.source)}",
            path="$.source",
            detail_type=detail_type,
        )
    if not shape.detail:
        raise EventValidationError("missing `detail`", path="$.detail", detail_type=detail_type)
    if envelope:
        if shape.source != cls.source:
            raise EventValidationError(
                f"source {shape.source!r} does not match {detail_type}, whose source is "
                f"{cls.source!r}",
                path="$.source",
                detail_type=detail_type,
            )
        event: TfsoEvent = cls.parse(raw)
    else:
        event = validate_body(shape.source, detail_type, bytes(shape.detail))
    event.validate()  # the publishers' own check, so what passes here is sent as is
    return event


def _json_type(value: object) -> str:
    match value:
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case list():
            return "an array"
        case dict():
            return "an object"
        case _:
            return type(value).__name__


def failed_record(raw: bytes, reason: str) -> bytes:
    """One NDJSON line for ``--failed-out``: the record as read, plus ``"reason"``.

    Every value is written back byte for byte (numbers are not re-rounded), so the line
    can be published again as is; ``publish`` and ``validate`` ignore ``reason``.
    """
    try:
        fields = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except msgspec.DecodeError:
        # Valid JSON but not an object: keep it whole under "record".
        fields = {"record": msgspec.Raw(raw)}
    fields.pop("reason", None)
    return msgspec.json.encode({**fields, "reason": reason}) + b"\n"
