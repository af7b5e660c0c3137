"""Small HTTP helpers shared by the hub's endpoints: JSON answers and bounded bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

__all__ = ["BodyTooLarge", "error_middleware", "json_response", "read_body"]

logger = logging.getLogger("tfso_events.local")

_encode = msgspec.json.Encoder().encode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    and turn an unexpected exception into a logged 500 that says it is a hub bug."""
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
    except Exception:
        logger.exception(
            "local hub: unexpected error answering %s %s", request.method, request.path
        )
        return json_response(
            500, {"error": "internal_error", "message": "unexpected error in the local hub (a bug)"}
        )
