"""``bank.test:created@v1`` — a test event of the bank module (source
``com.24sevenoffice.banktransfer``).

    >>> from datetime import UTC, datetime
    >>> from tfso_events.models.bank_test_created_v1 import (
    ...     BankTestCreatedV1Content, BankTestCreatedV1Detail, BankTestCreatedV1Event,
    ...     BankTestCreatedV1FavoriteColor,
    ... )
    >>> event = BankTestCreatedV1Event(detail=BankTestCreatedV1Detail(
    ...     content=BankTestCreatedV1Content(
    ...         first_name="Karl", last_name="Marx",
    ...         registration_date=datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC),
    ...         favorite_color=BankTestCreatedV1FavoriteColor.Red,
    ...     ),
    ...     timestamp=datetime(2023, 7, 4, 8, 6, tzinfo=UTC),
    ... ))
    >>> event.detail_json()[:80]
    b'{"content":{"firstName":"Karl","lastName":"Marx","favoriteColor":"Red","registra'
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import AwareDatetime, EventContent, EventDetail, TfsoEvent

__all__ = [
    "BankTestCreatedV1Address",
    "BankTestCreatedV1Content",
    "BankTestCreatedV1Detail",
    "BankTestCreatedV1Event",
    "BankTestCreatedV1FavoriteColor",
]


class BankTestCreatedV1FavoriteColor(StrEnum):
    """An enum representing a color."""

    Red = "Red"
    Green = "Green"
    Blue = "Blue"


class BankTestCreatedV1Address(EventContent):
    """Optional address details.

    Attributes:
        street: Street address.
        city: City.
    """

    street: str
    city: str


class BankTestCreatedV1Content(EventContent):
    """User details.

    Attributes:
        first_name: First name of the user.
        last_name: Last name of the user.
        favorite_color: An enum representing a color.
        registration_date: Registration date of the user (timezone-aware).
        age: Age of the user, which they can choose to leave out.
        account_statement: How much moneys they have, in decimal format (a JSON number).
        address: Optional address details.
    """

    first_name: str
    last_name: str
    favorite_color: BankTestCreatedV1FavoriteColor
    registration_date: AwareDatetime
    age: float | None = None
    account_statement: Decimal | None = None
    address: BankTestCreatedV1Address | None = None


class BankTestCreatedV1Detail(EventDetail):
    """The detail of ``bank.test:created@v1``."""

    content: BankTestCreatedV1Content


class BankTestCreatedV1Event(TfsoEvent, tag=DetailTypes.BankTestCreatedV1.value):
    """``bank.test:created@v1``: a test user was created."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTestCreatedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTestCreatedV1Detail
