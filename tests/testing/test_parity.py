"""MemoryPublisher behaves as the real clients do on the same inputs (against the hub)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tfso_events import Publisher, PublishResult, TfsoEvent
from tfso_events.local import LocalHub
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.testing import MemoryPublisher, build

INPUTS: dict[str, TfsoEvent] = {
    "valid": build(BankTransactionCreatedV1Event, content__status__code=200),
    "invalid-type": build(BankTransactionCreatedV1Event, content__status__code="200"),
    "naive-datetime": build(
        BankTestCreatedV1Event,
        content__registration_date=build(
            BankTestCreatedV1Event
        ).detail.content.registration_date.replace(tzinfo=None),
    ),
    "oversized": build(BankTestCreatedV1Event, content__first_name="x" * 300_000),
}


@pytest.fixture(params=["memory", "eventbridge", "api"])
async def publisher(
    request: pytest.FixtureRequest, tfso_env: dict[str, str], tfso_hub: LocalHub
) -> AsyncIterator[tuple[str, Publisher]]:
    """Each publisher kind, the real ones pointed at the plugin's hub by tfso_env."""
    from tfso_events import TfsoEventApiClient, TfsoEventBridgeClient

    kind: str = request.param
    client: Publisher
    if kind == "memory":
        client = MemoryPublisher()
    elif kind == "eventbridge":
        client = TfsoEventBridgeClient("dev")
    else:
        client = TfsoEventApiClient()
    yield kind, client
    await client.aclose()


async def _outcome(client: Publisher, event: TfsoEvent, many: bool) -> tuple[str, str]:
    try:
        if many:
            result = (await client.publish_many([event])).results[0]
        else:
            result = await client.publish(event)
    except Exception as exc:
        return type(exc).__name__, f"{exc} {getattr(exc, '__notes__', '')}"
    assert isinstance(result, PublishResult)
    assert result.event_id
    return "ok", result.detail_type


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
@pytest.mark.parametrize("name", list(INPUTS))
async def test_memory_and_real_clients_agree(
    publisher: tuple[str, Publisher], name: str, many: bool, tfso_hub: LocalHub
) -> None:
    """On the same input each publisher gives the same outcome as MemoryPublisher: an id
    for a valid event, the same error class and message for an invalid one (and nothing
    reaches the hub), EventTooLargeError for an oversized one (the events API client has
    no PutEvents size limit: the hub accepts it there)."""
    kind, client = publisher
    event = INPUTS[name]
    expected = await _outcome(MemoryPublisher(), event, many)
    got = await _outcome(client, event, many)
    if kind == "api" and name == "oversized":
        assert expected[0] == "EventTooLargeError"
        assert got[0] == "ok"
        return
    assert got == expected
    arrived = tfso_hub.count() if kind != "memory" else len(client.events)  # type: ignore[attr-defined]
    assert arrived == (1 if expected[0] == "ok" else 0)
