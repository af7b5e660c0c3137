"""``bank.transaction:created@v1`` — a bank transaction was created (source
``com.24sevenoffice.banktransfer``, module ``bank``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from msgspec import Meta

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import EventContent, EventDetail, Int64, TfsoEvent

__all__ = [
    "BankTransactionCreatedV1Content",
    "BankTransactionCreatedV1Detail",
    "BankTransactionCreatedV1Event",
    "BankTransactionCreatedV1Status",
    "BankTransactionCreatedV1StatusText",
]


class BankTransactionCreatedV1StatusText(StrEnum):
    """A textual name of the status; a created transaction is always ``created``."""

    Created = "created"


class BankTransactionCreatedV1Status(EventContent):
    """The new status of the transaction after the event occurred."""

    text: Annotated[
        BankTransactionCreatedV1StatusText, Meta(description="A textual name of the status")
    ]
    code: Annotated[Int64, Meta(description="A numerical code of the status")]


class BankTransactionCreatedV1Content(EventContent):
    """Content of ``bank.transaction:created@v1``."""

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
        BankTransactionCreatedV1Status,
        Meta(description="The new status of the transaction after the event occurred"),
    ]
    source_uris: Annotated[
        list[str], Meta(description="URIs of the records the transaction was created from")
    ]


class BankTransactionCreatedV1Detail(EventDetail):
    """The detail of ``bank.transaction:created@v1``."""

    content: BankTransactionCreatedV1Content


class BankTransactionCreatedV1Event(TfsoEvent, tag=DetailTypes.BankTransactionCreatedV1.value):
    """``bank.transaction:created@v1``: a bank transaction was created."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTransactionCreatedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTransactionCreatedV1Detail
