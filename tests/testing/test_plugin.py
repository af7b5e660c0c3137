"""The pytest plugin as users get it: a user test module run in a subprocess."""

from __future__ import annotations

import os

import pytest

USER_MODULE = '''
import os
import pathlib
import subprocess
import sys

import pytest

from tfso_events import RetryPolicy
from tfso_events import Publisher, SyncPublisher, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events import DeliveryError
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.testing import build


class Orders:
    """A user's service: publishes through the Publisher it is given."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def book(self, code: int) -> str:
        try:
            result = await self.publisher.publish(
                build(BankTransactionCreatedV1Event, content__status__code=code)
            )
        except DeliveryError:
            return "retry later"
        return result.event_id


@pytest.mark.asyncio
async def test_memory(memory_publisher):
    assert await Orders(memory_publisher).book(200)
    memory_publisher.assert_published(
        BankTransactionCreatedV1Event, count=1, content__status__code=200
    )
    memory_publisher.refuse(code="AccessDeniedException")
    assert await Orders(memory_publisher).book(201) == "retry later"


@pytest.mark.asyncio
async def test_memory_is_fresh(memory_publisher):
    assert memory_publisher.events == []


@pytest.mark.asyncio
async def test_memory_assert_fails(memory_publisher):
    await Orders(memory_publisher).book(200)
    memory_publisher.assert_published(BankTransactionCreatedV1Event, content__status__code=999)


@pytest.mark.asyncio
async def test_hub(tfso_hub):
    tfso_hub.faults.throttle_rate = 1.0
    client = TfsoEventApiClient("local", "local-client", "local-secret",
                                api_url=tfso_hub.url, auth0_domain=tfso_hub.url,
                                retry=RetryPolicy(max_attempts=1))
    async with client:
        assert await Orders(client).book(1) == "retry later"


@pytest.mark.asyncio
async def test_hub_faults_reset(tfso_hub):
    assert tfso_hub.faults.throttle_rate == 0.0 and tfso_hub.count() == 0


@pytest.mark.asyncio
async def test_env(tfso_env, tfso_hub):
    async with TfsoEventApiClient() as api, TfsoEventBridgeClient("dev") as bridge:
        assert await Orders(api).book(1)
        assert await Orders(bridge).book(2)
    from tfso_events.sync import TfsoEventBridgeClient as SyncBridge
    with SyncBridge("dev") as sync_client:
        sync_client.publish(build(BankTransactionCreatedV1Event, content__status__code=3))
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "tfso-events"), "publish",
         "--via", "api", "-"],
        input=pathlib.Path(os.environ["EVENT_FILE"]).read_text(),
        capture_output=True, text=True, env={**os.environ, **tfso_env},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    vias = sorted(e.via for e in tfso_hub.received())
    assert vias == ["api", "api", "eventbridge", "eventbridge"]
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"


def test_env_restored():
    assert os.environ.get("AWS_ACCESS_KEY_ID") == "from-the-shell"
    assert "TFSO_EVENTS_API_URL" not in os.environ


def test_session_hub(tfso_session_hub, request):
    assert tfso_session_hub.url.startswith("http://127.0.0.1:")
'''


def test_plugin_fixtures_in_a_user_test_module(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Installed tfso-events gives a user's test module memory_publisher, tfso_hub
    (fresh, faults reset per test), tfso_session_hub and tfso_env (both async clients,
    the sync facade and the CLI reach the hub; the environment is restored): every
    test passes but the one whose assert_published fails, with the readable diff."""
    import json

    from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
    from tfso_events.testing import build, lambda_eventbridge_event

    events = tmp_path_factory.mktemp("events") / "one.ndjson"
    event = build(BankTransactionCreatedV1Event, content__status__code=4)
    events.write_text(json.dumps(lambda_eventbridge_event(event)) + "\n")
    pytester.makepyfile(test_user=USER_MODULE)
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "from-the-shell", "EVENT_FILE": str(events)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for key in [k for k in os.environ if k.startswith("TFSO_EVENTS_")]:
            pytester._monkeypatch.delenv(key)  # type: ignore[attr-defined]
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=180)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*test_memory_assert_fails FAILED*"])
    result.stdout.fnmatch_lines(["*- expected 999*", "*+ found    200*"])


def test_plugin_is_inert_without_its_fixtures(pytester: pytest.Pytester) -> None:
    """A test module that uses none of the fixtures loads the plugin but none of what its
    fixtures need (no hub, no publishers, no testing kit, no aiohttp or hypothesis)."""
    pytester.makepyfile(
        test_plain="""
import sys

def test_nothing_loaded():
    heavy = ("aiohttp", "aioboto3", "botocore", "hypothesis", "tfso_events.testing",
             "tfso_events.local", "tfso_events.publishing.eventbridge",
             "tfso_events.publishing.api")
    loaded = sorted(m for m in sys.modules if m.startswith(heavy))
    assert "tfso_events.pytest_plugin" in sys.modules
    assert loaded == [], loaded
"""
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=1)
