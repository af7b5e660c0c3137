"""The testing kit for rules: assert_matches / assert_not_matches, and the tfso_route
fixture (publisher -> local hub -> rule -> EventRouter in one test)."""

from __future__ import annotations

import pytest

from tfso_events import InvalidPatternError, detail_filter, event_pattern
from tfso_events.consume import EventRouter
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event
from tfso_events.testing import LocalRoute, assert_matches, assert_not_matches, build

CREATED_100 = event_pattern(
    BankTransactionCreatedV1Event,
    detail=detail_filter(
        BankTransactionCreatedV1Event, content__status__code=[{"numeric": [">=", 100]}]
    ),
)


def test_assert_matches_passes_and_fails_with_the_explanation() -> None:
    """assert_matches passes for a matching event; otherwise its message is the explanation."""
    assert_matches(CREATED_100, build(BankTransactionCreatedV1Event, content__status__code=100))
    with pytest.raises(AssertionError) as caught:
        assert_matches(CREATED_100, build(BankTransactionCreatedV1Event, content__status__code=5))
    assert str(caught.value) == (
        "the event does not match the pattern: $.detail.content.status.code: 5 does not "
        'match [{"numeric":[">=",100]}]'
    )


def test_assert_not_matches() -> None:
    """assert_not_matches passes for an event the rule would not get, fails for one it would."""
    assert_not_matches(CREATED_100, build(BankTransactionDeletedV1Event))
    with pytest.raises(AssertionError, match="the event matches the pattern"):
        assert_not_matches(CREATED_100, build(BankTransactionCreatedV1Event))


def test_an_invalid_pattern_is_not_an_assertion_failure() -> None:
    """A pattern EventBridge refuses raises InvalidPatternError, not AssertionError."""
    with pytest.raises(InvalidPatternError):
        assert_matches({"source": "x"}, {"source": "x"})


def test_route_from_publisher_through_the_hub_to_a_router(tfso_route: LocalRoute) -> None:
    """tfso_route: an event published through PutEvents reaches the router only when
    the rule matches it; publish() returns after the router ran."""
    router = EventRouter()
    codes: list[int] = []

    @router.on(BankTransactionCreatedV1Event)
    def created(event: BankTransactionCreatedV1Event) -> None:
        codes.append(event.detail.content.status.code)

    tfso_route.rule(CREATED_100, router)
    tfso_route.publish(
        build(BankTransactionCreatedV1Event, content__status__code=100),
        build(BankTransactionCreatedV1Event, content__status__code=5),
        build(BankTransactionDeletedV1Event),
    )
    assert codes == [100]
    assert [d.status for d in tfso_route.deliveries()] == ["delivered"]


def test_route_keeps_a_failing_handler_as_a_dead_letter(tfso_route: LocalRoute) -> None:
    """A router whose handler raises is retried, then the delivery is a failed record."""
    router = EventRouter()

    @router.on(BankTransactionCreatedV1Event)
    def created(event: BankTransactionCreatedV1Event) -> None:
        raise ValueError("downstream is down")

    tfso_route.rule(CREATED_100, router, name="failing")
    [event_id] = tfso_route.publish(build(BankTransactionCreatedV1Event))
    [failed] = tfso_route.deliveries(status="failed")
    assert (failed.rule, failed.event_id, failed.attempts) == ("failing", event_id, 3)
    assert failed.error == "ValueError: downstream is down"
