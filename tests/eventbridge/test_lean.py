"""The lean PutEvents transport against botocore, the reference it replaces.

* every signature is botocore's: the signer is compared with ``SigV4Auth`` request by
  request (session and long-term credentials, regions of three partitions, bus names and
  ARNs, unicode details, hosts with ports, IPv6 and paths), and a loopback server that
  checks each request it receives with botocore's signer accepts every call;
* every error answer is read into the code and message botocore's JSON parser gives it;
* credentials come from botocore's provider chain (here a container-credentials
  endpoint on loopback) and are read again when they are due for a refresh;
* nothing it logs or raises shows the secret key or the session token.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventbridge.conftest import bank_event
from tests.reliability.leaks import LeakWatch, find_leaks, watch_logs, watch_secret
from tests.reliability.test_secrets import error_texts
from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    PublishError,
    RetryPolicy,
    TfsoEventBridgeClient,
    _botocore,
)
from tfso_events.publishing._lean import read_error
from tfso_events.publishing._sigv4 import Signer, canonical_host

SECRET_KEY = watch_secret("lean-secret-access-key-6a1f0c9e2d")
TOKEN = watch_secret("lean-session-token-IQoJb3JpZ2luX2VjEJr9f8e7d6c")
ACCESS_KEY = "AKIALEAN000000000000"
HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSEvents.PutEvents",
    "User-Agent": "tfso-events/test",
}
ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture(autouse=True)
def _botocore_signer_logs_masked() -> None:
    """botocore's signer, used here as the reference, logs its canonical request (the
    session token in it) at DEBUG: mask it as the package does for its botocore clients."""
    _botocore.install(TOKEN, SECRET_KEY)


def _entries(detail: str, bus: str) -> bytes:
    entry = {"Source": "com.24sevenoffice.banktransfer", "DetailType": "bank.test:created@v1"}
    return json.dumps(
        {"Entries": [{**entry, "Detail": detail, "EventBusName": bus}]}, ensure_ascii=False
    ).encode()


def _botocore_signed(url: str, body: bytes, region: str, token: str | None) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(HEADERS))
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "events", region).add_auth(request)
    return dict(request.headers.items())


def _ours(url: str, body: bytes, region: str, token: str | None, amz_date: str) -> dict[str, str]:
    from urllib.parse import urlsplit

    signer = Signer(
        host=canonical_host(url), path=urlsplit(url).path, region=region, service="events"
    )
    return signer.sign(
        "POST",
        HEADERS,
        body,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        token=token,
        amz_date=amz_date,
    )


BUSES = [
    "tfso-bank-events",
    "arn:aws:events:eu-west-1:123456789012:event-bus/tfso-bank-events",
    "arn:aws-cn:events:cn-north-1:123456789012:event-bus/a.b-c_d",
]
URLS = [
    "https://events.eu-west-1.amazonaws.com",
    "https://events.cn-north-1.amazonaws.com.cn/",
    "https://events-fips.us-gov-west-1.amazonaws.com:443",
    "http://127.0.0.1:4566",
    "http://[::1]:8080/prefix/./a/../b/",
    "https://Example.COM:8443/x%2Fy~z",
]
REGIONS = ["eu-west-1", "cn-north-1", "us-gov-west-1", "us-east-1"]


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
@pytest.mark.parametrize("bus", BUSES)
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("region", REGIONS)
def test_signature_is_botocores(token: str | None, bus: str, url: str, region: str) -> None:
    """For every credential kind, bus, endpoint shape and region, the signed headers
    (Authorization, X-Amz-Date, the token) are exactly those botocore's SigV4Auth adds."""
    body = _entries('{"content":{"firstName":"Ærlig Ødegård 漢字 🎉 \\"q\\""}}', bus)
    theirs = _botocore_signed(url, body, region, token)
    ours = _ours(url, body, region, token, theirs["X-Amz-Date"])
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")
    assert ours["Host"] == canonical_host(url)


@settings(max_examples=60, deadline=None)
@given(detail=st.text(), region=st.sampled_from(REGIONS), session=st.booleans())
def test_signature_of_any_unicode_detail_is_botocores(
    detail: str, region: str, session: bool
) -> None:
    """Any detail text (surrogates aside) signs as botocore signs it."""
    body = _entries(detail.encode("utf-8", "replace").decode(), BUSES[1])
    token = TOKEN if session else None
    theirs = _botocore_signed(URLS[0], body, region, token)
    assert (
        _ours(URLS[0], body, region, token, theirs["X-Amz-Date"])["Authorization"]
        == (theirs["Authorization"])
    )


def test_the_signing_key_is_derived_once_per_day_and_secret() -> None:
    """The signing key is reused within a day and derived again for a new day or a new
    secret key (refreshed credentials)."""
    signer = Signer(host="h", path="/", region="eu-west-1", service="events")
    first = signer.signing_key("a", "20260101")
    assert signer.signing_key("a", "20260101") is first
    assert signer.signing_key("a", "20260102") != first
    assert signer.signing_key("b", "20260102") != signer.signing_key("a", "20260102")
    assert "a" not in repr(signer).replace("Signer", "").replace("region", "")


# -- a server that checks every signature with botocore's signer -------------------------


@dataclass
class Verifier:
    """PutEvents on loopback: answers 403 ``InvalidSignatureException`` unless botocore's
    signer, given the secret key, computes the request's signature; records the tokens."""

    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # access key -> secret key
    region: str = "eu-west-1"
    verified: int = 0
    tokens: list[str | None] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    buses: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        authorization = request.headers.get("Authorization", "")
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
        access_key, _date, region, service, _ = credential.split("/")
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        headers = {name: request.headers[name] for name in signed}
        token = request.headers.get("X-Amz-Security-Token")
        aws = AWSRequest(method="POST", url=f"{self.url}{request.path}", data=body, headers=headers)
        aws.context["timestamp"] = request.headers["X-Amz-Date"]
        signer = SigV4Auth(
            Credentials(access_key, self.secrets[access_key], token), service, region
        )
        canonical = signer.canonical_request(aws)
        expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
        if (region, service) != (self.region, "events") or not authorization.endswith(
            f"Signature={expected}"
        ):
            return web.json_response(
                {"__type": "InvalidSignatureException", "message": "signature mismatch"},
                status=403,
                content_type="application/x-amz-json-1.1",
            )
        self.verified += 1
        self.tokens.append(token)
        entries = json.loads(body)["Entries"]
        self.details += [entry["Detail"] for entry in entries]
        self.buses += [entry["EventBusName"] for entry in entries]
        return web.json_response(
            {
                "FailedEntryCount": 0,
                "Entries": [{"EventId": f"id-{i}"} for i in range(len(entries))],
            },
            content_type="application/x-amz-json-1.1",
        )


@pytest.fixture
async def verifier(serve: Callable[..., Awaitable[str]]) -> Verifier:
    """A started :class:`Verifier` knowing :data:`ACCESS_KEY`'s secret."""
    state = Verifier(secrets={ACCESS_KEY: SECRET_KEY})
    app = web.Application()
    app.router.add_post("/", state.handle)
    state.url = await serve(app)
    return state


def _session(token: str | None, region: str = "eu-west-1") -> Any:
    import aioboto3

    return aioboto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=token,
        region_name=region,
    )


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term", "session"])
@pytest.mark.parametrize(
    "bus", [None, "arn:aws:events:eu-west-1:123456789012:event-bus/tfso-bank-events"]
)
async def test_a_server_checking_with_botocores_signer_accepts_every_call(
    verifier: Verifier, token: str | None, bus: str | None
) -> None:
    """publish and publish_many (unicode details, a bus name or ARN, with and without a
    session token) are accepted by a server that verifies each signature with botocore."""
    names = ["Zoë", "Łukasz", "漢字", "🎉", 'q"uote\\', "plain"]
    async with TfsoEventBridgeClient(
        "dev", bus, endpoint_url=verifier.url, session=_session(token), retry=ONCE, transport="lean"
    ) as client:
        await client.publish(bank_event(first_name=names[0]))
        batch = await client.publish_many([bank_event(first_name=n) for n in names * 4])
    assert batch.ok
    assert verifier.verified == 1 + 3  # one call, then 24 entries in calls of 10
    assert set(verifier.tokens) == {token}
    assert {json.loads(d)["content"]["firstName"] for d in verifier.details} == set(names)
    assert set(verifier.buses) == {bus or "tfso-bank-events"}


async def test_a_wrong_secret_is_refused_as_botocore_would_report_it(verifier: Verifier) -> None:
    """The same server refuses a request signed with another secret key: the client's
    error is the AuthenticationError a botocore client gives for it."""
    verifier.secrets[ACCESS_KEY] = "not-the-secret"
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=verifier.url, session=_session(None), retry=ONCE, transport="lean"
    ) as client:
        with pytest.raises(AuthenticationError, match="InvalidSignatureException"):
            await client.publish(bank_event())


# -- error answers, as botocore's parser reads them --------------------------------------

QUERY_ERROR = {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"}
ANSWERS: list[tuple[int, bytes, dict[str, str]]] = [
    (400, b'{"__type":"com.amazon.coral#ThrottlingException","message":"Rate exceeded"}', {}),
    (400, b'{"__type":"AccessDeniedException","Message":"not authorized"}', {}),
    (400, b'{"__type":"ValidationException:http://internal.amazon.com/","message":"x"}', {}),
    (400, b'{"__type":"x#InvalidArgument"}', {}),
    (400, b'{"message":"no type"}', {}),
    (400, b"not json at all", {}),
    (400, b"", {}),
    (404, b'{"__type":"ResourceNotFoundException","message":"Event bus x does not exist."}', {}),
    (413, b"<html>too large</html>", {}),
    (429, b'{"__type":"TooManyRequestsException"}', {}),
    (500, b"", {}),
    (502, b"<html><body>Bad Gateway</body></html>", {}),
    (503, b'{"__type":"ServiceUnavailable","message":"try later"}', {}),
    (504, b"   ", {}),
    (400, b'{"__type":"QueueDoesNotExist"}', QUERY_ERROR),
    (400, b'{"__type":"Other"}', {"x-amzn-query-error": ";Sender"}),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "headers"), ANSWERS)
def test_error_answers_read_as_botocore_reads_them(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Each error answer gives the code and message botocore's JSON parser gives it."""
    parsed = create_parser("json").parse(
        {"status_code": status, "headers": headers, "body": body}, None
    )
    query_error = headers.get("x-amzn-query-error")
    assert read_error(status, body, query_error) == (
        parsed["Error"]["Code"],
        parsed["Error"]["Message"],
    )


@dataclass
class Scripted:
    """PutEvents answering each call with the next scripted (status, body)."""

    url: str = ""
    script: list[tuple[int, bytes]] = field(default_factory=list)
    calls: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        status, body = self.script.pop(0)
        return web.Response(status=status, body=body, content_type="application/x-amz-json-1.1")


@pytest.fixture
async def scripted(serve: Callable[..., Awaitable[str]]) -> Scripted:
    """A started :class:`Scripted` server."""
    state = Scripted()
    app = web.Application()
    app.router.add_post("/", state.handle)
    state.url = await serve(app)
    return state


@pytest.mark.parametrize(("transport", "tries"), [("lean", 2), ("botocore", 0)])
async def test_both_transports_give_the_same_errors(
    scripted: Scripted, transport: str, tries: int
) -> None:
    """Per-entry codes, a throttled call, a 5xx page, an unknown bus and a malformed
    answer end the same way through either transport (botocore retries the throttled
    call and the 5xx itself, so the client counts two tries fewer)."""
    entries = json.dumps(
        {
            "FailedEntryCount": 2,
            "Entries": [
                {"EventId": "e-0"},
                {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad detail"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "retry me"},
            ],
        }
    ).encode()
    ok = json.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]}).encode()
    scripted.script = [
        (400, b'{"__type":"com.amazon#ThrottlingException","message":"Rate exceeded"}'),
        (503, b"<html><body>Service Unavailable</body></html>"),
        (200, entries),
        (200, ok),
        (400, b'{"__type":"ResourceNotFoundException","message":"Event bus x does not exist."}'),
        (200, b'{"Entries": []}'),
    ]
    fast = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=scripted.url, retry=fast, transport=transport
    ) as client:  # type: ignore[arg-type]
        batch = await client.publish_many([bank_event(i) for i in range(3)], raise_on_error=False)
        with pytest.raises(DeliveryError) as missing:
            await client.publish(bank_event(9))
        with pytest.raises(DeliveryError) as malformed:
            await client.publish(bank_event(10))
    assert batch.event_ids == ["e-0", None, "e-2"]
    assert [(f.code, f.attempts) for f in batch.failed] == [("MalformedDetail", 1 + tries)]
    assert [r.attempts for r in batch.succeeded] == [1 + tries, 2 + tries]
    assert missing.value.code == "ResourceNotFoundException"
    assert "check event_bus_name and region" in str(missing.value)
    assert malformed.value.code == "MalformedResponse"
    assert scripted.calls == 6


# -- credentials from botocore's chain, refreshed ----------------------------------------


@dataclass
class ContainerCredentials:
    """An ECS-style container credentials endpoint on loopback; each answer is a new
    session token expiring ``lifetime`` from now."""

    url: str = ""
    lifetime: timedelta = timedelta(hours=1)
    issued: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        token = watch_secret(f"lean-container-token-{len(self.issued)}-Zx9QwErTy")
        self.issued.append(token)
        expiry = datetime.now(UTC) + self.lifetime
        return web.json_response(
            {
                "AccessKeyId": ACCESS_KEY,
                "SecretAccessKey": SECRET_KEY,
                "Token": token,
                "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )


@pytest.fixture
async def container(
    serve: Callable[..., Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> ContainerCredentials:
    """The process's only AWS credentials come from a container credentials endpoint."""
    state = ContainerCredentials()
    app = web.Application()
    app.router.add_get("/creds", state.handle)
    state.url = await serve(app)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{state.url}/creds")
    return state


async def test_container_role_credentials_are_read_once(
    container: ContainerCredentials, verifier: Verifier
) -> None:
    """Credentials from botocore's chain (a container role) are fetched once at open();
    every call afterwards is signed with them without asking again."""
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=verifier.url, retry=ONCE, transport="lean"
    ) as client:
        await client.open()
        assert len(container.issued) == 1
        for n in range(5):
            await client.publish(bank_event(n))
        await client.publish_many([bank_event(n) for n in range(30)])
    assert len(container.issued) == 1
    assert set(verifier.tokens) == {container.issued[0]}
    assert verifier.verified == 5 + 3


async def test_expiring_credentials_are_read_again(
    container: ContainerCredentials, verifier: Verifier
) -> None:
    """Credentials inside botocore's refresh window are fetched again (on a thread, once
    per check however many calls are waiting), and the next calls sign with the new
    token, which the verifying server accepts."""
    container.lifetime = timedelta(minutes=5)  # inside the 15-minute advisory window
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=verifier.url, retry=ONCE, transport="lean"
    ) as client:
        await client.open()
        await asyncio.gather(*(client.publish(bank_event(n)) for n in range(20)))
        before = len(container.issued)
        await asyncio.sleep(1.1)  # past the client's next credentials check
        await asyncio.gather(*(client.publish(bank_event(n)) for n in range(20)))
    assert len(container.issued) == before + 1
    assert verifier.tokens[-1] == container.issued[-1] != verifier.tokens[0]
    assert verifier.verified == 4


# -- secrets -------------------------------------------------------------------------------


@pytest.fixture
def every_logger() -> Iterator[LeakWatch]:
    """Every logger at DEBUG (as ``logging.basicConfig(level=logging.DEBUG)``), watched."""
    with watch_logs("") as watch:
        yield watch


async def test_nothing_logged_or_raised_shows_a_secret(
    verifier: Verifier, every_logger: LeakWatch, serve: Callable[..., Awaitable[str]]
) -> None:
    """With every logger at DEBUG, publishing through the lean transport, then being
    refused (a bad signature, an expired token) and a dead endpoint: no log record,
    error, or repr shows the secret key or the session token."""

    async def expired(request: web.Request) -> web.Response:
        return web.json_response(
            {"__type": "ExpiredTokenException", "message": "The security token is expired"},
            status=400,
        )

    app = web.Application()
    app.router.add_post("/", expired)
    expired_url = await serve(app)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    errors: list[BaseException] = []
    texts: list[str] = []
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=verifier.url, session=_session(TOKEN), retry=ONCE, transport="lean"
    ) as client:
        await client.publish(bank_event())  # signed and accepted
        verifier.secrets[ACCESS_KEY] = "rotated"  # now the signature no longer matches
        with pytest.raises(AuthenticationError) as refused:
            await client.publish(bank_event(1))
        errors.append(refused.value)
        transport: Any = client._client
        texts += [repr(client), repr(transport), repr(transport._credentials)]
    for url in (expired_url, dead):
        async with TfsoEventBridgeClient(
            "dev", endpoint_url=url, session=_session(TOKEN), retry=ONCE, transport="lean"
        ) as client:
            with pytest.raises((AuthenticationError, PublishError)) as failed:
                await client.publish_many([bank_event(2)])
            errors.append(failed.value)
    assert verifier.verified == 1
    assert "ExpiredTokenException" in error_texts(errors[1])
    assert "connection_error" in error_texts(errors[2])
    assert every_logger.records > 0
    assert not every_logger.leaks, every_logger.report()
    for error in errors:
        assert not find_leaks(error_texts(error), extra=[SECRET_KEY, TOKEN])
    assert not find_leaks("".join(texts), extra=[SECRET_KEY, TOKEN])


async def test_no_session_token_over_plain_http_to_another_host() -> None:
    """A session token is never sent over plain HTTP to another machine: open() refuses
    before any connection, saying to use https."""
    async with TfsoEventBridgeClient(
        "dev", endpoint_url="http://10.255.255.1:9", session=_session(TOKEN), transport="lean"
    ) as client:
        with pytest.raises(ConfigurationError, match="plain HTTP") as info:
            await client.open()
    assert not find_leaks(str(info.value), extra=[SECRET_KEY, TOKEN])


def test_unknown_transport_is_refused() -> None:
    """transport= takes "lean" or "botocore" only."""
    with pytest.raises(ConfigurationError, match="transport must be one of"):
        TfsoEventBridgeClient("dev", transport="http")  # type: ignore[arg-type]


def test_default_transport_is_lean_and_botocore_one_argument_away() -> None:
    """The default is the lean transport (docs/publishing-eventbridge.md says why);
    botocore's is one argument away."""
    assert TfsoEventBridgeClient("dev").transport == "lean"
    assert TfsoEventBridgeClient("dev", transport="botocore").transport == "botocore"
    assert os.environ.get("AWS_DEFAULT_REGION")  # (the conftest's dummy environment)
