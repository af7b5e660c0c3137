"""``bank.transaction:deleted@v1`` — a bank transaction was deleted (source
``com.24sevenoffice.banktransfer``, module ``bank``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from msgspec import Meta

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import EventContent, EventDetail, Int64, TfsoEvent

__all__ = [
    "BankTransactionDeletedV1Content",
    "BankTransactionDeletedV1Detail",
    "BankTransactionDeletedV1Event",
    "BankTransactionDeletedV1Status",
    "BankTransactionDeletedV1StatusText",
]


class BankTransactionDeletedV1StatusText(StrEnum):
    """A textual name of the status the transaction had when it was deleted."""

    Created = "created"
    Approved = "approved"
    InProgress = "inProgress"
    Stopped = "stopped"
    ConfirmedPaid = "confirmedPaid"
    Posted = "posted"


class BankTransactionDeletedV1Status(EventContent):
    """The status of the transaction after the event occurred."""

    text: Annotated[
        BankTransactionDeletedV1StatusText, Meta(description="A textual name of the status")
    ]
    code: Annotated[Int64, Meta(description="A numerical code of the status")]


class BankTransactionDeletedV1Content(EventContent):
    """Content of ``bank.transaction:deleted@v1``."""

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
        BankTransactionDeletedV1Status,
        Meta(description="The new status of the transaction after the event occurred"),
    ]


class BankTransactionDeletedV1Detail(EventDetail):
    """The detail of ``bank.transaction:deleted@v1``."""

    content: BankTransactionDeletedV1Content


class BankTransactionDeletedV1Event(TfsoEvent, tag=DetailTypes.BankTransactionDeletedV1.value):
    """``bank.transaction:deleted@v1``: a bank transaction was deleted."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTransactionDeletedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTransactionDeletedV1Detail
