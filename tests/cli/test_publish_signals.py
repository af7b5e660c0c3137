"""`tfso-events publish`'s signal handling in-process (signals sent to this process,
caught by the loop's handler): what each Ctrl-C does, with no timing race against a
child process."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from tfso_events.cli._publish import _StopOnSignals


@pytest.fixture(autouse=True)
def _restore_signals() -> Iterator[None]:
    """This process's SIGINT and SIGTERM handlers, as they were, after each test."""
    previous = {signum: signal.getsignal(signum) for signum in _StopOnSignals.signals}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


async def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    await asyncio.sleep(0.05)  # the loop runs the handler


def _work() -> asyncio.Future[None]:
    return asyncio.ensure_future(asyncio.sleep(60))


async def test_first_signal_waits_second_cancels_later_ones_are_ignored() -> None:
    """With answers in flight, the first SIGINT only asks the work to stop (it is not
    cancelled before the grace), the second cancels it, a third changes nothing, and
    after the block more signals cannot raise KeyboardInterrupt into the exit."""
    with _StopOnSignals(grace=30) as stop:
        stop.in_flight = lambda: 3
        work = _work()
        with stop.cancelling(work):
            await _deliver(signal.SIGINT)
            assert stop.signalled
            assert not work.done()
            await _deliver(signal.SIGINT)
            assert work.cancelled()
            await _deliver(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    await _deliver(signal.SIGINT)  # ignored: no KeyboardInterrupt


async def test_nothing_in_flight_cancels_at_once() -> None:
    """With nothing waiting for an answer (reading, or between batches), the first
    signal cancels the work at once: there is nothing to wait for."""
    with _StopOnSignals(grace=30) as stop:
        work = _work()
        with stop.cancelling(work):
            await _deliver(signal.SIGTERM)
            assert work.cancelled()


async def test_the_grace_ends_the_wait() -> None:
    """If the answers do not come within the grace, the work is cancelled then."""
    with _StopOnSignals(grace=0.2) as stop:
        stop.in_flight = lambda: 1
        work = _work()
        with stop.cancelling(work):
            await _deliver(signal.SIGINT)
            assert not work.done()
            await asyncio.sleep(0.4)
            assert work.cancelled()
