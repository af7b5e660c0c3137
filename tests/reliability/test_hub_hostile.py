"""Hostile input to the local hub: whatever arrives, a 4xx with a clear JSON body (or a
2xx for what is genuinely valid), never a 5xx, and nothing stored that was refused.

``tests/local`` already pins the hub's answers to malformed JSON, wrong content types,
forged/expired/``alg: none``/HS256-with-the-public-key/wrong-audience tokens, missing
scopes, deep nesting and huge bodies, and fuzzes the *shape* of valid JSON bodies. This
module adds what those leave out: bodies broken at the byte level (invalid UTF-8 inside
strings, truncation), tokens mutated at random, arbitrary ``Authorization`` and
``Content-Type`` headers, keys smuggled in JWT headers (``jwk``, ``jku``), look-alike
scopes, a lying ``Content-Length`` and oversized chunked bodies.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.reliability.conftest import marked
from tests.reliability.leaks import watch_secret
from tfso_events import parse_event
from tfso_events.environments import AUDIENCE
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub

_AMZ = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
_FORM = "application/x-www-form-urlencoded"
_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

_EVENT = marked("hostile", 0)
_API_BODY = json.dumps(
    {
        "source": _EVENT.source,
        "detailType": _EVENT.detail_type,
        "detail": json.loads(_EVENT.detail_json()),
    }
).encode()
_PUT_EVENTS_BODY = json.dumps(
    {
        "Entries": [
            {
                "Source": _EVENT.source,
                "DetailType": _EVENT.detail_type,
                "Detail": _EVENT.detail_json().decode(),
                "EventBusName": "tfso-bank-events",
            }
        ]
    }
).encode()
_TOKEN_PARAMS = {
    "grant_type": "client_credentials",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "audience": AUDIENCE,
}
_TOKEN_JSON = json.dumps(_TOKEN_PARAMS).encode()
_TOKEN_FORM = urllib.parse.urlencode(_TOKEN_PARAMS).encode()

#: A client that may publish only `crm` events (the test events are `bank`).
CRM_CLIENT, CRM_SECRET = "crm-only", watch_secret("rel-secret-0b5e9c")


@pytest.fixture(scope="module")
def threaded_hub() -> Iterator[LocalHub]:
    """One hub on its own thread for the generated requests of this module."""
    with LocalHub(seed=0) as hub:
        hub.register_client(CRM_CLIENT, CRM_SECRET, ["crm"])
        yield hub


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST with urllib; the status and the JSON answer (or its text if not JSON)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def _assert_clear_refusal(status: int, answer: Any) -> None:
    """A 4xx whose JSON body says what was wrong (Auth0, events API or AWS shape)."""
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict), answer
    error = answer.get("error") or answer.get("__type")
    message = answer.get("message") or answer.get("error_description")
    assert error, answer
    assert message, answer


def _target(hub: LocalHub, endpoint: str) -> tuple[str, bytes, dict[str, str]]:
    """URL, a valid body and headers of ``endpoint``."""
    if endpoint == "events":
        headers = {"Content-Type": "application/json"}
        headers["Authorization"] = f"Bearer {hub.issue_token()}"
        return f"{hub.url}/events", _API_BODY, headers
    if endpoint == "put_events":
        return hub.url, _PUT_EVENTS_BODY, dict(_AMZ)
    if endpoint == "token_json":
        return f"{hub.url}/oauth/token", _TOKEN_JSON, {"Content-Type": "application/json"}
    return f"{hub.url}/oauth/token", _TOKEN_FORM, {"Content-Type": _FORM}


def _check_accepted(hub: LocalHub, endpoint: str, before: int, answer: Any) -> None:
    """A 2xx stored exactly what it acknowledged, and only valid events."""
    if endpoint.startswith("token"):
        assert answer["access_token"]
        assert hub.count() == before
        return
    stored = hub.received()[before:]
    if endpoint == "events":
        assert [r.event_id for r in stored] == [answer["eventId"]]
    else:
        ids = [entry["EventId"] for entry in answer["Entries"] if "EventId" in entry]
        assert [r.event_id for r in stored] == ids
    for record in stored:
        parse_event(record.envelope())  # the hub keeps only what consumers can read


# -- bodies broken at the byte level ----------------------------------------------------


@st.composite
def _broken(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["truncate", "flip", "flip", "insert"]))
        if action == "truncate":
            del data[at:]
        elif action == "flip" and at < len(data):
            data[at] = draw(st.sampled_from([0xFF, 0xC3, 0xED, 0x80, 0x00, 0x22, 0x5C, 0x7B]))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=3))
    return bytes(data)


@_SETTINGS
@given(
    endpoint=st.sampled_from(["events", "put_events", "token_json", "token_form"]),
    data=st.data(),
)
def test_bodies_broken_at_the_byte_level(threaded_hub: LocalHub, endpoint: str, data: Any) -> None:
    """A valid body truncated, or with bytes changed or inserted (invalid UTF-8 inside a
    string, a stray quote or backslash): a clear 4xx and nothing stored, or, if it is
    still valid, a 2xx that stored exactly what it acknowledged."""
    url, body, headers = _target(threaded_hub, endpoint)
    broken = data.draw(_broken(body))
    before = threaded_hub.count()
    status, answer = _send(url, broken, headers)
    if status < 300:
        _check_accepted(threaded_hub, endpoint, before, answer)
    else:
        _assert_clear_refusal(status, answer)
        assert threaded_hub.count() == before


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("events", _API_BODY.replace(b'"hostile-0"', b'"\xff"')),
        ("events", _API_BODY.replace(b'"com.24', b'"\xc3com.24')),
        ("put_events", _PUT_EVENTS_BODY.replace(b'"tfso-bank-events"', b'"\xed\xa0\x80"')),
        ("token_json", _TOKEN_JSON.replace(b'"client_credentials"', b'"\xff"')),
        # inside object keys, where msgspec skips a field the type lacks (found: a 500)
        ("events", _API_BODY.replace(b'"timestamp"', b'"\xffimestamp"')),
        ("events", _API_BODY.replace(b'"detail"', b'"\xc3x":1,"detail"')),
        ("put_events", _PUT_EVENTS_BODY.replace(b'"Entries"', b'"\xff":1,"Entries"')),
        ("put_events", _PUT_EVENTS_BODY.replace(b'"timestamp', b'"\xffimestamp')),
        ("token_json", _TOKEN_JSON.replace(b'"grant_type"', b'"\xffx":"1","grant_type"')),
    ],
    ids=[
        "events-detail",
        "events-source",
        "put-events-bus",
        "token-json",
        "events-detail-key",
        "events-body-key",
        "put-events-body-key",
        "put-events-detail-key",
        "token-json-key",
    ],
)
def test_invalid_utf8_inside_strings_is_a_4xx(
    threaded_hub: LocalHub, endpoint: str, body: bytes
) -> None:
    """Invalid UTF-8 inside a JSON string or an object key is a 400 naming the body on
    every endpoint, not a 500 (it was) or an accepted event."""
    url, _, headers = _target(threaded_hub, endpoint)
    before = threaded_hub.count()
    status, answer = _send(url, body, headers)
    _assert_clear_refusal(status, answer)
    assert status == 400
    assert threaded_hub.count() == before


# -- tokens and headers -----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return None


_ALGS = ["none", "None", "NONE", "HS256", "HS512", "RS384", "RS512", "PS256", "ES256", ""]


@st.composite
def _mutated_token(draw: st.DrawFn, token: str) -> str:
    header, payload, signature = token.split(".")
    action = draw(
        st.sampled_from(["char", "char", "alg", "swap", "segments", "truncate", "claims"])
    )
    if action == "char":
        text = list(token)
        at = draw(st.integers(0, len(text) - 1))
        text[at] = draw(st.sampled_from("AQgw_-09zZ=.+/ "))
        return "".join(text)
    if action == "alg":
        parsed = json.loads(_unb64(header) or b"{}")
        parsed["alg"] = draw(st.sampled_from(_ALGS))
        new_header = _b64(json.dumps(parsed).encode())
        return f"{new_header}.{payload}.{draw(st.sampled_from([signature, '']))}"
    if action == "swap":
        return ".".join(draw(st.permutations([header, payload, signature])))
    if action == "segments":
        extra = draw(st.lists(st.sampled_from([header, payload, signature, ""]), max_size=3))
        return ".".join([header, payload, signature, *extra])
    if action == "truncate":
        return token[: draw(st.integers(0, len(token) - 1))]
    claims = json.loads(_unb64(payload) or b"{}")
    claims[draw(st.sampled_from(["scope", "aud", "exp", "iss", "sub", "jti"]))] = draw(
        st.sampled_from(["bank crm", "*", None, 0, 10**12, [AUDIENCE], "", {"x": 1}])
    )
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _same_token(mutated: str, token: str) -> bool:
    """``mutated`` is ``token`` in another spelling (base64's unused trailing bits)."""
    a, b = mutated.split("."), token.split(".")
    return len(a) == len(b) and all(
        _unb64(x) is not None and _unb64(x) == _unb64(y) for x, y in zip(a, b, strict=True)
    )


@_SETTINGS
@given(data=st.data())
def test_mutated_tokens_are_401(threaded_hub: LocalHub, data: Any) -> None:
    """A genuine token with a character changed, its alg rewritten (none, HS256, ...),
    segments swapped, added or cut, or its claims edited: 401, nothing stored."""
    token = threaded_hub.issue_token()
    mutated = data.draw(_mutated_token(token))
    assume(not _same_token(mutated, token))
    before = threaded_hub.count()
    status, answer = _send(
        f"{threaded_hub.url}/events",
        _API_BODY,
        {"Content-Type": "application/json", "Authorization": f"Bearer {mutated}"},
    )
    _assert_clear_refusal(status, answer)
    assert (status, answer["error"]) == (401, "invalid_token")
    assert threaded_hub.count() == before


@_SETTINGS
@given(authorization=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
def test_arbitrary_authorization_headers_are_401(
    threaded_hub: LocalHub, authorization: str
) -> None:
    """Any Authorization header that is not a genuine bearer token: 401, nothing stored."""
    before = threaded_hub.count()
    status, answer = _send(
        f"{threaded_hub.url}/events",
        _API_BODY,
        {"Content-Type": "application/json", "Authorization": authorization},
    )
    _assert_clear_refusal(status, answer)
    assert status == 401
    assert threaded_hub.count() == before


_MEDIA_TYPES = st.one_of(
    st.sampled_from(
        [
            "",
            "text/plain",
            "application/xml",
            "application/json-patch+json",
            "application/jsonx",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "APPLICATION/JSON",
            "application/json; charset=utf-8",
            "application/x-amz-json-1.0",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-amz-json-1.1",
            "application/json",
            "application/x-www-form-urlencoded",
        ]
    ),
    st.from_regex(r"[a-z]{1,12}/[a-z0-9.+-]{1,24}(; ?[a-z]{1,8}=[a-z0-9-]{1,8})?", fullmatch=True),
)
#: The media types each endpoint reads its (valid) body as.
_READS = {
    "events": {"application/json"},
    "put_events": {"application/x-amz-json-1.1", "application/json"},
    "token_json": {"application/json"},
    "token_form": {_FORM},
}


@_SETTINGS
@given(
    endpoint=st.sampled_from(["events", "put_events", "token_json", "token_form"]),
    content_type=_MEDIA_TYPES,
)
def test_content_types(threaded_hub: LocalHub, endpoint: str, content_type: str) -> None:
    """A valid body under any Content-Type: accepted only under a media type the
    endpoint reads it as, else a clear 4xx; nothing stored when refused."""
    url, body, headers = _target(threaded_hub, endpoint)
    headers["Content-Type"] = content_type
    before = threaded_hub.count()
    status, answer = _send(url, body, headers)
    media = content_type.split(";")[0].strip().lower()
    if media in _READS[endpoint]:
        assert status == 200, answer
        _check_accepted(threaded_hub, endpoint, before, answer)
    else:
        _assert_clear_refusal(status, answer)
        assert threaded_hub.count() == before


# -- hand-written attacks on the bearer token ---------------------------------------------


async def _post_event(
    session: aiohttp.ClientSession, hub: LocalHub, authorization: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    async with session.post(f"{hub.url}/events", data=_API_BODY, headers=headers) as response:
        return response.status, await response.json()


def _claims(hub: LocalHub, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": f"{hub.url}/",
        "sub": f"{DEFAULT_CLIENT_ID}@clients",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "scope": "bank crm",
        "jti": "forged",
    } | overrides


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def attacker_jwks(serve: Callable[..., Awaitable[str]]) -> tuple[str, RSAKey, list[str]]:
    """An attacker's key, a loopback server publishing it as a JWKS, and the list of
    paths that server was asked for (a hub that fetched a `jku` would show up here)."""
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    hits: list[str] = []

    async def publish_jwks(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"keys": [key.as_dict(private=False)]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", publish_jwks)
    return f"{await serve(app)}/jwks.json", key, hits


async def test_keys_smuggled_in_the_jwt_header_are_ignored(
    hub: LocalHub,
    session: aiohttp.ClientSession,
    attacker_jwks: tuple[str, RSAKey, list[str]],
) -> None:
    """A token signed by an attacker who names their own key in the header (`jwk`
    embedded, `jku`/`x5u` URL, the hub's `kid`): 401, and the hub never fetches the URL."""
    url, key, hits = attacker_jwks
    kid = hub.jwks["keys"][0]["kid"]
    public = key.as_dict(private=False)
    headers = [
        {"alg": "RS256", "jwk": public},
        {"alg": "RS256", "jwk": public, "kid": kid},
        {"alg": "RS256", "jku": url, "kid": key.kid},
        {"alg": "RS256", "jku": url, "kid": kid},
        {"alg": "RS256", "x5u": url},
    ]
    for header in headers:
        token = jwt.encode(header, _claims(hub), key)
        status, answer = await _post_event(session, hub, f"Bearer {token}")
        assert (status, answer["error"]) == (401, "invalid_token"), header
    assert hits == []
    assert hub.count() == 0


async def test_other_token_shapes_are_401(hub: LocalHub, session: aiohttp.ClientSession) -> None:
    """JWE-shaped (5 segments), alg none in any case with the signature of a genuine
    token, a genuine token with a second one appended, or under another scheme: 401."""
    genuine = hub.issue_token()
    header, payload, signature = genuine.split(".")
    none_tokens = [
        f"{_b64(json.dumps({'alg': alg}).encode())}.{payload}.{signature}"
        for alg in ("none", "None", "NONE", "nOnE")
    ]
    shapes = [
        f"Bearer {header}.{payload}.{signature}.{signature}.{payload}",
        *(f"Bearer {token}" for token in none_tokens),
        f"Bearer {genuine} {genuine}",
        f"Bearer {genuine},{genuine}",
        f"Basic {genuine}",
        f"Token {genuine}",
        genuine,
        "Bearer",
    ]
    for authorization in shapes:
        status, answer = await _post_event(session, hub, authorization)
        assert (status, answer["error"]) == (401, "invalid_token"), authorization
    assert hub.count() == 0


@pytest.mark.parametrize("scope", ["", "crm", "Bank", "BANK", "bank:write", "banking", "bank."])
async def test_look_alike_scopes_are_403(
    hub: LocalHub, session: aiohttp.ClientSession, scope: str
) -> None:
    """A genuine token whose scope only resembles `bank` (case, suffix, another module,
    none at all) cannot publish a bank event: 403 naming the scope, nothing stored."""
    token = hub.issue_token(scopes=scope.split())
    status, answer = await _post_event(session, hub, f"Bearer {token}")
    assert (status, answer["error"]) == (403, "insufficient_scope")
    assert "`bank` scope" in answer["message"]
    assert hub.count() == 0


async def test_token_endpoint_refuses_another_modules_client(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A client granted only `crm` gets no `bank` token (403), and its `crm` token
    cannot publish a bank event (403): nothing stored."""
    hub.register_client(CRM_CLIENT, CRM_SECRET, ["crm"])
    form = _TOKEN_PARAMS | {"client_id": CRM_CLIENT, "client_secret": CRM_SECRET}
    async with session.post(f"{hub.url}/oauth/token", data=form | {"scope": "bank"}) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "access_denied"
    async with session.post(f"{hub.url}/oauth/token", data=form | {"scope": "crm"}) as response:
        token = (await response.json())["access_token"]
    status, answer = await _post_event(session, hub, f"Bearer {token}")
    assert (status, answer["error"]) == (403, "insufficient_scope")
    assert hub.count() == 0


async def test_oversized_authorization_header_is_a_4xx(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A 20 KB Authorization header is refused with a 4xx by the HTTP layer, never a 5xx."""
    headers = {"Authorization": "Bearer " + "A" * 20_000, "Content-Type": "application/json"}
    async with session.post(f"{hub.url}/events", data=_API_BODY, headers=headers) as response:
        assert 400 <= response.status < 500
        assert await response.text()
    assert hub.count() == 0


# -- bodies that lie about their size -----------------------------------------------------


async def _raw_request(hub: LocalHub, head: str, body: bytes) -> tuple[int, bytes]:
    """Send a hand-written HTTP/1.1 request; the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1]), answer


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/events", "Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n", 413),
        (
            "/",
            "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\n",
            400,
        ),
        ("/oauth/token", f"Content-Type: {_FORM}\r\n", 413),
    ],
    ids=["events", "put-events", "token"],
)
async def test_a_content_length_of_a_gigabyte_is_refused_at_once(
    hub: LocalHub, path: str, headers: str, status: int
) -> None:
    """A request announcing a 1 GB body is refused from its headers with a clear 4xx,
    without waiting for (or buffering) the body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n"
        + headers.format(token=hub.issue_token())
        + "Connection: close\r\n\r\n"
    )
    got, answer = await _raw_request(hub, head, b"{}")
    assert got == status, answer
    _assert_clear_refusal(got, json.loads(answer))
    assert hub.count() == 0


@pytest.mark.parametrize(
    ("path", "kind", "status"),
    [("/events", "events", 413), ("/", "put_events", 400), ("/oauth/token", "token", 413)],
)
async def test_an_endless_chunked_body_is_refused(
    hub: LocalHub, session: aiohttp.ClientSession, path: str, kind: str, status: int
) -> None:
    """A chunked body (no Content-Length) that grows past the hub's limit is refused with
    a clear 4xx once it passes the limit; nothing stored."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"source":"' if kind == "events" else b'{"Entries":[{"Source":"'
        for _ in range(64):  # 4 MiB, twice the hub's limit
            yield b"x" * 65_536

    headers = {"events": {"Content-Type": "application/json"}, "put_events": dict(_AMZ)}.get(
        kind, {"Content-Type": "application/json"}
    )
    if kind == "events":
        headers["Authorization"] = f"Bearer {hub.issue_token()}"
    try:
        async with session.post(f"{hub.url}{path}", data=chunks(), headers=headers) as response:
            got, answer = response.status, await response.json(content_type=None)
    except aiohttp.ClientOSError:
        pytest.fail("the hub dropped the connection instead of answering")
    assert got == status, answer
    _assert_clear_refusal(got, answer)
    assert hub.count() == 0


async def test_deeply_nested_token_request_is_400(
    hub: LocalHub, session: aiohttp.ClientSession
) -> None:
    """A JSON token request nested 100,000 deep is 400 invalid_request, not a crash."""
    body = b'{"grant_type":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {"Content-Type": "application/json"}
    async with session.post(f"{hub.url}/oauth/token", data=body, headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"
    assert hub.token_requests == 0
