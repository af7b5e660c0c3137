"""``bank.transaction:created@v1`` — a bank transaction was created (source
``com.24sevenoffice.banktransfer``, module ``bank``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import EventContent, EventDetail, TfsoEvent

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
    """The new status of the transaction after the event occurred.

    Attributes:
        text: A textual name of the status.
        code: A numerical code of the status.
    """

    text: BankTransactionCreatedV1StatusText
    code: int


class BankTransactionCreatedV1Content(EventContent):
    """Content of ``bank.transaction:created@v1``.

    Attributes:
        transaction_id: The id of the transaction (``id.value`` in a transaction).
        license: The license of the user performing the action; the same as
            24SevenOffice's ``x-tfso-license`` request header.
        status: The new status of the transaction after the event occurred.
        source_uris: URIs of the records the transaction came from.
    """

    transaction_id: str
    license: str
    status: BankTransactionCreatedV1Status
    source_uris: list[str]


class BankTransactionCreatedV1Detail(EventDetail):
    """The detail of ``bank.transaction:created@v1``."""

    content: BankTransactionCreatedV1Content


class BankTransactionCreatedV1Event(TfsoEvent, tag=DetailTypes.BankTransactionCreatedV1.value):
    """``bank.transaction:created@v1``: a bank transaction was created."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTransactionCreatedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTransactionCreatedV1Detail
