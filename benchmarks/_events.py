"""The events every publisher benchmark sends: realistic, distinct and valid.

A round-robin mix of all four detail-types of the catalog (the ``bank.test`` event with
its Decimal, address and two date-times included), each with realistic ``metadata``:
four keys, one of them a nested object (correlation id, tenant, user, trace), as
producers really write it. ``make_events(n, metadata=False)`` gives the same events with
``metadata={}``, the comparison row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from tfso_events import TfsoEvent
from tfso_events.examples import sample_events

_WHEN = datetime(2023, 7, 4, 8, 6, tzinfo=UTC)


def realistic_metadata(i: int) -> dict[str, Any]:
    """Four keys, one nested: what a producer puts in ``metadata``."""
    return {
        "correlationId": f"3f1c2a9e-8d4b-4c55-9a0e-{i:012d}",
        "tenant": {"id": 693081080913543, "license": "1198", "region": "eu-west-1"},
        "userId": f"auth0|{i:08d}",
        "traceId": f"1-5759e988-bd862e3fe1be46a9{i:08x}",
    }


def iter_events(n: int, *, metadata: bool = True) -> Iterator[TfsoEvent]:
    """Yield ``n`` distinct valid events, the four detail-types in turn (a generator:
    nothing is held but the event being built)."""
    templates = sample_events()
    for i in range(n):
        template = templates[i % len(templates)]
        content = template.detail.content
        if hasattr(content, "first_name"):
            content = msgspec.structs.replace(content, first_name=f"Karl{i}")
        else:
            content = msgspec.structs.replace(content, transaction_id=f"tx-{i:012d}")
        detail = type(template.detail)(
            content=content,
            timestamp=_WHEN + timedelta(milliseconds=i),
            metadata=realistic_metadata(i) if metadata else {},
        )
        yield type(template)(detail=detail)


def make_events(n: int, *, metadata: bool = True) -> list[TfsoEvent]:
    """``n`` distinct valid events, the four detail-types in turn, with realistic
    metadata (or ``{}`` with ``metadata=False``)."""
    return list(iter_events(n, metadata=metadata))


__all__ = ["iter_events", "make_events", "realistic_metadata"]
