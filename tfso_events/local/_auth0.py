"""``POST /oauth/token`` and the JWKS, answered the way Auth0 answers them.

Client-credentials only: ``grant_type``, ``audience`` (required) and an optional
``scope``, sent form-encoded or as JSON; the client authenticates with
``client_id``/``client_secret`` in the body or with HTTP Basic. Errors carry Auth0's
``{"error", "error_description"}`` body and status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from tfso_events.local._http import BodyTooLarge, json_response, logger, read_body
from tfso_events.local._state import HubState
from tfso_events.local._tokens import GrantError
from tfso_events.models._base import utf8_checked

__all__ = ["auth0_routes"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PARAMS_DECODER = msgspec.json.Decoder(dict[str, Any])
_FORM = "application/x-www-form-urlencoded"


def _error(status: int, error: str, description: str, **headers: str) -> web.Response:
    return json_response(
        status, {"error": error, "error_description": description}, headers=headers or None
    )


async def _params(request: web.Request) -> dict[str, str]:
    content_type = request.content_type
    if content_type == _FORM:
        body = await read_body(request)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise GrantError(400, "invalid_request", "the form body is not UTF-8") from None
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
        except ValueError:
            raise GrantError(400, "invalid_request", "the form body is malformed") from None
        return dict(pairs)
    if content_type == "application/json":
        body = await read_body(request)
        try:
            raw = _PARAMS_DECODER.decode(utf8_checked(body))
        except (msgspec.DecodeError, UnicodeError, RecursionError):
            raise GrantError(
                400, "invalid_request", "the body is not a JSON object of parameters"
            ) from None
        params: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                raise GrantError(400, "invalid_request", f"parameter {key} must be a string")
            params[key] = value
        return params
    raise GrantError(
        400,
        "invalid_request",
        f"unsupported Content-Type {content_type!r}: send {_FORM} or application/json",
    )


def auth0_routes(state: HubState) -> list[web.RouteDef]:
    """The token endpoint, the JWKS and the OpenID discovery document."""

    async def token(request: web.Request) -> web.Response:
        state.token_attempts += 1
        await state.delay()
        faults = state.faults
        if faults.hit(faults.token_error_rate):
            return _error(
                503,
                "temporarily_unavailable",
                "injected fault: the token endpoint is unavailable (token_error_rate)",
                **faults.retry_after_headers(),
            )
        try:
            params = await _params(request)
            answer = state.tokens.grant(params, request.headers.get("Authorization"))
        except BodyTooLarge:
            return _error(413, "invalid_request", "the request body is too large")
        except GrantError as exc:
            logger.debug("local hub: token refused (%s %s)", exc.status, exc.error)
            return _error(exc.status, exc.error, exc.description)
        state.token_requests += 1
        return json_response(200, answer, headers=_NO_STORE)

    async def jwks(request: web.Request) -> web.Response:
        return json_response(200, state.tokens.jwks())

    async def openid_configuration(request: web.Request) -> web.Response:
        issuer = state.tokens.issuer
        return json_response(
            200,
            {
                "issuer": issuer,
                "token_endpoint": f"{issuer}oauth/token",
                "jwks_uri": f"{issuer}.well-known/jwks.json",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
        )

    return [
        web.post("/oauth/token", token),
        web.get("/.well-known/jwks.json", jwks),
        web.get("/.well-known/openid-configuration", openid_configuration),
    ]
