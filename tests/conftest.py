"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tfso_events.local import LocalHub


@pytest.fixture
async def hub() -> AsyncIterator[LocalHub]:
    """A started :class:`LocalHub` on a random loopback port, stopped after the test.

    Ready client ``local-client``/``local-secret`` with every module scope; faults off and
    seeded (``seed=0``) so fault draws repeat; tokens live the default 24 h.
    """
    from tfso_events.local import LocalHub  # imported here: collecting tests stays cheap

    async with LocalHub(seed=0) as started:
        yield started
