"""Small HTTP helpers shared by the hub's endpoints: JSON answers and bounded bodies
(in size, and in time: :data:`READ_TIMEOUT`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

from tfso_events._clip import clip

__all__ = [
    "MAX_HEADER_BYTES",
    "READ_TIMEOUT",
    "BodyTimeout",
    "BodyTooLarge",
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
#: Seconds a client has to send the rest of a request body (``LocalHub(read_timeout=)``).
READ_TIMEOUT = web.AppKey("read_timeout", float)


class BodyTooLarge(Exception):
    """The request body is over the hub's limit."""


class BodyTimeout(Exception):
    """The client did not send the whole body within the read timeout."""


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
    """The whole body, or :class:`BodyTooLarge` if it is over ``client_max_size``, or
    :class:`BodyTimeout` if it has not all arrived within the app's :data:`READ_TIMEOUT`
    (the middleware answers 408 and closes the connection)."""
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    try:
        async with asyncio.timeout(request.app[READ_TIMEOUT]):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge from None
    except TimeoutError:
        raise BodyTimeout from None


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
    except BodyTimeout:
        # A client that trickles (or stops sending) its body holds a connection: answer
        # and close it, rather than wait for the rest forever.
        logger.debug(
            "local hub: %s %s: the body did not arrive within %s s; closing",
            request.method,
            clip(request.path),
            request.app[READ_TIMEOUT],
        )
        response = json_response(
            408,
            {
                "error": "request_timeout",
                "message": f"the request body did not arrive within {request.app[READ_TIMEOUT]} s",
            },
        )
        response.force_close()
        # Answer, then hang up at once: no lingering read of a body that is not coming
        # (the transport sends what is buffered before it closes).
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.close()
        return response
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
