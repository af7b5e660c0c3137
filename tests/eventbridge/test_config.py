"""Configuration of TfsoEventBridgeClient, its cold start, and errors of the AWS setup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.eventbridge.conftest import bank_event
from tfso_events import ConfigurationError, TfsoEventBridgeClient


@pytest.mark.parametrize("name", ["local", "staging", "Prod", ""])
def test_unknown_bus_environment_lists_the_valid_ones(name: str) -> None:
    """A bus_environment other than dev, pre-prod or prod is a ConfigurationError that
    names the valid ones."""
    with pytest.raises(ConfigurationError, match="dev, pre-prod, prod"):
        TfsoEventBridgeClient(name)


@pytest.mark.parametrize("environment", ["dev", "pre-prod", "prod"])
def test_bus_environments(environment: str) -> None:
    """Each bus environment is accepted; without a bus name each module has its own."""
    client = TfsoEventBridgeClient(environment)
    assert client.bus_environment == environment
    assert client.event_bus_name is None
    assert client.bus_for(bank_event()) == "tfso-bank-events"


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
