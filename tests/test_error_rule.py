"""One error rule for every publisher and both methods (docs: tfso_events.errors).

Once delivery was attempted, a failure is a PublishError (``DeliveryError`` from
``publish()``, ``PublishError`` with the result from ``publish_many()``); when the cause
was the credentials or the configuration it is also an AuthenticationError /
ConfigurationError, and the cause is ``__cause__``. Real servers on 127.0.0.1.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aioboto3
import pytest
from aiohttp import web

import tfso_events
from tfso_events import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    PublishError,
    RetryPolicy,
    TfsoEventApiClient,
    TfsoEventBridgeClient,
)
from tfso_events import sync as tfso_sync
from tfso_events.local import DEFAULT_CLIENT_ID, LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.testing import MemoryPublisher, SyncMemoryPublisher, build

ONCE = RetryPolicy(max_attempts=1)


def _events() -> list[Any]:
    return [build(BankTestCreatedV1Event) for _ in range(3)]


def _check(error: BaseException, cause: type[Exception], many: bool) -> None:
    # What loggers and error trackers group by is a public name of the error tree.
    kind = {AuthenticationError: "Authentication", ConfigurationError: "Configuration"}[cause]
    name = type(error).__name__
    assert name == f"{kind}{'Publish' if many else 'Delivery'}Error"
    assert getattr(tfso_events, name) is type(error)
    assert isinstance(error, PublishError)
    assert isinstance(error, cause)
    assert isinstance(error.__cause__, cause)
    if many:
        assert error.result is not None
        assert len(error.result.failed) == 3
        assert all(isinstance(f.error, cause) for f in error.result.failed)
    else:
        assert isinstance(error, DeliveryError)


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    """A local hub in its own thread (the sync facade blocks this one)."""
    with LocalHub() as running:
        yield running


def _api(hub: LocalHub) -> dict[str, Any]:
    return {"api_url": hub.url, "auth0_domain": hub.url, "retry": ONCE}


WRONG = (DEFAULT_CLIENT_ID, "not-the-secret")


async def _fail(publisher: Any, many: bool) -> BaseException:
    try:
        if many:
            await publisher.publish_many(_events())
        else:
            await publisher.publish(_events()[0])
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def _fail_sync(publisher: Any, many: bool) -> BaseException:
    try:
        if many:
            publisher.publish_many(_events())
        else:
            publisher.publish(_events()[0])
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
async def test_api_client_refused_credentials(hub: LocalHub, many: bool) -> None:
    """TfsoEventApiClient with a wrong secret: both methods raise a PublishError that is
    also an AuthenticationError, whose cause is Auth0's refusal."""
    async with TfsoEventApiClient("local", *WRONG, **_api(hub)) as client:
        error = await _fail(client, many)
    _check(error, AuthenticationError, many)


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
def test_sync_api_client_refused_credentials(hub: LocalHub, many: bool) -> None:
    """The sync facade raises exactly what the async client raises: PublishError and
    AuthenticationError at once."""
    with tfso_sync.TfsoEventApiClient("local", *WRONG, **_api(hub)) as client:
        error = _fail_sync(client, many)
    _check(error, AuthenticationError, many)


@pytest.fixture
async def refusing_eventbridge(serve: Callable[..., Awaitable[str]]) -> str:
    """A PutEvents endpoint answering every call UnrecognizedClientException."""

    async def put_events(request: web.Request) -> web.Response:
        return web.json_response(
            {"__type": "UnrecognizedClientException", "message": "The security token is invalid."},
            status=400,
            content_type="application/x-amz-json-1.1",
        )

    app = web.Application()
    app.router.add_post("/", put_events)
    return await serve(app)


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
async def test_eventbridge_client_refused_credentials(
    refusing_eventbridge: str, many: bool
) -> None:
    """TfsoEventBridgeClient whose credentials AWS refuses: both methods raise a
    PublishError that is also an AuthenticationError."""
    session = aioboto3.Session(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name="eu-west-1"
    )
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=refusing_eventbridge, session=session, retry=ONCE
    ) as client:
        error = await _fail(client, many)
    _check(error, AuthenticationError, many)


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
async def test_memory_publisher_misconfigured(many: bool) -> None:
    """MemoryPublisher.misconfigure() (a client that cannot open: no credentials or
    region): both methods raise a PublishError that is also a ConfigurationError, as the
    real client does, and nothing is recorded."""
    publisher = MemoryPublisher()
    publisher.misconfigure()
    _check(await _fail(publisher, many), ConfigurationError, many)
    assert publisher.events == []


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
def test_sync_memory_publisher_misconfigured(many: bool) -> None:
    """SyncMemoryPublisher follows the same rule as its async twin."""
    with SyncMemoryPublisher() as publisher:
        publisher.misconfigure()
        error = _fail_sync(publisher, many)
    _check(error, ConfigurationError, many)


async def test_closed_client_is_refused_before_sending() -> None:
    """A closed client is a ConfigurationError before anything is sent, not a
    PublishError: nothing was attempted."""
    publisher = MemoryPublisher()
    await publisher.aclose()
    with pytest.raises(ConfigurationError) as caught:
        await publisher.publish(_events()[0])
    assert not isinstance(caught.value, PublishError)


def _package_errors() -> set[type[BaseException]]:
    """Every TfsoEventsError subclass the package defines (all its modules imported)."""
    for module in pkgutil.walk_packages(tfso_events.__path__, "tfso_events."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: set[type[BaseException]] = set()
    pending: list[type[BaseException]] = [tfso_events.TfsoEventsError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("tfso_events") and cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return found


def test_every_error_a_user_can_see_has_a_public_documented_name() -> None:
    """Every TfsoEventsError subclass is public: exported from tfso_events under its own
    name, drawn in the tree of errors.py's docstring, with a docstring of its own (a
    wrong secret once surfaced as _AuthenticationDeliveryError). The one exception is
    the transports' internal retry signal, which deliver() always turns into a
    DeliveryError before anything reaches a caller."""
    from tfso_events import errors
    from tfso_events.publishing._batching import RetryableCallError

    tree = errors.__doc__ or ""
    for cls in _package_errors() - {RetryableCallError}:
        assert not cls.__name__.startswith("_"), cls
        assert getattr(tfso_events, cls.__name__, None) is cls, cls
        assert cls.__name__ in tfso_events.__all__, cls
        assert re.search(rf"^\s*(\W+ )?{cls.__name__}\b", tree, re.MULTILINE), cls
        assert cls.__doc__, cls
