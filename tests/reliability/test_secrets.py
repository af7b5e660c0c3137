"""No client secret or access token in any error a caller can see, on every credential
error path: ``str``, ``repr``, the ``__cause__``/``__context__`` chain and the text of
``traceback.format_exception`` (notes included), and no log record either.

The servers here are deliberately careless: the loopback stub echoes the posted form
(secret included) and the ``Authorization`` header (token included) in every error it
answers, as a badly written proxy or API might; the library must still not repeat them.
The whole suite's log output is checked as well (``tests/conftest.py``); these tests
check it locally too, so a leak is reported where it happens.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import secrets
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.reliability.conftest import api_client, marked
from tests.reliability.leaks import LeakWatch, find_leaks, watch_logs, watch_secret
from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    EventValidationError,
    PublishError,
    RetryPolicy,
    TfsoEventApiClient,
)
from tfso_events.local import LocalHub

SECRET = watch_secret("rel-secret-0b5e9c")
CLIENT = "rel-client"
ONCE = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
SINGLE = RetryPolicy(max_attempts=1)


def _jwt_like() -> str:
    """A token shaped like Auth0's (a JWT), so the suite's leak check recognises it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signature = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    return (
        f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'jti': secrets.token_hex(8)})}.{signature}"
    )


@dataclass
class CarelessServer:
    """Auth0's token endpoint and the events API, answering scripted statuses with
    error texts that echo the client secret and the bearer token."""

    url: str = ""
    token_status: int = 200
    api_status: int = 200
    issued: list[str] = field(default_factory=list)
    api_posts: int = 0
    _ids: Iterator[int] = field(default_factory=itertools.count)

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        if self.token_status != 200:
            echo = f"refused {form} (authorization {request.headers.get('Authorization')})"
            body = {"error": "access_denied", "error_description": echo, "message": echo}
            return web.json_response(body, status=self.token_status)
        token = _jwt_like()
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "scope": form.get("scope", "")}
        )

    async def events(self, request: web.Request) -> web.Response:
        self.api_posts += 1
        authorization = request.headers.get("Authorization", "")
        if self.api_status != 200:
            echo = f"refused {authorization}"
            body = {"message": echo, "error": echo, "path": "$.detail.content.firstName"}
            return web.json_response(body, status=self.api_status)
        return web.json_response({"eventId": f"evt-{next(self._ids)}"})


@pytest.fixture
async def careless(serve: Callable[..., Awaitable[str]]) -> CarelessServer:
    """A :class:`CarelessServer` on a free loopback port."""
    state = CarelessServer()
    app = web.Application()
    app.router.add_post("/oauth/token", state.token)
    app.router.add_post("/events", state.events)
    state.url = await serve(app)
    return state


@pytest.fixture
def logs() -> Iterator[LeakWatch]:
    """Every log record of the test, checked for leaks as it arrives."""
    with watch_logs() as watch:
        yield watch


def error_texts(error: BaseException) -> str:
    """Everything a caller, a log or a crash report can show of ``error``: ``str`` and
    ``repr`` of it and of each exception in its ``__cause__``/``__context__`` chain (and
    of the failures a :class:`PublishError` carries), and the formatted traceback."""
    texts: list[str] = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *getattr(current, "__notes__", ())]
        result = getattr(current, "result", None)
        for failure in getattr(result, "failed", ()):
            texts += [failure.reason, repr(failure.code)]
            stack.append(failure.error)
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
    return "\n".join(texts)


def assert_nothing_leaks(
    error: BaseException, logs: LeakWatch, secret: str, tokens: list[str]
) -> None:
    """Neither ``secret`` nor any of ``tokens`` (nor anything token-shaped) is shown."""
    leaks = find_leaks(error_texts(error), extra=[secret, *tokens])
    assert not leaks, f"{type(error).__name__} shows {leaks}:\n{error_texts(error)}"
    assert not logs.leaks, logs.report()


async def _fail(client: TfsoEventApiClient, *, many: bool = False) -> BaseException:
    """Publish one event (or two with publish_many) and return the error raised."""
    try:
        async with client:
            if many:
                await client.publish_many([marked("secret", 0), marked("secret", 1)])
            else:
                await client.publish(marked("secret", 0))
    except Exception as exc:
        return exc
    raise AssertionError("the publish was expected to fail")


# -- the local hub (a correct server) ---------------------------------------------------


async def test_wrong_secret(hub: LocalHub, logs: LeakWatch) -> None:
    """A wrong secret: AuthenticationError telling what to check, secret not shown."""
    hub.register_client(CLIENT, SECRET, ["bank"])
    wrong = watch_secret(SECRET + "-wrong")
    error = await _fail(api_client(hub, client_id=CLIENT, secret=wrong))
    assert isinstance(error, AuthenticationError)
    assert "check the application id and secret" in str(error)
    assert_nothing_leaks(error, logs, wrong, [])


async def test_missing_scope(hub: LocalHub, logs: LeakWatch) -> None:
    """An application without the module's scope: AuthenticationError naming it, for
    publish and for every failure of publish_many."""
    hub.register_client(CLIENT, SECRET, ["crm"])
    for many in (False, True):
        error = await _fail(api_client(hub, client_id=CLIENT, secret=SECRET), many=many)
        assert isinstance(error, AuthenticationError | PublishError)
        assert "`bank` scope" in error_texts(error)
        assert_nothing_leaks(error, logs, SECRET, [])


async def test_token_endpoint_5xx_until_retries_run_out(hub: LocalHub, logs: LeakWatch) -> None:
    """Auth0 answering 503 until the retries run out: AuthenticationError whose cause
    is the last 503; the retries were logged; nothing secret shown."""
    hub.register_client(CLIENT, SECRET, ["bank"])
    hub.faults.token_error_rate = 1.0
    error = await _fail(api_client(hub, client_id=CLIENT, secret=SECRET))
    assert isinstance(error, AuthenticationError)
    assert "gave up after" in str(error)
    assert error.__cause__ is not None
    assert logs.records > 0
    assert_nothing_leaks(error, logs, SECRET, [])


async def test_revoked_token_refused_again_after_the_refresh(logs: LeakWatch) -> None:
    """The API refusing even the fresh token (401 twice: Auth0 and the API disagree):
    AuthenticationError; neither token shown."""
    async with LocalHub(seed=0) as auth0, LocalHub(seed=0) as api:
        auth0.register_client(CLIENT, SECRET, ["bank"])
        client = api_client(auth0, client_id=CLIENT, secret=SECRET, api_url=api.url)
        tokens = [auth0.issue_token(CLIENT)]  # same shape as the ones the client gets
        error = await _fail(client)
        assert isinstance(error, AuthenticationError)
        assert "HTTP 401" in str(error)
        assert auth0.token_requests == 2  # the first token, then one forced refresh
        assert api.count() == 0
    assert_nothing_leaks(error, logs, SECRET, tokens)


async def test_connection_refused(logs: LeakWatch) -> None:
    """Nothing listening at the Auth0 domain: AuthenticationError after the token
    retries, naming the URL; nothing secret shown."""
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    client = TfsoEventApiClient(
        "local", CLIENT, SECRET, auth0_domain=dead, api_url=dead, retry=ONCE
    )
    error = await _fail(client)
    assert isinstance(error, AuthenticationError)
    assert dead in str(error)
    assert_nothing_leaks(error, logs, SECRET, [])


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, logs: LeakWatch) -> None:
    """No secret anywhere: ConfigurationError naming the argument and variable to set;
    the id that was given is the only credential in the text."""
    monkeypatch.delenv("TFSO_EVENTS_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigurationError) as info:
        TfsoEventApiClient("local", CLIENT, None)
    assert "TFSO_EVENTS_CLIENT_SECRET" in str(info.value)
    assert_nothing_leaks(info.value, logs, SECRET, [])


# -- a careless server that echoes credentials ----------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 500])
async def test_careless_auth0_echoing_the_secret(
    careless: CarelessServer, logs: LeakWatch, status: int
) -> None:
    """Auth0 (or a proxy in front of it) quoting the posted form in its error: the
    error the caller sees quotes the description with the secret masked."""
    careless.token_status = status
    client = api_client(careless, client_id=CLIENT, secret=SECRET, retry=ONCE)
    error = await _fail(client)
    assert isinstance(error, AuthenticationError)
    assert "refused" in error_texts(error)  # the description is quoted...
    assert_nothing_leaks(error, logs, SECRET, [])  # ...without the secret


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, EventValidationError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (409, DeliveryError),
        (503, DeliveryError),
    ],
)
@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
async def test_careless_api_echoing_the_token(
    careless: CarelessServer, logs: LeakWatch, status: int, kind: type[Exception], many: bool
) -> None:
    """An events API quoting the bearer token in its error (400, 401 after the forced
    refresh, 403, other 4xx, 5xx until the retries run out): the caller's error quotes
    the API's message with the token masked."""
    careless.api_status = status
    client = api_client(careless, client_id=CLIENT, secret=SECRET, retry=ONCE)
    error = await _fail(client, many=many)
    assert isinstance(error, PublishError if many else kind)
    assert "refused" in error_texts(error)
    assert careless.issued
    assert_nothing_leaks(error, logs, SECRET, careless.issued)


def test_leak_check_catches_a_leak() -> None:
    """The checks themselves can fail: a secret or a JWT in a log record's message or
    traceback, or in an exception's cause, is found."""
    token = _jwt_like()
    watch = LeakWatch()
    # A logger of its own that does not propagate: the suite-wide check must not see
    # these planted leaks.
    log = logging.getLogger("tests.reliability.planted")
    log.propagate = False
    log.addHandler(watch)
    try:
        log.warning("got %s", token)
        try:
            raise ValueError(f"secret was {SECRET}")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(watch)
    assert [leak.what[0].split()[0] for leak in watch.leaks] == ["token", "credential"]
    outer = RuntimeError("wrapped")
    outer.__cause__ = KeyError(token)
    assert set(find_leaks(error_texts(outer))) == {f"token {token[:20]}..."}
    assert find_leaks(str(outer)) == []


# -- EventBridge: AWS credentials ---------------------------------------------------------

AWS_SECRET_KEY = watch_secret("rel-aws-secret-key-3f9d1c0b7a")
AWS_SESSION_TOKEN = watch_secret("rel-aws-session-token-FwoGZXIvYXdzEJr")


@pytest.fixture
async def refusing_eventbridge(serve: Callable[..., Awaitable[str]]) -> list[str]:
    """A PutEvents endpoint answering AWS's credential errors in turn (AccessDenied,
    UnrecognizedClient, ExpiredToken); yields its URL."""
    codes = itertools.cycle(
        [
            (400, "AccessDeniedException", "User: arn:aws:sts::111122223333:assumed-role/"
             "app/i-1 is not authorized to perform: events:PutEvents"),
            (400, "UnrecognizedClientException", "The security token included in the "
             "request is invalid."),
            (400, "ExpiredTokenException", "The security token included in the request "
             "is expired"),
        ]
    )  # fmt: skip

    async def put_events(request: web.Request) -> web.Response:
        status, code, message = next(codes)
        return web.json_response(
            {"__type": code, "message": message},
            status=status,
            content_type="application/x-amz-json-1.1",
        )

    app = web.Application()
    app.router.add_post("/", put_events)
    return [await serve(app)]


@pytest.mark.parametrize("transport", ["lean", "botocore"])
async def test_eventbridge_credential_errors_show_no_aws_secret(
    refusing_eventbridge: list[str], logs: LeakWatch, transport: Any
) -> None:
    """AccessDenied, an unrecognised and an expired session token (and a dead endpoint):
    each error says what to fix and shows neither the secret access key nor the
    session token the client signs with, through either transport."""
    import aioboto3

    from tfso_events import TfsoEventBridgeClient

    session = aioboto3.Session(
        aws_access_key_id="AKIAREL0000000000000",
        aws_secret_access_key=AWS_SECRET_KEY,
        aws_session_token=AWS_SESSION_TOKEN,
        region_name="eu-west-1",
    )
    (url,) = refusing_eventbridge
    errors: list[BaseException] = []
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=url, session=session, transport=transport
    ) as client:
        for n in range(3):
            try:
                await client.publish(marked("aws", n))
            except AuthenticationError as exc:
                errors.append(exc)
        assert len(errors) == 3
        assert "events:PutEvents" in str(errors[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=dead, session=session, retry=SINGLE, transport=transport
    ) as c:
        try:
            await c.publish_many([marked("aws", 9)])
        except PublishError as exc:
            errors.append(exc)
    assert len(errors) == 4
    texts = repr(client) + repr(c)
    for error in errors:
        assert_nothing_leaks(error, logs, AWS_SECRET_KEY, [AWS_SESSION_TOKEN])
    assert not find_leaks(texts, extra=[AWS_SECRET_KEY, AWS_SESSION_TOKEN])
