"""A publisher used after the event loop it first ran on closed (a second
``asyncio.run``) refuses with one and the same ConfigurationError, whichever publisher it
is and whichever method is called (issue 24, item 7). Real hub on 127.0.0.1, in a thread."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator

import aioboto3
import pytest

from tfso_events import ConfigurationError, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.publishing._lifecycle import PublisherLifecycle
from tfso_events.testing import build


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    """A local hub in its own thread (it outlives each asyncio.run of the tests)."""
    with LocalHub() as running:
        yield running


def _api(hub: LocalHub) -> TfsoEventApiClient:
    return TfsoEventApiClient(
        "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=hub.url, auth0_domain=hub.url
    )


def _eventbridge(hub: LocalHub) -> TfsoEventBridgeClient:
    session = aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )
    return TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=session)


Use = Callable[[PublisherLifecycle], Awaitable[object]]
USES: dict[str, Use] = {
    "publish": lambda c: c.publish(build(BankTestCreatedV1Event)),  # type: ignore[attr-defined]
    "publish_many": lambda c: c.publish_many([build(BankTestCreatedV1Event)]),  # type: ignore[attr-defined]
    "open": lambda c: c.open(),
}


def _second_run_error(client: PublisherLifecycle, use: Use) -> BaseException:
    """Publish in one asyncio.run (leaving the client open), then ``use`` it in a second
    asyncio.run; return what the second one raised."""
    asyncio.run(USES["publish"](client))
    try:
        asyncio.run(use(client))  # type: ignore[arg-type]
    except BaseException as exc:
        return exc
    raise AssertionError("the second asyncio.run was expected to fail")


# The first loop closed with the client's session open (the misuse under test): aiohttp
# warns about it when the session is collected, which these tests do on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize("use", list(USES))
@pytest.mark.parametrize("kind", ["api", "eventbridge"])
def test_use_after_the_loop_closed(hub: LocalHub, kind: str, use: str) -> None:
    """publish, publish_many and open after the first loop closed raise the
    ConfigurationError that says the client belongs to that (closed) loop and what to
    do, never ``RuntimeError: Event loop is closed``; nothing more is stored."""
    client = (_api if kind == "api" else _eventbridge)(hub)
    before = hub.count()
    error = _second_run_error(client, USES[use])
    assert type(error) is ConfigurationError, repr(error)
    name = type(client).__name__
    assert str(error) == (
        f"this {name} belongs to the event loop that first used it (that loop is closed "
        "now); create one client per event loop (inside the asyncio.run that uses it), or "
        "use tfso_events.sync from plain code"
    )
    assert hub.count() == before + 1
    del client
    gc.collect()


def test_the_same_error_for_every_publisher(hub: LocalHub) -> None:
    """Both clients word it alike (only the class name differs): one error, one place."""
    texts = {
        type(client).__name__: str(_second_run_error(client, USES["publish"]))
        for client in (_api(hub), _eventbridge(hub))
    }
    gc.collect()
    assert texts["TfsoEventApiClient"].replace("TfsoEventApiClient", "X") == texts[
        "TfsoEventBridgeClient"
    ].replace("TfsoEventBridgeClient", "X")
