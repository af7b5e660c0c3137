"""A consumer registering handlers on an EventRouter: checks under mypy --strict and
pyright (tests/static_types/test_static_types.py runs both on this file, and on a copy
with a handler of the wrong event type, which both must reject)."""

from __future__ import annotations

from tfso_events import TfsoEvent, UnknownEvent
from tfso_events.consume import EventRouter, RecordContext
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Event,
)

router = EventRouter()


@router.on(BankTransactionCreatedV1Event)
def created(event: BankTransactionCreatedV1Event) -> None:
    print(event.detail.content.transaction_id)


@router.on(BankTransactionDeletedV1Event, BankTransactionStatusChangedV1Event)
async def changed(
    event: BankTransactionDeletedV1Event | BankTransactionStatusChangedV1Event,
    record: RecordContext,
) -> None:
    print(event.detail.content.transaction_id, record.message_id)


@router.on(TfsoEvent)
def anything(event: TfsoEvent) -> str:
    return event.detail_type


many = EventRouter()


@many.on(  # five classes: past the overloads that name each, a base class takes them
    BankTransactionCreatedV1Event,
    BankTransactionDeletedV1Event,
    BankTransactionStatusChangedV1Event,
    BankTestCreatedV1Event,
    TfsoEvent,
)
def any_of_five(event: TfsoEvent) -> None:
    print(event.detail_type)


@router.on_unknown
def unknown(event: UnknownEvent) -> None:
    print(event.detail_type)


def call_directly(event: BankTransactionCreatedV1Event) -> None:
    created(event)  # the decorated function is still callable as written


# WRONG-HANDLER: the test appends a handler of the wrong event type below this line
