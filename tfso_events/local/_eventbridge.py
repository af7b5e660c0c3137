"""``POST /`` with ``X-Amz-Target: AWSEvents.PutEvents``: EventBridge's JSON 1.1 protocol.

Whole-call errors use the shape botocore parses (``{"__type", "message"}``, HTTP 400 or
500): ``ValidationException`` for 0 or more than 10 entries or a request whose entries
are over the size limit (AWS's entry-size formula), ``SerializationException`` for a
body that is not a PutEvents request, ``UnknownOperationException`` for another target.

Otherwise every entry gets a result, in order: ``EventId``, or ``ErrorCode`` and
``ErrorMessage``:

* ``InvalidArgument`` — ``Source``, ``DetailType`` or ``Detail`` missing or empty, or
  (for a detail-type in the catalog) a source mismatch or a detail that does not match
  its model; the message names the JSON path (``$.detail.content.favoriteColor``);
* ``MalformedDetail`` — ``Detail`` is not a JSON object;
* ``ThrottlingException`` — injected by ``faults.throttle_rate``, and for entries
  beyond ``faults.quota`` per second.

A detail-type the catalog does not know is accepted and stored, as EventBridge does
(unless the hub is ``strict``); one known to the catalog must match its model.
Signatures are not checked: any credentials will do.
"""

from __future__ import annotations

import functools
import time
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from tfso_events._clip import clip
from tfso_events.catalog import event_classes, validate_body
from tfso_events.errors import EventValidationError
from tfso_events.local._bus import ACCOUNT, REGION, bus_name
from tfso_events.local._http import BodyTooLarge, json_response, logger, read_body
from tfso_events.local._rules_api import RULE_OPERATIONS, answer
from tfso_events.local._state import HubState
from tfso_events.local._store import StoredEntry, resources_json, unreadable_number
from tfso_events.models._base import utf8_checked

__all__ = ["MAX_ENTRIES", "entry_size", "envelope", "eventbridge_routes"]

#: PutEvents takes at most this many entries per call.
MAX_ENTRIES = 10
_TARGET = "AWSEvents.PutEvents"
_CONTENT_TYPE = "application/x-amz-json-1.1"
_ACCEPTED_TYPES = (_CONTENT_TYPE, "application/json")


class _Entry(msgspec.Struct, rename="pascal"):
    source: str | None = None
    detail_type: str | None = None
    detail: str | None = None
    event_bus_name: str | None = None
    resources: list[str] | None = None
    time: float | str | None = None
    trace_header: str | None = None


class _Request(msgspec.Struct, rename="pascal"):
    entries: list[_Entry]
    endpoint_id: str | None = None


_REQUEST_DECODER = msgspec.json.Decoder(_Request)
#: Any JSON, numbers out of a float's range included (as Decimal).
_ANY_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def entry_size(entry: _Entry) -> int:
    """AWS's PutEvents entry size: 14 bytes for ``Time`` if set, plus the UTF-8 bytes of
    ``Source``, ``DetailType``, ``Detail`` and each ``Resources`` item."""
    size = 14 if entry.time is not None else 0
    for text in (entry.source, entry.detail_type, entry.detail):
        if text:
            size += len(text.encode())
    for resource in entry.resources or ():
        size += len(resource.encode())
    return size


def _aws_error(status: int, type_: str, message: str, **headers: str) -> web.Response:
    return json_response(
        status,
        {"__type": type_, "message": message},
        headers={"x-amzn-RequestId": str(uuid.uuid4()), **headers},
        content_type=_CONTENT_TYPE,
    )


def _failure(code: str, message: str) -> dict[str, str]:
    return {"ErrorCode": code, "ErrorMessage": message}


def _check(entry: _Entry, strict: bool) -> dict[str, str] | None:
    """The per-entry error of ``entry``, or ``None`` if it is acceptable."""
    for name, value in (
        ("Source", entry.source),
        ("DetailType", entry.detail_type),
        ("Detail", entry.detail),
    ):
        if not value:
            return _failure(
                "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is required."
            )
    source, detail_type, detail = entry.source or "", entry.detail_type or "", entry.detail or ""
    try:
        validate_body(source, detail_type, detail)
    except EventValidationError as exc:
        error = exc
    except RecursionError:
        return _failure("MalformedDetail", "Detail is malformed: nested too deeply.")
    else:
        return _readable(entry)
    # Not valid for the catalog: is the detail a JSON object at all?
    try:
        is_object = isinstance(_ANY_DECODER.decode(detail), dict)
    except (msgspec.DecodeError, RecursionError):
        is_object = False
    if not is_object:
        return _failure("MalformedDetail", "Detail is malformed: it must be a JSON object.")
    if error.path == "$.detail-type" and not strict:
        return _readable(entry)  # unknown detail-type: EventBridge accepts any
    path = error.path.replace("$.detail-type", "$.DetailType")
    return _failure("InvalidArgument", f"{entry.detail_type}: {error.reason} at `{path}`")


def _readable(entry: _Entry) -> dict[str, str] | None:
    """Refuse a detail the hub could store but not read back (a number like ``1e400``)."""
    path = unreadable_number(entry.detail or "")
    if path is None:
        return None
    return _failure(
        "InvalidArgument",
        f"{entry.detail_type}: a number out of the range the hub can store and read "
        f"back at `$.Detail{path[1:]}`",
    )


def _envelope(row: StoredEntry) -> dict[str, Any]:
    """The envelope EventBridge builds for a stored PutEvents entry."""
    event_id, _via, source, detail_type, detail, _bus, resources, _client, at = row
    return envelope(event_id, source, detail_type, detail, resources, at)


def envelope(
    event_id: str, source: str, detail_type: str, detail: str, resources: str, at: float
) -> dict[str, Any]:
    """The envelope EventBridge delivers: version, id, detail-type, source, account,
    time, region, resources and the detail."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "region": REGION,
        "resources": msgspec.json.decode(resources),
        "detail": msgspec.json.decode(detail),
    }


def eventbridge_routes(state: HubState) -> list[web.RouteDef]:
    """``POST /`` speaking the PutEvents operation."""
    faults = state.faults
    limit = state.max_request_bytes
    known = frozenset(cls.detail_type for cls in event_classes())
    warned: set[str] = set()

    async def put_events(request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target") or ""
        operation = target.removeprefix("AWSEvents.")
        if target.startswith("AWSEvents.") and operation in RULE_OPERATIONS:
            try:
                raw = await read_body(request)
            except BodyTooLarge:
                return _aws_error(400, "ValidationException", "the request is too large")
            status, body = answer(state.bus, operation, raw)
            return json_response(
                status,
                body,
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
                content_type=_CONTENT_TYPE,
            )
        if target != _TARGET:
            operations = ", ".join([_TARGET.removeprefix("AWSEvents."), *RULE_OPERATIONS])
            return _aws_error(
                400,
                "UnknownOperationException",
                f"the local hub speaks {operations}, not {target or 'no X-Amz-Target'}",
            )
        state.put_events_calls += 1
        await state.delay()
        if faults.hit(faults.error_rate):
            return _aws_error(
                500,
                "InternalException",
                "injected fault: internal error (error_rate)",
                **faults.retry_after_headers(),
            )
        if request.content_type not in _ACCEPTED_TYPES:
            return _aws_error(
                400,
                "SerializationException",
                f"Content-Type must be {_CONTENT_TYPE}, got {request.content_type!r}",
            )
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _aws_error(
                400,
                "ValidationException",
                "Total size of the entries in the request is over the limit.",
            )
        try:
            call = _REQUEST_DECODER.decode(utf8_checked(raw))
        except msgspec.ValidationError as exc:
            return _aws_error(400, "SerializationException", f"not a PutEvents request: {exc}")
        except (msgspec.DecodeError, UnicodeError, RecursionError):
            return _aws_error(400, "SerializationException", "the body is not valid JSON")
        count = len(call.entries)
        if not 1 <= count <= 10:
            bound = "greater than or equal to 1" if count < 1 else "less than or equal to 10"
            return _aws_error(
                400,
                "ValidationException",
                f"1 validation error detected: Value at 'entries' failed to satisfy "
                f"constraint: Member must have length {bound} (got {count})",
            )
        size = sum(entry_size(entry) for entry in call.entries)
        if size >= limit:  # AWS: "the total entry size must be less than 256KB"
            return _aws_error(
                400,
                "ValidationException",
                f"Total size of the entries in the request is over the limit "
                f"({size} bytes, must be less than {limit}).",
            )

        now = time.time()
        results: list[dict[str, Any]] = []
        rows: list[StoredEntry] = []
        for entry in call.entries:
            failure = _check(entry, state.strict)
            if failure is None and (faults.hit(faults.throttle_rate) or faults.over_quota()):
                failure = _failure("ThrottlingException", "Rate exceeded")
            if failure is not None:
                results.append(failure)
                continue
            if entry.detail_type not in known and entry.detail_type not in warned:
                warned.add(entry.detail_type or "")
                logger.warning(
                    "local hub: accepted detail-type %s, which is not in the catalog, "
                    "without validating its detail",
                    clip(entry.detail_type),
                )
            event_id = str(uuid.uuid4())
            results.append({"EventId": event_id})
            rows.append(
                (
                    event_id,
                    "eventbridge",
                    entry.source or "",
                    entry.detail_type or "",
                    entry.detail or "",
                    entry.event_bus_name or "default",
                    resources_json(entry.resources),
                    None,
                    now,
                )
            )
        state.store.add(rows)
        for row in rows:
            state.bus.submit(functools.partial(_envelope, row), bus_name(row[5]))
        failed = count - len(rows)
        if failed:
            logger.debug("local hub: PutEvents refused %d of %d entries", failed, count)
        return json_response(
            200,
            {"FailedEntryCount": failed, "Entries": results},
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
            content_type=_CONTENT_TYPE,
        )

    return [web.post("/", put_events)]
