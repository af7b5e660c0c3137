"""Helpers for the hub's tests: a real aiohttp session, a token, valid bodies, boto3."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tfso_events.environments import AUDIENCE
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)

SOURCE = "com.24sevenoffice.banktransfer"
DETAIL_TYPE = "bank.test:created@v1"


def sample_event(first_name: str = "Karl") -> BankTestCreatedV1Event:
    """A valid ``bank.test:created@v1`` event."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=first_name,
                last_name="Marx",
                favorite_color=BankTestCreatedV1FavoriteColor.Red,
                registration_date=datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC),
            ),
            timestamp=datetime(2023, 7, 4, 8, 6, tzinfo=UTC),
        )
    )


def sample_detail(first_name: str = "Karl") -> dict[str, Any]:
    """The wire detail of :func:`sample_event`, as a dict."""
    detail: dict[str, Any] = json.loads(sample_event(first_name).detail_json())
    return detail


def api_body(first_name: str = "Karl", **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /events`` body."""
    body = {"source": SOURCE, "detailType": DETAIL_TYPE, "detail": sample_detail(first_name)}
    return body | overrides


def entry(first_name: str = "Karl", **overrides: Any) -> dict[str, Any]:
    """A valid PutEvents entry (as boto3 takes it)."""
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(sample_detail(first_name)),
        "EventBusName": "tfso-bank-events",
    } | overrides


def token_form(**overrides: str) -> dict[str, str]:
    """A valid client-credentials form for the default client."""
    return {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "audience": AUDIENCE,
    } | overrides


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def fetch_token(session: aiohttp.ClientSession, hub: LocalHub, **overrides: str) -> str:
    """An access token from the hub's token endpoint."""
    async with session.post(f"{hub.url}/oauth/token", data=token_form(**overrides)) as response:
        assert response.status == 200, await response.text()
        token: str = (await response.json())["access_token"]
    return token


@pytest.fixture
async def bearer(hub: LocalHub, session: aiohttp.ClientSession) -> dict[str, str]:
    """The Authorization header of a token of the default client (every scope)."""
    return {"Authorization": f"Bearer {await fetch_token(session, hub)}"}


@pytest.fixture
async def eventbridge(hub: LocalHub) -> AsyncIterator[Any]:
    """The real aioboto3 EventBridge client pointed at the hub (dummy credentials, no
    client-side retries so every answer of the hub is seen as is)."""
    import aioboto3
    from botocore.config import Config

    boto_session = aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    async with boto_session.client("events", endpoint_url=hub.url, config=config) as client:
        yield client
