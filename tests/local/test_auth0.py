"""The hub's Auth0 stand-in: client-credentials tokens, Auth0's error shapes, JWKS."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.local.conftest import fetch_token, token_form
from tfso_events.environments import AUDIENCE
from tfso_events.local import LocalHub


async def _post_token(
    session: aiohttp.ClientSession, hub: LocalHub, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{hub.url}/oauth/token", **kwargs) as response:
        return response.status, await response.json()


async def test_form_request_gets_a_bearer_token_with_every_granted_scope(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A form-encoded client_secret_post request gets Auth0's token answer."""
    status, body = await _post_token(session, hub, data=token_form())
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "bank crm"
    assert body["access_token"].count(".") == 2


async def test_json_request_with_scope_gets_exactly_that_scope(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A JSON body is accepted, and a requested scope narrows the token to it."""
    status, body = await _post_token(session, hub, json=token_form(scope="bank"))
    assert (status, body["scope"]) == (200, "bank")


async def test_http_basic_client_authentication(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """Client credentials in an HTTP Basic header are accepted (client_secret_basic)."""
    hub.register_client("svc:a", "p@ss word", ["crm"])
    form = {"grant_type": "client_credentials", "audience": AUDIENCE}
    # RFC 6749 §2.3.1: each half is form-urlencoded before base64.
    basic = base64.b64encode(b"svc%3Aa:p%40ss+word".replace(b"+", b"%20")).decode()
    status, body = await _post_token(
        session, hub, data=form, headers={"Authorization": f"Basic {basic}"}
    )
    assert (status, body["scope"]) == (200, "crm")
    bad = base64.b64encode(b"svc%3Aa:wrong").decode()
    status, body = await _post_token(
        session, hub, data=form, headers={"Authorization": f"Basic {bad}"}
    )
    assert (status, body["error"]) == (401, "access_denied")


async def test_token_claims(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """The token carries iss, sub, aud, iat, exp, scope and gty as Auth0 writes them."""
    before = int(time.time())
    token = await fetch_token(session, hub, scope="bank")
    claims = jwt.decode(token, KeySet.import_key_set(hub.jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == f"{hub.url}/"
    assert claims["sub"] == "local-client@clients"
    assert claims["aud"] == AUDIENCE
    assert claims["scope"] == "bank"
    assert claims["gty"] == "client-credentials"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] in (86400, 86401)


async def test_token_verifies_with_the_served_jwks(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """GET /.well-known/jwks.json publishes the RS256 public key that signs the tokens."""
    token = await fetch_token(session, hub)
    async with session.get(f"{hub.url}/.well-known/jwks.json") as response:
        assert response.status == 200
        jwks = await response.json()
    (key,) = jwks["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key  # the private exponent never leaves the hub
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["kid"] == key["kid"]
    async with session.get(f"{hub.url}/.well-known/openid-configuration") as response:
        discovery = await response.json()
    assert discovery["jwks_uri"] == f"{hub.url}/.well-known/jwks.json"
    assert discovery["issuer"] == f"{hub.url}/"


async def test_token_ttl_is_configurable() -> None:
    """LocalHub(token_ttl=...) sets expires_in and the exp claim."""
    async with LocalHub(token_ttl=5) as short, aiohttp.ClientSession() as session:
        status, body = await _post_token(session, short, data=token_form())
    assert (status, body["expires_in"]) == (200, 5)


@pytest.mark.parametrize(
    ("form", "status", "error", "description"),
    [
        (token_form(client_secret="nope"), 401, "access_denied", "Unauthorized"),
        (token_form(client_id="stranger"), 401, "access_denied", "Unauthorized"),
        (
            {k: v for k, v in token_form().items() if k != "client_secret"},
            401,
            "access_denied",
            "Unauthorized",
        ),
        (
            {k: v for k, v in token_form().items() if k != "client_id"},
            400,
            "invalid_request",
            "Missing required parameter: client_id",
        ),
        (
            token_form(scope="bank payroll"),
            403,
            "access_denied",
            "Client has not been granted scopes: payroll",
        ),
        (
            {k: v for k, v in token_form().items() if k != "grant_type"},
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
        (
            token_form(grant_type="password"),
            400,
            "unsupported_grant_type",
            "Unsupported grant type: password",
        ),
        (
            {k: v for k, v in token_form().items() if k != "audience"},
            403,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        ),
        (
            token_form(audience="https://other.example"),
            403,
            "access_denied",
            "Service not found: https://other.example",
        ),
    ],
    ids=[
        "bad-secret",
        "unknown-client",
        "no-secret",
        "no-client-id",
        "scope-not-granted",
        "no-grant-type",
        "unsupported-grant-type",
        "no-audience",
        "unknown-audience",
    ],
)
async def test_token_errors_have_auth0s_shape(
    hub: LocalHub,
    session: aiohttp.ClientSession,
    form: dict[str, str],
    status: int,
    error: str,
    description: str,
) -> None:
    """Each refusal answers Auth0's status and {error, error_description}, no token."""
    got_status, body = await _post_token(session, hub, data=form)
    assert (got_status, body) == (status, {"error": error, "error_description": description})
    assert hub.token_requests == 0
    assert hub.token_attempts == 1


async def test_scope_refusal_names_only_the_missing_scopes(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A client granted `crm` asking for `bank` is told exactly that `bank` is missing."""
    hub.register_client("crm-only", "secret", ["crm"])
    form = token_form(client_id="crm-only", client_secret="secret", scope="crm bank")
    status, body = await _post_token(session, hub, data=form)
    assert (status, body["error_description"]) == (
        403,
        "Client has not been granted scopes: bank",
    )


@pytest.mark.parametrize(
    ("kwargs", "description_part"),
    [
        ({"data": b"grant_type=client_credentials"}, "unsupported Content-Type"),
        (
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            "not a JSON object",
        ),
        ({"json": ["client_credentials"]}, "not a JSON object"),
        ({"json": token_form() | {"audience": 7}}, "audience must be a string"),
        (
            {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            "not UTF-8",
        ),
        ({"data": token_form(), "headers": {"Authorization": "Basic !!"}}, "Basic auth"),
        ({"data": token_form(), "headers": {"Authorization": "Bearer x"}}, "HTTP Basic"),
    ],
    ids=[
        "no-content-type",
        "bad-json",
        "json-array",
        "json-number",
        "bad-utf8",
        "bad-basic",
        "not-basic",
    ],
)
async def test_malformed_token_requests_are_invalid_request(
    hub: LocalHub,
    session: aiohttp.ClientSession,
    kwargs: dict[str, Any],
    description_part: str,
) -> None:
    """A malformed token request is a 400 invalid_request with a clear description."""
    status, body = await _post_token(session, hub, **kwargs)
    assert (status, body["error"]) == (400, "invalid_request")
    assert description_part in body["error_description"]


async def test_counters_count_issued_tokens_and_every_attempt(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """token_requests counts tokens issued; token_attempts every request, refused or not."""
    await fetch_token(session, hub)
    await fetch_token(session, hub, scope="crm")
    await _post_token(session, hub, data=token_form(client_secret="bad"))
    assert (hub.token_requests, hub.token_attempts) == (2, 3)


async def test_token_answer_is_not_cacheable(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """The token answer says Cache-Control: no-store, as RFC 6749 §5.1 asks."""
    async with session.post(f"{hub.url}/oauth/token", data=token_form()) as response:
        assert response.headers["Cache-Control"] == "no-store"


def test_register_client_refuses_empty_credentials() -> None:
    """register_client with an empty id or secret is a ValueError, not a silent no-op."""
    hub = LocalHub(default_client=False)
    with pytest.raises(ValueError, match="non-empty"):
        hub.register_client("", "secret", ["bank"])


def test_token_ttl_must_be_whole_seconds() -> None:
    """token_ttl below one second (or fractional) is refused at construction."""
    with pytest.raises(ValueError, match="token_ttl"):
        LocalHub(token_ttl=0)
