"""Configuration of TfsoEventBridgeClient, its cold start, and errors of the AWS setup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.eventbridge.conftest import PutEventsStub, bank_event
from tfso_events import ConfigurationError, TfsoEventBridgeClient


@pytest.mark.parametrize("name", ["staging", "production", "", " "])
def test_unknown_bus_environment_lists_the_valid_ones(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bus_environment other than dev, pre-prod, prod or local (or none, with no
    TFSO_EVENTS_ENVIRONMENT) is a ConfigurationError that names the valid ones."""
    monkeypatch.delenv("TFSO_EVENTS_ENVIRONMENT", raising=False)
    with pytest.raises(ConfigurationError, match="dev, pre-prod, prod, local"):
        TfsoEventBridgeClient(name)


@pytest.mark.parametrize("environment", ["dev", "pre-prod", "prod", "local"])
def test_bus_environments(environment: str) -> None:
    """Each bus environment is accepted; without a bus name each module has its own,
    tfso-{module}-events, in every environment."""
    client = TfsoEventBridgeClient(environment)
    assert client.bus_environment == environment
    assert client.event_bus_name is None
    assert client.bus_for(bank_event()) == "tfso-bank-events"


def test_bus_environment_defaults_to_tfso_events_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without an argument the client reads TFSO_EVENTS_ENVIRONMENT, as the API client
    does; the argument wins; neither is a ConfigurationError saying how to give one."""
    monkeypatch.setenv("TFSO_EVENTS_ENVIRONMENT", "pre-prod")
    assert TfsoEventBridgeClient().bus_environment == "pre-prod"
    assert TfsoEventBridgeClient("prod").bus_environment == "prod"
    monkeypatch.delenv("TFSO_EVENTS_ENVIRONMENT")
    with pytest.raises(ConfigurationError, match="set TFSO_EVENTS_ENVIRONMENT"):
        TfsoEventBridgeClient()


async def test_local_needs_and_sends_none_of_the_shells_aws_configuration(
    stub: PutEventsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In local the client sends to AWS_ENDPOINT_URL_EVENTBRIDGE (the hub's banner says
    to export it) signed with dummy credentials in eu-west-1: the shell's keys are never
    sent, and a missing profile or region does not stop it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASHELLKEY")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", stub.url)
    monkeypatch.setenv("TFSO_EVENTS_ENVIRONMENT", "local")
    async with TfsoEventBridgeClient() as client:
        assert client.endpoint_url == stub.url
        result = await client.publish(bank_event())
    assert [event_id for event_id, _ in stub.accepted] == [result.event_id]
    assert stub.accepted[0][1]["EventBusName"] == "tfso-bank-events"
    authorization = stub.calls[0].authorization
    assert "Credential=local/" in authorization
    assert "/eu-west-1/events/" in authorization
    assert "AKIASHELLKEY" not in authorization


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_request_bytes": 1024 * 1024 + 1}, "max_request_bytes must be between"),
        ({"max_request_bytes": 0}, "max_request_bytes must be between"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"linger": -1.0}, "linger must not be negative"),
        ({"event_bus_name": "  "}, "event_bus_name must be a bus name or ARN"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, object], message: str) -> None:
    """Out-of-range options fail at construction with a message saying which."""
    with pytest.raises(ConfigurationError, match=message):
        TfsoEventBridgeClient("dev", **options)  # type: ignore[arg-type]


def test_one_mib_is_the_largest_request_limit() -> None:
    """max_request_bytes may be raised up to EventBridge's 1 MiB."""
    assert TfsoEventBridgeClient("prod", max_request_bytes=1024 * 1024).max_request_bytes == (
        1024 * 1024
    )


COLD = """
import json, sys
import tfso_events
from tfso_events import TfsoEventBridgeClient
client = TfsoEventBridgeClient("prod")
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"aioboto3", "aiobotocore",
    "botocore", "boto3", "aiohttp"})
print(json.dumps(heavy))
"""


def test_constructing_a_client_imports_no_aws_stack() -> None:
    """import tfso_events and constructing the client import neither aioboto3, botocore
    nor aiohttp: a Lambda pays for them only when it first publishes."""
    out = subprocess.run(
        [sys.executable, "-c", COLD], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


async def test_missing_credentials_say_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere: publish raises ConfigurationError naming the ways to
    provide them, before any request."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with TfsoEventBridgeClient("dev", endpoint_url="http://127.0.0.1:9") as client:
        with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID") as caught:
            await client.publish(bank_event())
    assert "role" in str(caught.value)


async def test_missing_region_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region anywhere: publish raises ConfigurationError naming region_name and
    AWS_DEFAULT_REGION (botocore does not read AWS_REGION)."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    async with TfsoEventBridgeClient("dev") as client:
        with pytest.raises(ConfigurationError, match=r"region_name=.*AWS_DEFAULT_REGION"):
            await client.publish(bank_event())


async def test_closed_client_refuses_work() -> None:
    """After aclose(), publish and publish_many raise ConfigurationError; aclose of a
    client that never published opens nothing."""
    client = TfsoEventBridgeClient("dev")
    await client.aclose()
    assert client.closed
    with pytest.raises(ConfigurationError, match="client is closed"):
        await client.publish(bank_event())
    with pytest.raises(ConfigurationError, match="client is closed"):
        await client.publish_many([bank_event()])
