"""event_strategy(cls): 1,000 drawn events per class validate, publish, parse back equal."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfso_events import TfsoEvent, parse_event
from tfso_events import event_classes as catalog
from tfso_events.local import LocalHub
from tfso_events.testing import event_strategy

PER_CLASS = 1000


class _Record(msgspec.Struct, rename="camel"):
    source: str
    detail_type: str
    detail: msgspec.Raw


@pytest.mark.parametrize("cls", catalog(), ids=lambda cls: cls.detail_type)
async def test_generated_events_validate_publish_and_parse_back_equal(
    cls: type[TfsoEvent], hub: LocalHub
) -> None:
    """1,000 events drawn per class all validate; published through the real EventBridge
    client to the local hub, each parses back (from the hub's raw JSON) to an equal
    detail; optional fields were drawn both present and absent."""
    from tfso_events.publishing._local_aws import local_aws_session
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

    drawn: list[TfsoEvent] = []

    @settings(
        max_examples=PER_CLASS,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(event_strategy(cls))
    def collect(event: TfsoEvent) -> None:
        event.validate()
        drawn.append(event)

    collect()
    assert len(drawn) >= PER_CLASS
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=hub.url, session=local_aws_session(), max_request_bytes=1024 * 1024
    ) as client:
        batch = await client.publish_many(drawn)
    assert batch.ok
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{hub.url}/events") as response:
        records = msgspec.json.decode(await response.read(), type=list[_Record])
    assert len(records) == len(drawn)
    for record, sent in zip(records, drawn, strict=True):
        envelope = msgspec.json.encode(
            {"detail-type": record.detail_type, "source": record.source, "detail": record.detail}
        )
        assert parse_event(envelope).detail == sent.detail
    shapes = {tuple(sorted(msgspec.to_builtins(e.detail.content))) for e in drawn}
    if any(not f.required for f in msgspec.inspect.type_info(type(drawn[0].detail.content)).fields):
        assert len(shapes) > 1, "optional fields were never both present and absent"


def test_events_refuses_what_is_not_an_event_class() -> None:
    """event_strategy() needs a concrete event class: a TypeError names what it got."""
    with pytest.raises(TypeError, match="event class"):
        event_strategy(int)  # type: ignore[type-var]
    assert isinstance(event_strategy(catalog()[0]), st.SearchStrategy)


def test_events_is_a_deprecated_alias_of_event_strategy() -> None:
    """tfso_events.testing.events(cls) still gives the strategy for one release, with a
    DeprecationWarning naming its new name, event_strategy()."""
    from tfso_events import testing

    cls = catalog()[0]
    with pytest.warns(DeprecationWarning, match=r"use tfso_events\.testing\.event_strategy"):
        strategy = testing.events(cls)
    drawn: list[object] = []

    @settings(max_examples=5, database=None)
    @given(strategy)
    def draw(event: object) -> None:
        drawn.append(event)

    draw()
    assert drawn
    assert all(isinstance(event, cls) for event in drawn)
