"""``bank.transaction:statuschanged@v1`` — a bank transaction changed status (source
``com.24sevenoffice.banktransfer``, module ``bank``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import EventContent, EventDetail, TfsoEvent

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
    """The new status of the transaction after the event occurred.

    Attributes:
        text: A textual name of the status.
        code: A numerical code of the status.
    """

    text: BankTransactionStatusChangedV1StatusText
    code: int


class BankTransactionStatusChangedV1DeletionStatus(EventContent):
    """The deletion status of the transaction before and after the event occurred.

    Attributes:
        new: The new delete state of the transaction after the event occurred.
        old: The old delete state of the transaction before the event occurred.
    """

    new: BankTransactionStatusChangedV1DeletionState
    old: BankTransactionStatusChangedV1DeletionState


class BankTransactionStatusChangedV1Content(EventContent):
    """Content of ``bank.transaction:statuschanged@v1``.

    Attributes:
        transaction_id: The id of the transaction (``id.value`` in a transaction).
        license: The license of the user performing the action; the same as
            24SevenOffice's ``x-tfso-license`` request header.
        status: The new status of the transaction after the event occurred.
        deletion_status: The deletion status before and after the event occurred.
    """

    transaction_id: str
    license: str
    status: BankTransactionStatusChangedV1Status
    deletion_status: BankTransactionStatusChangedV1DeletionStatus


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
