"""Small HTTP helpers shared by the hub's endpoints: JSON answers and bounded bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_LOGGED_CHARS",
    "BodyTooLarge",
    "clip",
    "error_middleware",
    "json_response",
    "read_body",
]

logger = logging.getLogger("tfso_events.local")

_encode = msgspec.json.Encoder().encode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: A request header line longer than this (aiohttp's own default limit) is refused with
#: a JSON 431. aiohttp's parser is given room for much more (``PARSER_HEADER_BYTES``) so
#: that the hub, not the parser, answers: in its JSON shape, logging no header content.
MAX_HEADER_BYTES = 8190
PARSER_HEADER_BYTES = 128 * 1024
#: Client-supplied text (a detail-type, a path) is cut to this many characters in logs.
MAX_LOGGED_CHARS = 200


def clip(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with a note of the full length: what
    a client sent goes into a log line bounded, however long it was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


class BodyTooLarge(Exception):
    """The request body is over the hub's limit."""


def json_response(
    status: int,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """A response with ``body`` encoded as JSON."""
    return web.Response(
        status=status, body=_encode(body), content_type=content_type, headers=headers
    )


async def read_body(request: web.Request) -> bytes:
    """The whole body, or :class:`BodyTooLarge` if it is over ``client_max_size``."""
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge from None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer routing errors (404, 405, ...) with a JSON body like every other error,
    refuse oversized header lines with a JSON 431, log a client that hung up at DEBUG
    (it is not a hub bug), and turn an unexpected exception into a logged 500 that says
    it is a hub bug. Logged paths are clipped; header contents are never logged."""
    for name, value in request.raw_headers:
        if len(name) + len(value) + 2 > MAX_HEADER_BYTES:
            header = name.decode("latin-1")[:64]
            logger.warning(
                "local hub: refused %s %s: header %s of %d bytes is over %d",
                request.method,
                clip(request.path),
                clip(header),
                len(value),
                MAX_HEADER_BYTES,
            )
            return json_response(
                431,
                {
                    "error": "request_header_too_large",
                    "message": f"the {header} header is {len(value)} bytes; the hub takes "
                    f"header lines of at most {MAX_HEADER_BYTES} bytes",
                },
            )
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_response(
            exc.status,
            {
                "error": exc.reason.lower().replace(" ", "_"),
                "message": f"{exc.reason}: {request.method} {request.path}",
            },
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except ConnectionResetError:
        # The client hung up (its timeout, a cancel) while we read its request: no one
        # is left to answer, and it is not a bug. (Re-raising would make aiohttp log an
        # ERROR traceback; the answer below is dropped with the closed connection.)
        logger.debug(
            "local hub: the client hung up during %s %s", request.method, clip(request.path)
        )
        return json_response(
            400, {"error": "client_closed_request", "message": "the client hung up"}
        )
    except Exception:
        logger.exception(
            "local hub: unexpected error answering %s %s", request.method, clip(request.path)
        )
        return json_response(
            500, {"error": "internal_error", "message": "unexpected error in the local hub (a bug)"}
        )
