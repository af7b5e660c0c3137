"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """Suite-wide: every log record of the run (the ``tfso_events`` loggers at DEBUG) is
    checked for a client secret or an access token; any leak fails the run at the end,
    naming the test and logger (tests/reliability/leaks.py)."""
    from tests.reliability.leaks import watch_logs

    with watch_logs() as watch:
        yield
    assert not watch.leaks, watch.report()
