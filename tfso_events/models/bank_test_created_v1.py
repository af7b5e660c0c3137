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
from typing import Annotated, ClassVar

from msgspec import Meta

from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.models._base import (
    AwareDatetime,
    EventContent,
    EventDetail,
    TfsoEvent,
)

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
    """Optional address details."""

    street: Annotated[str, Meta(description="Street address")]
    city: Annotated[str, Meta(description="City")]


class BankTestCreatedV1Content(EventContent):
    """User details."""

    first_name: Annotated[str, Meta(description="First name of the user")]
    last_name: Annotated[str, Meta(description="Last name of the user")]
    favorite_color: Annotated[
        BankTestCreatedV1FavoriteColor, Meta(description="An enum representing a color")
    ]
    registration_date: Annotated[AwareDatetime, Meta(description="Registration date of the user")]
    age: Annotated[
        float | None, Meta(description="Age of the user, which they can choose to leave out")
    ] = None
    account_statement: Annotated[
        Decimal | None,
        Meta(description="How much moneys they have, since it is decimal format"),
    ] = None
    address: Annotated[
        BankTestCreatedV1Address | None, Meta(description="Optional address details")
    ] = None


class BankTestCreatedV1Detail(EventDetail):
    """The detail of ``bank.test:created@v1``."""

    content: BankTestCreatedV1Content


class BankTestCreatedV1Event(TfsoEvent, tag=DetailTypes.BankTestCreatedV1.value):
    """``bank.test:created@v1``: a test user was created."""

    source: ClassVar[str] = TfsoSources.BankTransfer.value
    detail_type: ClassVar[str] = DetailTypes.BankTestCreatedV1.value
    module: ClassVar[str] = TfsoModules.Bank.value

    detail: BankTestCreatedV1Detail
