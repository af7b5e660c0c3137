"""MemoryPublisher / SyncMemoryPublisher: recording, results, failure injection, asserts."""

from __future__ import annotations

import pytest

from tfso_events import (
    ConfigurationError,
    DeliveryError,
    EventValidationError,
    PublishError,
    PublishResult,
)
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event
from tfso_events.testing import MemoryPublisher, SyncMemoryPublisher, build


async def test_records_accepted_events_in_order_with_distinct_ids() -> None:
    """Every accepted event is recorded once, in publish order, under the id returned."""
    publisher = MemoryPublisher()
    first = build(BankTransactionCreatedV1Event, content__status__code=1)
    second = build(BankTestCreatedV1Event)
    one = await publisher.publish(first)
    batch = await publisher.publish_many([second, first])
    assert isinstance(one, PublishResult)
    assert publisher.events == [first, second, first]
    ids = [one.event_id, *batch.event_ids]
    assert [record.event_id for record in publisher.records] == ids
    assert len(set(ids)) == 3
    assert [r.index for r in batch.results] == [0, 1]
    assert publisher.records[0].detail == first.detail_json().decode()
    assert publisher.records[0].event_bus_name == "tfso-bank-events"


async def test_published_returns_only_that_class() -> None:
    """published(cls) filters by event class and keeps order."""
    publisher = MemoryPublisher()
    a = build(BankTransactionCreatedV1Event, content__status__code=1)
    b = build(BankTransactionDeletedV1Event)
    c = build(BankTransactionCreatedV1Event, content__status__code=2)
    await publisher.publish_many([a, b, c])
    assert publisher.published(BankTransactionCreatedV1Event) == [a, c]
    assert publisher.published(BankTransactionDeletedV1Event) == [b]
    assert publisher.published(BankTestCreatedV1Event) == []


async def test_invalid_event_is_refused_and_nothing_recorded() -> None:
    """An invalid event raises EventValidationError with the path; in publish_many one
    invalid event means none of the batch is recorded."""
    publisher = MemoryPublisher()
    bad = build(BankTransactionCreatedV1Event, content__status__code="two hundred")
    with pytest.raises(EventValidationError) as info:
        await publisher.publish(bad)
    assert info.value.path == "$.content.status.code"
    with pytest.raises(EventValidationError):
        await publisher.publish_many([build(BankTestCreatedV1Event), bad])
    assert publisher.events == []


async def test_throttled_events_are_retried_then_fail_with_throttling_code() -> None:
    """throttle(n) answers the next n entries ThrottlingException: fewer than the retry
    budget are absorbed (attempts counts them), more end in a DeliveryError."""
    publisher = MemoryPublisher()
    event = build(BankTestCreatedV1Event)
    publisher.throttle(3)
    result = await publisher.publish(event)
    assert result.attempts == 4
    publisher.throttle(8)
    with pytest.raises(DeliveryError) as info:
        await publisher.publish(event)
    assert info.value.code == "ThrottlingException"
    assert info.value.attempts == 8
    assert len(publisher.events) == 1


async def test_refuse_by_predicate_and_raise_on_error_semantics() -> None:
    """refuse(when, code) fails matching events for good with that code; publish_many
    raises PublishError carrying the result, or returns it with raise_on_error=False."""
    publisher = MemoryPublisher()
    publisher.refuse(lambda e: isinstance(e, BankTransactionDeletedV1Event), code="AccessDenied")
    ok, refused = build(BankTestCreatedV1Event), build(BankTransactionDeletedV1Event)
    with pytest.raises(PublishError) as info:
        await publisher.publish_many([ok, refused])
    assert info.value.result is not None
    assert [f.index for f in info.value.result.failed] == [1]
    result = await publisher.publish_many([refused, ok], raise_on_error=False)
    assert not result.ok
    assert result.failed[0].code == "AccessDenied"
    assert "EventBridge refused bank.transaction:deleted@v1" in result.failed[0].reason
    assert result.event_ids[0] is None
    assert result.event_ids[1] is not None
    assert publisher.events == [ok, ok]
    with pytest.raises(DeliveryError, match="AccessDenied"):
        await publisher.publish(refused)
    publisher.reset()
    await publisher.publish(refused)
    assert publisher.events[-1] is refused


async def test_misconfigure_raises_configuration_error_until_reset() -> None:
    """misconfigure() makes publish and publish_many raise ConfigurationError (nothing
    recorded); reset() heals the publisher."""
    publisher = MemoryPublisher()
    publisher.misconfigure("no region")
    event = build(BankTestCreatedV1Event)
    with pytest.raises(ConfigurationError, match="no region"):
        await publisher.publish(event)
    with pytest.raises(ConfigurationError, match="no region"):
        await publisher.publish_many([event])
    assert publisher.events == []
    publisher.reset()
    await publisher.publish(event)
    assert publisher.events == [event]


async def test_closed_publisher_refuses_like_a_closed_client() -> None:
    """After aclose() a publish raises ConfigurationError; records stay readable."""
    async with MemoryPublisher() as publisher:
        await publisher.publish(build(BankTestCreatedV1Event))
    assert publisher.closed
    with pytest.raises(ConfigurationError, match="closed"):
        await publisher.publish(build(BankTestCreatedV1Event))
    assert len(publisher.events) == 1


async def test_assert_published_counts_and_where() -> None:
    """assert_published matches by attribute path and count, returning the matches."""
    publisher = MemoryPublisher()
    await publisher.publish_many(
        [
            build(BankTransactionCreatedV1Event, content__status__code=200),
            build(BankTransactionCreatedV1Event, content__status__code=300),
            build(BankTransactionCreatedV1Event, content__status__code=200, metadata={"k": 1}),
        ]
    )
    assert len(publisher.assert_published(BankTransactionCreatedV1Event, count=3)) == 3
    found = publisher.assert_published(BankTransactionCreatedV1Event, content__status__code=200)
    assert len(found) == 2
    publisher.assert_published(BankTransactionCreatedV1Event, count=1, metadata={"k": 1})
    with pytest.raises(AssertionError, match="exactly 1"):
        publisher.assert_published(
            BankTransactionCreatedV1Event, count=1, content__status__code=200
        )


async def test_assert_published_failure_shows_a_readable_diff() -> None:
    """A failing assert_published names what was expected and, per published event of
    the class, the expected and found value of each differing path."""
    publisher = MemoryPublisher()
    await publisher.publish(build(BankTransactionCreatedV1Event, content__status__code=100))
    with pytest.raises(AssertionError) as info:
        publisher.assert_published(
            BankTransactionCreatedV1Event, content__status__code=200, content__licence="x"
        )
    text = str(info.value)
    assert "expected at least one BankTransactionCreatedV1Event" in text
    assert "- expected 200" in text
    assert "+ found    100" in text
    assert "content__licence: no such attribute" in text
    with pytest.raises(AssertionError) as other:
        publisher.assert_published(BankTestCreatedV1Event)
    assert "no bank.test:created@v1 was published; published: bank.transaction:created@v1" in (
        str(other.value)
    )


def test_sync_memory_publisher_behaves_like_the_async_one() -> None:
    """The blocking memory publisher records, injects failures and asserts the same way,
    also when called from inside a running event loop's thread pool."""
    with SyncMemoryPublisher() as publisher:
        event = build(BankTestCreatedV1Event)
        assert publisher.publish(event).event_id
        publisher.throttle(8)
        with pytest.raises(DeliveryError):
            publisher.publish(event)
        batch = publisher.publish_many([event, event])
        assert batch.ok
        assert len(batch) == 2
        publisher.assert_published(BankTestCreatedV1Event, count=3)
        assert publisher.memory.events == publisher.events
    with pytest.raises(ConfigurationError):
        publisher.publish(event)
