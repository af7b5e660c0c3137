"""EventRouter.on() checks a handler's annotated event type when it registers it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pytest

from tfso_events import TfsoEvent, UnknownEvent
from tfso_events.consume import EventRouter, RecordContext
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event

if TYPE_CHECKING:
    from tfso_events.models.bank_transaction_status_changed_v1 import (
        BankTransactionStatusChangedV1Event,
    )


def test_a_handler_annotated_with_another_event_is_refused() -> None:
    """@router.on(Created) on a function of a Deleted raises TypeError naming both and
    registers nothing (the annotation is a string here: from __future__ import
    annotations, as most services write)."""
    router = EventRouter()

    def wrong(event: BankTransactionDeletedV1Event) -> None: ...

    with pytest.raises(TypeError) as caught:
        router.on(BankTransactionCreatedV1Event)(wrong)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "takes BankTransactionDeletedV1Event" in message
    assert "registered for BankTransactionCreatedV1Event" in message
    assert router.route(BankTransactionCreatedV1Event) is None


def test_a_union_must_cover_every_class_it_is_registered_for() -> None:
    """A handler registered for two classes must take both: a union of both is
    accepted, one of them alone is refused naming the one it lacks."""
    router = EventRouter()

    async def both(
        event: BankTransactionCreatedV1Event | BankTransactionDeletedV1Event, record: RecordContext
    ) -> None: ...

    router.on(BankTransactionCreatedV1Event, BankTransactionDeletedV1Event)(both)
    assert router.route(BankTransactionDeletedV1Event) is both

    def one(event: BankTransactionCreatedV1Event) -> None: ...

    with pytest.raises(TypeError, match="registered for BankTestCreatedV1Event:"):
        EventRouter().on(BankTransactionCreatedV1Event, BankTestCreatedV1Event)(one)  # type: ignore[arg-type]


def _base(event: TfsoEvent) -> None: ...
def _optional(event: Annotated[BankTestCreatedV1Event | None, "doc"]) -> None: ...
def _any(event: Any) -> None: ...
def _unknown(event: UnknownEvent) -> None: ...
def _checker_only(event: BankTransactionStatusChangedV1Event) -> None: ...


@pytest.mark.parametrize(
    ("cls", "handler"),
    [
        (BankTestCreatedV1Event, _base),
        (BankTestCreatedV1Event, _optional),
        (BankTestCreatedV1Event, _any),
        (BankTestCreatedV1Event, lambda event: None),
        (UnknownEvent, _unknown),
        # A name imported only under TYPE_CHECKING cannot be read at run time: left to
        # the type checker rather than refused.
        (BankTestCreatedV1Event, _checker_only),
    ],
    ids=["base class", "Annotated Optional", "Any", "unannotated", "UnknownEvent", "unresolvable"],
)
def test_handlers_that_take_the_class_are_registered(cls: type[Any], handler: Any) -> None:
    """A base class, a union or Optional containing the class, Any, no annotation, and an
    annotation that cannot be resolved at run time all register."""
    router = EventRouter()
    router.on(cls)(handler)
    assert router.route(cls) is handler
