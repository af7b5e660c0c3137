"""`tfso-events publish`'s signal handling in-process (SIGINT sent to this process,
caught by the loop's handler): what each Ctrl-C does, with no timing race against a
child process."""

from __future__ import annotations

import asyncio
import os
import signal

from tfso_events.cli._publish import _StopOnSignals


async def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    await asyncio.sleep(0.05)  # the loop runs the handler


async def test_first_signal_waits_second_cancels_later_ones_are_ignored() -> None:
    """With answers in flight, the first SIGINT only asks the work to stop (it is not
    cancelled before the grace), the second cancels it, a third changes nothing, and
    after the block more signals cannot raise KeyboardInterrupt into the exit."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        with _StopOnSignals(grace=30) as stop:
            stop.in_flight = lambda: 3
            work = asyncio.ensure_future(asyncio.sleep(60))
            with stop.cancelling(work):
                await _deliver(signal.SIGINT)
                assert stop.signalled
                assert not work.done()
                await _deliver(signal.SIGINT)
                assert work.cancelled()
                await _deliver(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        await _deliver(signal.SIGINT)  # ignored: no KeyboardInterrupt
    finally:
        signal.signal(signal.SIGINT, previous)


async def test_nothing_in_flight_cancels_at_once() -> None:
    """With nothing waiting for an answer (reading, or between batches), the first
    signal cancels the work at once: there is nothing to wait for."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with _StopOnSignals(grace=30) as stop:
            work = asyncio.ensure_future(asyncio.sleep(60))
            with stop.cancelling(work):
                await _deliver(signal.SIGTERM)
                assert work.cancelled()
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_the_grace_ends_the_wait() -> None:
    """If the answers do not come within the grace, the work is cancelled then."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        with _StopOnSignals(grace=0.2) as stop:
            stop.in_flight = lambda: 1
            work = asyncio.ensure_future(asyncio.sleep(60))
            with stop.cancelling(work):
                await _deliver(signal.SIGINT)
                assert not work.done()
                await asyncio.sleep(0.4)
                assert work.cancelled()
    finally:
        signal.signal(signal.SIGINT, previous)
