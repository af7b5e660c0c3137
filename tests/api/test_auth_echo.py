"""A token endpoint (or a proxy) that echoes the request: the secret is masked in every
encoding the client sent it in, and the scope hint comes from Auth0's error fields."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from tfso_events import AuthenticationError
from tfso_events.auth import AuthMethod, TokenProvider
from tfso_events.publishing._batching import RetryPolicy

#: Characters that form-encoding, percent-encoding and base64 all change.
SECRET = "p+s/w=rd&x y%z"
CLIENT = "echo-client"
ONCE = RetryPolicy(max_attempts=1)


def _echo_app(status: int, as_json: bool) -> web.Application:
    """A token endpoint answering ``status`` with the whole request echoed back (its
    headers and body), as plain text or inside an Auth0-shaped JSON error."""

    async def token(request: web.Request) -> web.Response:
        body = await request.text()
        auth = request.headers.get("Authorization", "")
        echo = f"body: {body} authorization: {auth}"
        if as_json:
            return web.json_response(
                {"error": "access_denied", "error_description": f"bad request scope=? {echo}"},
                status=status,
            )
        return web.Response(status=status, text=f"rejected (no scope): {echo}")

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    return app


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
async def test_an_echoed_request_leaks_no_form_of_the_secret(
    serve: Callable[[web.Application], Awaitable[str]], auth_method: AuthMethod, as_json: bool
) -> None:
    """Against an endpoint that echoes headers and body into a 401, the error quotes the
    echo with the secret masked raw, URL-encoded and as base64 of ``id:secret``; and,
    though the echo contains the word "scope", it does not claim a missing scope."""
    url = await serve(_echo_app(401, as_json))
    async with TokenProvider(
        url,
        CLIENT,
        SECRET,
        auth_method=auth_method,
        retry=ONCE,
    ) as provider:
        with pytest.raises(AuthenticationError) as info:
            await provider.get_token("bank")
    message = str(info.value)
    assert "***" in message
    for leaked in _encodings():
        assert leaked not in message, leaked
    assert "needs the `bank` scope" not in message
    assert "check the application id and secret" in message


def _encodings() -> list[str]:
    """The forms of SECRET on the wire, written out by hand."""
    import base64

    return [
        SECRET,
        "p%2Bs%2Fw%3Drd%26x+y%25z",  # the form body (quote_plus)
        "p%2Bs/w%3Drd%26x%20y%25z",  # quote
        base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode(),
        base64.b64encode(b"echo-client:p%2Bs/w%3Drd%26x%20y%25z").decode(),
    ]


async def test_a_403_without_auth0s_scope_error_hints_at_the_audience(
    serve: Callable[[web.Application], Awaitable[str]],
) -> None:
    """A 403 that is not Auth0's "Client has not been granted scopes" (here: an unknown
    API) points at the audience, not at a scope."""

    async def token(request: web.Request) -> web.Response:
        body = {"error": "access_denied", "error_description": "Service not found: x"}
        return web.Response(status=403, text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    url = await serve(app)
    async with TokenProvider(url, CLIENT, "s", retry=ONCE) as provider:
        with pytest.raises(AuthenticationError) as info:
            await provider.get_token("bank")
    assert "needs the `bank` scope" not in str(info.value)
    assert "check that the API" in str(info.value)
