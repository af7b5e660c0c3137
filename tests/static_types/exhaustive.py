"""Type-checked, not run: a consumer's exhaustive ``match`` over what ``parse_event``
returns, and ``event_class`` typed per detail-type (tests/static_types/test_static_types.py runs
mypy --strict and pyright on this file, and on a copy missing one case)."""

from __future__ import annotations

from typing import assert_never

from tfso_events import DetailTypes, UnknownEvent, event_class, parse_event
from tfso_events.examples import sample_event
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.models.bank_transaction_deleted_v1 import BankTransactionDeletedV1Event
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Event,
)


def route(raw: bytes) -> str:
    event = parse_event(raw)
    match event:
        case BankTestCreatedV1Event():
            return event.detail.content.first_name
        case BankTransactionCreatedV1Event():
            return event.detail.content.transaction_id
        case BankTransactionDeletedV1Event():
            return event.detail.content.transaction_id
        case BankTransactionStatusChangedV1Event():  # CASE-TO-DROP
            return event.detail.content.transaction_id
        case UnknownEvent():
            return event.detail_type
        case _:
            assert_never(event)


created: type[BankTransactionCreatedV1Event] = event_class("bank.transaction:created@v1")
tested: type[BankTestCreatedV1Event] = event_class(DetailTypes.BankTestCreatedV1)
sampled: BankTransactionCreatedV1Event = sample_event("bank.transaction:created@v1")
