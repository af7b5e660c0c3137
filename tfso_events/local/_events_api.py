"""``POST /events`` (the events API) and ``GET /events`` (what arrived).

``POST /events`` checks, in order: the bearer token (401), the body's shape (400), the
detail-type is in the catalog (400), the token's scopes include the event's module
(403), the detail against the catalog (400 with the JSON path); then stores the event
and answers ``200 {"eventId": ...}``. Nothing is stored unless every check passed.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from typing import Any

import msgspec
from aiohttp import web

from tfso_events.catalog import event_class, validate_body
from tfso_events.errors import EventValidationError, UnknownEventTypeError
from tfso_events.local._eventbridge import envelope
from tfso_events.local._http import BodyTooLarge, json_response, read_body
from tfso_events.local._state import HubState
from tfso_events.local._store import unreadable_number
from tfso_events.local._tokens import InvalidToken
from tfso_events.models._base import utf8_checked

__all__ = ["events_api_routes"]


class _Body(msgspec.Struct, rename="camel"):
    source: str
    detail_type: str
    # Kept as the bytes that arrived: validated by the catalog, stored without re-encoding.
    detail: msgspec.Raw


_BODY_DECODER = msgspec.json.Decoder(_Body)
_VIA = ("api", "eventbridge")
#: The largest ``limit``/``after_id``: SQLite's INTEGER is a signed 64-bit number.
_MAX_QUERY_NUMBER = 2**63 - 1


def _error(status: int, error: str, message: str, **extra: Any) -> web.Response:
    headers = extra.pop("headers", None)
    return json_response(status, {"error": error, "message": message, **extra}, headers=headers)


def _unauthorized(message: str) -> web.Response:
    reason = message.replace('"', "'")
    return _error(
        401,
        "invalid_token",
        message,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


def events_api_routes(state: HubState) -> list[web.RouteDef]:
    """``POST /events`` and ``GET /events``."""
    tokens = state.tokens
    faults = state.faults

    async def post_event(request: web.Request) -> web.Response:
        state.api_requests += 1
        await state.delay()
        if faults.hit(faults.error_rate):
            return _error(
                503,
                "service_unavailable",
                "injected fault: the events API is unavailable (error_rate)",
                headers=faults.retry_after_headers() or None,
            )
        if faults.hit(faults.throttle_rate):
            return _error(
                429,
                "too_many_requests",
                "injected fault: rate exceeded (throttle_rate)",
                headers=faults.retry_after_headers() or None,
            )
        if faults.over_quota():
            return _error(
                429,
                "too_many_requests",
                f"rate exceeded: the hub's quota is {faults.quota:g} events per second",
                headers=faults.retry_after_headers() or None,
            )
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("an `Authorization: Bearer <access token>` header is required")
        try:
            verified = tokens.verify(token.strip())
        except InvalidToken as exc:
            return _unauthorized(str(exc))

        if request.content_type != "application/json":
            return _error(
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {request.content_type!r}",
            )
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _error(
                413,
                "payload_too_large",
                f"the body is over the hub's limit of {request.client_max_size} bytes",
            )
        try:
            body = _BODY_DECODER.decode(utf8_checked(raw))
        except msgspec.ValidationError as exc:
            reason, _, path = str(exc).rpartition(" - at `")
            if not _:
                reason, path = str(exc), "$"
            return _error(
                400,
                "invalid_body",
                f"the body must be {{source, detailType, detail}}: {reason}",
                path=path.rstrip("`"),
            )
        except (msgspec.DecodeError, UnicodeError, RecursionError):
            return _error(400, "invalid_json", "the body is not valid JSON", path="$")

        try:
            cls = event_class(body.detail_type)
        except UnknownEventTypeError as exc:
            return _error(
                400, "unknown_detail_type", f"{exc.reason} at `$.detailType`", path="$.detailType"
            )
        if cls.module not in verified.scopes:
            granted = " ".join(sorted(verified.scopes)) or "none"
            return _error(
                403,
                "insufficient_scope",
                f"the access token lacks the `{cls.module}` scope needed to publish "
                f"{cls.detail_type} (it has: {granted}); the Auth0 application needs the "
                f"`{cls.module}` scope for audience {tokens.audience}",
                scope=cls.module,
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{cls.module}"'
                },
            )
        try:
            validate_body(body.source, body.detail_type, bytes(body.detail))
        except EventValidationError as exc:
            path = exc.path.replace("$.detail-type", "$.detailType")
            return _error(
                400,
                "validation_error",
                f"{exc.reason} at `{path}`",
                path=path,
                detailType=body.detail_type,
            )
        except RecursionError:
            return _error(
                400, "validation_error", "the detail is nested too deeply", path="$.detail"
            )

        unreadable = unreadable_number(bytes(body.detail))
        if unreadable is not None:
            path = "$.detail" + unreadable[1:]
            return _error(
                400,
                "validation_error",
                f"a number out of the range the hub can store and read back at `{path}`",
                path=path,
                detailType=body.detail_type,
            )
        event_id = str(uuid.uuid4())
        now = time.time()
        detail = bytes(body.detail).decode()
        state.store.add(
            [
                (
                    event_id,
                    "api",
                    body.source,
                    body.detail_type,
                    detail,
                    None,
                    "[]",
                    verified.client_id,
                    now,
                )
            ]
        )
        # The Event Hub puts an event on its module's bus, as the EventBridge client does.
        state.bus.submit(
            functools.partial(envelope, event_id, body.source, body.detail_type, detail, "[]", now),
            f"tfso-{cls.module}-events",
        )
        return json_response(200, {"eventId": event_id})

    async def list_events(request: web.Request) -> web.StreamResponse:
        query = request.query
        via = query.get("via")
        if via is not None and via not in _VIA:
            return _error(400, "invalid_query", "via must be `api` or `eventbridge`")
        order = query.get("order", "asc")
        if order not in ("asc", "desc"):
            return _error(400, "invalid_query", "order must be `asc` or `desc`")
        numbers: dict[str, int | None] = {}
        for name in ("limit", "after_id"):
            value = query.get(name)
            if value is None:
                numbers[name] = None
                continue
            # ASCII digits only (int() would take "1_000", " 7" or Arabic-Indic digits),
            # and no more than SQLite's INTEGER holds.
            digits = value.isascii() and value.isdigit() and len(value) <= 19
            number = int(value) if digits else -1
            if not 0 <= number <= _MAX_QUERY_NUMBER:
                return _error(
                    400,
                    "invalid_query",
                    f"{name} must be a whole number from 0 to {_MAX_QUERY_NUMBER}",
                )
            numbers[name] = number
        pages = state.store.json_pages(
            detail_type=query.get("detail_type"),
            via=via,
            source=query.get("source"),
            after_id=numbers["after_id"],
            limit=numbers["limit"],
            newest_first=order == "desc",
        )
        # Streamed a page at a time, yielding to the loop between pages: 100,000 stored
        # events (42 MB) built in one go held every other request for most of a second.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        separator = b"["
        for page in pages:
            await response.write(separator + page)
            separator = b","
            await asyncio.sleep(0)
        await response.write(b"[]" if separator == b"[" else b"]")
        await response.write_eof()
        return response

    return [web.post("/events", post_event), web.get("/events", list_events)]
