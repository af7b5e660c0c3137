"""Helpers of the outbox tests: events, publishers pointed at a hub, rows in a table."""

from __future__ import annotations

import json
from typing import Any

import aioboto3
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tfso_events import TfsoEvent, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Outbox, StoredEvent
from tfso_events.outbox._stored import _stored_class
from tfso_events.testing import build


def order_event(n: int) -> BankTestCreatedV1Event:
    """The event of order ``n`` (its number is the first name, so the hub's copy names it)."""
    return build(BankTestCreatedV1Event, content__first_name=f"order-{n}")


def unknown_event(detail_type: str = "bank.test:renamed@v9") -> StoredEvent:
    """An event of a detail-type this version's catalog does not know."""
    cls = _stored_class(detail_type, BankTestCreatedV1Event.source, "bank")
    return cls(detail=order_event(0).detail, wire=b'{"content":{"x":1},"metadata":{}}')


def api_client(hub: LocalHub, **options: Any) -> TfsoEventApiClient:
    """The events-API publisher, at the hub."""
    return TfsoEventApiClient(
        "local", "local-client", "local-secret", api_url=hub.url, auth0_domain=hub.url, **options
    )


def bridge_client(hub: LocalHub, **options: Any) -> TfsoEventBridgeClient:
    """The EventBridge publisher, at the hub."""
    session = aioboto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-1"
    )
    return TfsoEventBridgeClient("dev", endpoint_url=hub.url, session=session, **options)


async def rows(engine: AsyncEngine, outbox: Outbox) -> int:
    """How many rows the outbox table holds (dead letters included)."""
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(outbox.table))
    return int(count or 0)


def names(hub: LocalHub) -> list[str]:
    """The first names of the events the hub received, in arrival order."""
    return [str(record.detail["content"]["firstName"]) for record in hub.received()]


def first_name(event: TfsoEvent) -> str:
    """The first name in an event's detail as it goes on the wire (the relay hands the
    publishers the stored bytes, not a typed event)."""
    return str(json.loads(event.detail_json())["content"]["firstName"])
