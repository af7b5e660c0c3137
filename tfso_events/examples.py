"""The seed documentation's sample events, as typed events.

Used by the generated event pages, ``tfso-events demo`` and tests; handy in a notebook::

    >>> from tfso_events.examples import sample_events
    >>> [event.detail_type for event in sample_events()][:2]
    ['bank.test:created@v1', 'bank.transaction:created@v1']
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tfso_events.models._base import TfsoEvent
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Address,
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)
from tfso_events.models.bank_transaction_created_v1 import (
    BankTransactionCreatedV1Content,
    BankTransactionCreatedV1Detail,
    BankTransactionCreatedV1Event,
    BankTransactionCreatedV1Status,
    BankTransactionCreatedV1StatusText,
)
from tfso_events.models.bank_transaction_deleted_v1 import (
    BankTransactionDeletedV1Content,
    BankTransactionDeletedV1Detail,
    BankTransactionDeletedV1Event,
    BankTransactionDeletedV1Status,
    BankTransactionDeletedV1StatusText,
)
from tfso_events.models.bank_transaction_status_changed_v1 import (
    BankTransactionStatusChangedV1Content,
    BankTransactionStatusChangedV1DeletionState,
    BankTransactionStatusChangedV1DeletionStatus,
    BankTransactionStatusChangedV1Detail,
    BankTransactionStatusChangedV1Event,
    BankTransactionStatusChangedV1Status,
    BankTransactionStatusChangedV1StatusText,
)

__all__ = ["sample_event", "sample_events"]

_TRANSACTION_ID = "123e4567-e89b-12d3-a456-426614174000"
_LICENSE = "2947b4ae-0d40-447b-886f-dcd3aa11648b;693081080913543;1198"
_SOURCE_URI = (
    "urn:;693081080913543;@tfso:generalledger:voucherid;transactionid:"
    "185B6BAE-C8B5-4CFC-98D2-89092D0046D0;5EBC82E1-C189-4373-9AAE-2AFF95259C9C"
)
#: A fixed timestamp so generated docs are stable.
SAMPLE_TIMESTAMP = datetime(2023, 7, 4, 8, 6, 0, tzinfo=UTC)


def sample_events(timestamp: datetime = SAMPLE_TIMESTAMP) -> list[TfsoEvent]:
    """One event per catalog entry, with the seed's example content."""
    return [
        BankTestCreatedV1Event(
            detail=BankTestCreatedV1Detail(
                content=BankTestCreatedV1Content(
                    first_name="John",
                    last_name="Doe",
                    age=30,
                    account_statement=Decimal("100000"),
                    favorite_color=BankTestCreatedV1FavoriteColor.Red,
                    registration_date=datetime(2023, 7, 4, 8, 5, 58, 330000, tzinfo=UTC),
                    address=BankTestCreatedV1Address(street="221B Baker Street", city="London"),
                ),
                timestamp=timestamp,
            )
        ),
        BankTransactionCreatedV1Event(
            detail=BankTransactionCreatedV1Detail(
                content=BankTransactionCreatedV1Content(
                    transaction_id=_TRANSACTION_ID,
                    license=_LICENSE,
                    status=BankTransactionCreatedV1Status(
                        text=BankTransactionCreatedV1StatusText.Created, code=100
                    ),
                    source_uris=[_SOURCE_URI],
                ),
                timestamp=timestamp,
            )
        ),
        BankTransactionDeletedV1Event(
            detail=BankTransactionDeletedV1Detail(
                content=BankTransactionDeletedV1Content(
                    transaction_id=_TRANSACTION_ID,
                    license=_LICENSE,
                    status=BankTransactionDeletedV1Status(
                        text=BankTransactionDeletedV1StatusText.Created, code=100
                    ),
                ),
                timestamp=timestamp,
            )
        ),
        BankTransactionStatusChangedV1Event(
            detail=BankTransactionStatusChangedV1Detail(
                content=BankTransactionStatusChangedV1Content(
                    transaction_id=_TRANSACTION_ID,
                    license=_LICENSE,
                    status=BankTransactionStatusChangedV1Status(
                        text=BankTransactionStatusChangedV1StatusText.Approved, code=200
                    ),
                    deletion_status=BankTransactionStatusChangedV1DeletionStatus(
                        new=BankTransactionStatusChangedV1DeletionState.Deleted,
                        old=BankTransactionStatusChangedV1DeletionState.Active,
                    ),
                ),
                timestamp=timestamp,
            )
        ),
    ]


def sample_event(detail_type: str, timestamp: datetime = SAMPLE_TIMESTAMP) -> TfsoEvent:
    """The sample event of ``detail_type`` (``KeyError`` if there is none)."""
    by_type = {event.detail_type: event for event in sample_events(timestamp)}
    return by_type[detail_type]
