"""The events the publisher benchmarks send: distinct, valid, ~250 bytes of detail."""

from __future__ import annotations

from datetime import UTC, datetime

from tfso_events import TfsoEvent
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)


def make_events(n: int) -> list[TfsoEvent]:
    """``n`` distinct valid ``bank.test:created@v1`` events (~250 bytes of detail)."""
    when = datetime(2023, 7, 4, 8, 5, 58, tzinfo=UTC)
    return [
        BankTestCreatedV1Event(
            detail=BankTestCreatedV1Detail(
                content=BankTestCreatedV1Content(
                    first_name=f"Karl{i}",
                    last_name="Marx",
                    registration_date=when,
                    favorite_color=BankTestCreatedV1FavoriteColor.Red,
                    age=30,
                )
            )
        )
        for i in range(n)
    ]
