"""``bank.transaction:statuschanged@v1`` — a bank transaction changed status (source
``com.24sevenoffice.banktransfer``, module ``bank``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from msgspec import Meta

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import EventContent, EventDetail, Int64, TfsoEvent

__all__ = [
    "BankTransactionStatusChangedV1Content",
    "BankTransactionStatusChangedV1DeletionState",
    "BankTransactionStatusChangedV1DeletionStatus",
    "BankTransactionStatusChangedV1Detail",
    "BankTransactionStatusChangedV1Event",
    "BankTransactionStatusChangedV1Status",
    "BankTransactionStatusChangedV1StatusText",
]


class BankTransactionStatusChangedV1StatusText(StrEnum):
    """A textual name of the new status. ``created`` is not a status a transaction
    can change *to*, so it is not a member."""

    Approved = "approved"
    InProgress = "inProgress"
    Stopped = "stopped"
    ConfirmedPaid = "confirmedPaid"
    Posted = "posted"


class BankTransactionStatusChangedV1DeletionState(StrEnum):
    """A delete state of a transaction."""

    Deleted = "deleted"
    Active = "active"


class BankTransactionStatusChangedV1Status(EventContent):
    """The new status of the transaction after the event occurred."""

    text: Annotated[
        BankTransactionStatusChangedV1StatusText, Meta(description="A textual name of the status")
    ]
    code: Annotated[Int64, Meta(description="A numerical code of the status")]


class BankTransactionStatusChangedV1DeletionStatus(EventContent):
    """The deletion status of the transaction before and after the event occurred."""

    new: Annotated[
        BankTransactionStatusChangedV1DeletionState,
        Meta(description="The new delete state of the transaction after the event occurred"),
    ]
    old: Annotated[
        BankTransactionStatusChangedV1DeletionState,
        Meta(description="The old delete state of the transaction before the event occurred"),
    ]


class BankTransactionStatusChangedV1Content(EventContent):
    """Content of ``bank.transaction:statuschanged@v1``."""

    transaction_id: Annotated[
        str, Meta(description="the id of the transaction. Found in id.value in a transaction")
    ]
    license: Annotated[
        str,
        Meta(
            description="The license of the user performing the action. "
            "Same as 24SevenOffice's x-tfso-license request header"
        ),
    ]
    status: Annotated[
        BankTransactionStatusChangedV1Status,
        Meta(description="The new status of the transaction after the event occurred"),
    ]
    deletion_status: Annotated[
        BankTransactionStatusChangedV1DeletionStatus,
        Meta(
            description="The deletion status of the transaction before and after the event occurred"
        ),
    ]


class BankTransactionStatusChangedV1Detail(EventDetail):
    """The detail of ``bank.transaction:statuschanged@v1``."""

    content: BankTransactionStatusChangedV1Content


class BankTransactionStatusChangedV1Event(
    TfsoEvent, tag=DetailTypes.BankTransactionStatusChangedV1.value
):
    """``bank.transaction:statuschanged@v1``: a bank transaction changed status."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTransactionStatusChangedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTransactionStatusChangedV1Detail
