"""POST /events: bearer JWT checks, scope enforcement, catalog validation, storage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from typing import Any

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.local.conftest import DETAIL_TYPE, SOURCE, api_body, fetch_token, sample_detail
from tfso_events.environments import AUDIENCE
from tfso_events.examples import sample_events
from tfso_events.local import LocalHub


async def _post(
    session: aiohttp.ClientSession, hub: LocalHub, token: str | None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(f"{hub.url}/events", headers=headers, **kwargs) as response:
        return response.status, await response.json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(hub: LocalHub, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": f"{hub.url}/",
        "sub": "local-client@clients",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "scope": "bank crm",
        "gty": "client-credentials",
        "jti": "forged",
    }
    return claims | overrides


async def test_valid_event_is_stored_and_answered_with_its_id(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """A valid body with a token of the right scope is stored; 200 {"eventId"}."""
    status, body = await _post(session, hub, None, json=api_body(), headers=bearer)
    assert status == 200
    (record,) = hub.received()
    assert record.event_id == body["eventId"]
    assert (record.via, record.source, record.detail_type) == ("api", SOURCE, DETAIL_TYPE)
    assert record.detail == sample_detail()
    assert record.client_id == "local-client"
    assert record.event_bus_name is None
    assert record.parse().detail.content.first_name == "Karl"


async def test_detail_is_stored_exactly_as_sent(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """Unknown extra keys and number formatting in the detail survive the round trip."""
    detail = sample_detail() | {"metadata": {"traceId": "t-1", "ratio": 0.1}}
    detail["content"]["accountStatement"] = 100000.25
    status, _ = await _post(session, hub, None, json=api_body(detail=detail), headers=bearer)
    assert status == 200
    assert hub.received()[0].detail == detail


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic bG9jYWwtY2xpZW50OmxvY2FsLXNlY3JldA=="},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer \u00e9.\u00e9.\u00e9"},
    ],
    ids=["missing", "basic", "empty", "garbage", "three-parts", "non-ascii"],
)
async def test_missing_or_garbage_token_is_401(
    hub: LocalHub, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """No bearer token, or one that is not a JWT, is 401 invalid_token; nothing stored."""
    status, body = await _post(session, hub, None, json=api_body(), headers=headers)
    assert (status, body["error"]) == (401, "invalid_token")
    assert hub.count() == 0


async def test_401_carries_www_authenticate(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """A 401 says `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750)."""
    async with session.post(f"{hub.url}/events", json=api_body()) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


async def test_forged_signature_is_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """A token signed by another RSA key (even with the hub's kid) is 401."""
    other = RSAKey.generate_key(2048, private=True)
    kid = hub.jwks["keys"][0]["kid"]
    token = jwt.encode({"alg": "RS256", "kid": kid}, _claims(hub), other)
    status, body = await _post(session, hub, token, json=api_body())
    assert (status, body["error"]) == (401, "invalid_token")
    assert "RS256" in body["message"]


async def test_tampered_claims_are_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """Changing the payload of a genuine token (scope widened) breaks its signature."""
    hub.register_client("crm-only", "secret", ["crm"])
    token = await fetch_token(session, hub, client_id="crm-only", client_secret="secret")
    header, _, signature = token.split(".")
    payload = _b64(json.dumps(_claims(hub, scope="bank crm")).encode())
    status, _ = await _post(session, hub, f"{header}.{payload}.{signature}", json=api_body())
    assert status == 401


async def test_alg_none_is_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """An unsigned token (`alg: none`) is 401: the algorithm is pinned to RS256."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(hub)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        status, _ = await _post(session, hub, token, json=api_body())
        assert status == 401
    assert hub.count() == 0


@pytest.mark.parametrize("secret_form", ["pem", "jwk"])
async def test_hs256_signed_with_the_public_key_is_refused(
    hub: LocalHub, session: aiohttp.ClientSession, secret_form: str
) -> None:
    """The algorithm-confusion attack (HS256 keyed with the public RSA key) is 401."""
    public = RSAKey.import_key(hub.jwks["keys"][0])
    secret = public.as_pem(private=False) if secret_form == "pem" else json.dumps(hub.jwks).encode()
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + _b64(json.dumps(_claims(hub)).encode())
    )
    signature = _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    status, _ = await _post(session, hub, f"{signing_input}.{signature}", json=api_body())
    assert status == 401


async def test_expired_token_is_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """A genuine token past its exp is 401 'expired'."""
    status, body = await _post(session, hub, hub.issue_token(ttl=-5), json=api_body())
    assert status == 401
    assert "expired" in body["message"]


async def test_token_expires_while_cached() -> None:
    """A token accepted once is refused after its exp passes (the verification cache
    keeps only the signature check)."""
    async with LocalHub(token_ttl=1) as hub, aiohttp.ClientSession() as session:
        token = await fetch_token(session, hub)
        assert (await _post(session, hub, token, json=api_body()))[0] == 200
        claims = jwt.decode(token, RSAKey.import_key(hub.jwks["keys"][0])).claims
        await _sleep_until(claims["exp"])
        status, body = await _post(session, hub, token, json=api_body())
    assert status == 401
    assert "expired" in body["message"]


async def _sleep_until(epoch: float) -> None:
    import asyncio

    await asyncio.sleep(max(0.0, epoch - time.time()) + 0.05)


async def test_wrong_audience_is_refused(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """A hub-signed token for another audience is 401 naming the expected audience."""
    token = hub.issue_token(audience="https://api.other.example")
    status, body = await _post(session, hub, token, json=api_body())
    assert status == 401
    assert AUDIENCE in body["message"]


async def test_token_of_another_hub_is_refused(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """Each hub has its own key: another hub's token is 401 here."""
    async with LocalHub() as other:
        token = await fetch_token(session, other)
    status, _ = await _post(session, hub, token, json=api_body())
    assert status == 401


async def test_revoked_tokens_are_refused_and_new_ones_accepted(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """revoke_tokens() makes earlier tokens 401; a token fetched afterwards works."""
    old = await fetch_token(session, hub)
    assert (await _post(session, hub, old, json=api_body()))[0] == 200
    hub.revoke_tokens()
    status, body = await _post(session, hub, old, json=api_body())
    assert (status, "revoked" in body["message"]) == (401, True)
    new = await fetch_token(session, hub)
    assert (await _post(session, hub, new, json=api_body()))[0] == 200


async def test_missing_scope_is_403_naming_it(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A token without the event's module scope is 403 and names the missing scope."""
    hub.register_client("crm-only", "secret", ["crm"])
    token = await fetch_token(session, hub, client_id="crm-only", client_secret="secret")
    async with session.post(
        f"{hub.url}/events", json=api_body(), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        status, body = response.status, await response.json()
        challenge = response.headers["WWW-Authenticate"]
    assert (status, body["error"], body["scope"]) == (403, "insufficient_scope", "bank")
    assert "`bank` scope" in body["message"]
    assert 'scope="bank"' in challenge
    assert hub.count() == 0


async def test_narrowed_token_scope_is_enforced(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A client granted every scope but holding a `crm` token cannot publish `bank`."""
    token = await fetch_token(session, hub, scope="crm")
    status, body = await _post(session, hub, token, json=api_body())
    assert (status, body["scope"]) == (403, "bank")


@pytest.mark.parametrize(
    ("overrides", "path", "error"),
    [
        ({"detailType": "bank.nope:created@v1"}, "$.detailType", "unknown_detail_type"),
        ({"source": "com.example.other"}, "$.source", "validation_error"),
        (
            {"detail": sample_detail() | {"content": {"firstName": "K"}}},
            "$.detail.content",
            "validation_error",
        ),
        (
            {
                "detail": sample_detail()
                | {"content": sample_detail()["content"] | {"favoriteColor": "Pink"}}
            },
            "$.detail.content.favoriteColor",
            "validation_error",
        ),
        (
            {"detail": sample_detail() | {"timestamp": "2023-07-04T08:06:00"}},
            "$.detail.timestamp",
            "validation_error",
        ),
        ({"detail": ["not", "an", "object"]}, "$.detail", "validation_error"),
    ],
    ids=["unknown-type", "source-mismatch", "missing-field", "bad-enum", "naive-date", "array"],
)
async def test_catalog_validation_is_400_with_the_path(
    hub: LocalHub,
    session: aiohttp.ClientSession,
    bearer: dict[str, str],
    overrides: dict[str, Any],
    path: str,
    error: str,
) -> None:
    """A body that does not match the catalog is 400 naming the JSON path; not stored."""
    status, body = await _post(session, hub, None, json=api_body(**overrides), headers=bearer)
    assert (status, body["error"], body["path"]) == (400, error, path)
    assert path in body["message"]
    assert hub.count() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": b'{"source": "x",', "headers": {"Content-Type": "application/json"}},
        {"data": b"", "headers": {"Content-Type": "application/json"}},
        {"data": json.dumps(api_body()).encode(), "headers": {"Content-Type": "text/plain"}},
        {"data": b"source=x&detailType=y"},
        {"json": [api_body()]},
        {"json": api_body(source=5)},
        {"json": api_body(detailType=None)},
        {"json": {"source": SOURCE, "detailType": DETAIL_TYPE}},
        {
            "data": b'{"source":"s","detailType":"t","detail":'
            + b"[" * 50_000
            + b"]" * 50_000
            + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        {
            "data": io.BytesIO(
                json.dumps(api_body(detail={"content": {"a": "x" * 3_000_000}})).encode()
            ),
            "headers": {"Content-Type": "application/json"},
        },
        {"data": b"\xff\xfe{}", "headers": {"Content-Type": "application/json"}},
    ],
    ids=[
        "truncated-json",
        "empty",
        "text-plain",
        "form",
        "array",
        "source-not-str",
        "null-detail-type",
        "no-detail",
        "deep-nesting",
        "huge",
        "not-utf8",
    ],
)
async def test_malformed_request_is_4xx_json_and_stores_nothing(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str], kwargs: dict[str, Any]
) -> None:
    """Bad JSON, wrong content type, wrong types, deep nesting or a huge body: a 4xx with
    a JSON {error, message}, never a 500, and nothing stored."""
    headers = bearer | kwargs.pop("headers", {})
    async with session.post(f"{hub.url}/events", headers=headers, **kwargs) as response:
        status = response.status
        body = await response.json()
    assert 400 <= status < 500
    assert body["error"]
    assert body["message"]
    assert hub.count() == 0


async def test_wrong_type_reports_the_path(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """A field of the wrong type is a 400 that names it."""
    status, body = await _post(session, hub, None, json=api_body(source=5), headers=bearer)
    assert (status, body["path"]) == (400, "$.source")


async def test_unknown_routes_and_methods_answer_json(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """404 and 405 come with a JSON body like every other error."""
    async with session.get(f"{hub.url}/nope") as response:
        assert (response.status, (await response.json())["error"]) == (404, "not_found")
    async with session.delete(f"{hub.url}/events") as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert (await response.json())["error"] == "method_not_allowed"


async def test_local_hub_accepts_an_integral_float_for_an_int_field(
    hub: LocalHub, session: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    """POST /events with "code": 200.0 is stored (200 OK); "code": 200.5 is a 400 at the path."""
    sample = sample_events()[3]
    detail = json.loads(sample.detail_json())
    for code, status in ((200.0, 200), (200.5, 400)):
        detail["content"]["status"]["code"] = code
        body = api_body(source=sample.source, detailType=sample.detail_type, detail=detail)
        async with session.post(f"{hub.url}/events", json=body, headers=bearer) as response:
            assert response.status == status, await response.text()
            if status == 400:
                assert "$.detail.content.status.code" in await response.text()
    (record,) = hub.received()
    assert record.parse().detail.content.status.code == 200
