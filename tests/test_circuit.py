"""The client's circuit on its own (a clock the test moves): when it goes down, that
one probe at a time is granted, and that the log gets one line per change of state."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tfso_events.publishing._circuit import Circuit, Turn


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tfso_events.publishing" and r.levelno >= logging.WARNING
    ]


def test_down_after_a_streak_still_down_at_a_low_rate_and_back_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five failed sends in a row bring it down (one WARNING); failed probes log
    nothing but a "still not answering" line once per REPORT_EVERY (60 s), with the
    events waiting; an answer brings it up with one line saying how long it was down."""
    caplog.set_level(logging.DEBUG, logger="tfso_events")
    clock = _Clock()
    circuit = Circuit("the hub", clock)
    for _ in range(4):
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    assert circuit.up
    circuit.answered(Turn.SEND)  # an answer in between: the streak starts over
    for _ in range(4):
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    assert circuit.up
    assert _lines(caplog) == []
    circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    assert not circuit.up
    (down,) = _lines(caplog)
    assert down.startswith("the hub is not answering (5 sends in a row failed; the last: ")
    for _ in range(100):  # a probe every 0.5 s for 50 s, and sends already out
        clock.now += 0.5
        circuit.failed(Turn.PROBE, "connection_error", "connection_error: refused")
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    assert len(_lines(caplog)) == 1
    clock.now += 11
    circuit.failed(Turn.PROBE, "http_503", "http_503: try later")
    still = _lines(caplog)[1]
    assert still == (
        "the hub still not answering after 61 s, 0 events waiting (the last failure: "
        "http_503: try later)"
    )
    clock.now += 3
    circuit.answered(Turn.PROBE)
    assert circuit.up
    assert _lines(caplog)[2] == (
        "the hub is answering again after 64.0 s down; sending the 0 events waiting"
    )
    assert len(_lines(caplog)) == 3


async def test_one_probe_at_a_time_while_down() -> None:
    """While down, admit() grants one probe; the others wait until it is answered and
    then all go; a failed probe lets the next waiter probe after the delay; a waiter
    whose budget runs out gets None."""
    circuit = Circuit("the hub")
    for _ in range(Circuit.DOWN_AFTER):
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    loop = asyncio.get_running_loop()
    far = loop.time() + 30
    assert await circuit.admit(1, lambda: far) is Turn.PROBE  # (after the first delay)
    waiters = [asyncio.ensure_future(circuit.admit(10, lambda: far)) for _ in range(5)]
    soon = loop.time() + 0.3
    short = asyncio.ensure_future(circuit.admit(1, lambda: soon))
    await asyncio.sleep(0.1)
    assert circuit.waiting == 51
    assert not any(w.done() for w in waiters)
    # The probe failed: the next one goes later.
    circuit.failed(Turn.PROBE, "connection_error", "connection_error: refused")
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    assert [w.result() for w in done] == [Turn.PROBE]
    assert await short is None
    circuit.answered(Turn.PROBE)
    rest = await asyncio.gather(*(w for w in waiters if w not in done))
    assert rest == [Turn.SEND] * 4
    assert circuit.up
    assert circuit.waiting == 0


async def test_a_probe_not_sent_lets_another_probe() -> None:
    """A probe that does not go (its caller gave up or was cancelled) is released: the
    next waiter becomes the probe without waiting for another delay."""
    circuit = Circuit("the hub")
    for _ in range(Circuit.DOWN_AFTER):
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    far = asyncio.get_running_loop().time() + 30
    assert await circuit.admit(1, lambda: far) is Turn.PROBE
    waiter = asyncio.ensure_future(circuit.admit(1, lambda: far))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    circuit.release(Turn.PROBE)
    assert await asyncio.wait_for(waiter, 1) is Turn.PROBE


async def test_waiters_with_a_count_of_tries_give_up_on_failed_probes() -> None:
    """Each failed probe counts as one try of every waiting entry: a waiter with one
    try left gets None when the probe out fails, one with two tries left does not."""
    circuit = Circuit("the hub")
    for _ in range(Circuit.DOWN_AFTER):
        circuit.failed(Turn.SEND, "connection_error", "connection_error: refused")
    far = asyncio.get_running_loop().time() + 30
    assert await circuit.admit(1, lambda: far) is Turn.PROBE
    last = asyncio.ensure_future(circuit.admit(1, lambda: far, tries_left=1))
    patient = asyncio.ensure_future(circuit.admit(1, lambda: far, tries_left=2))
    await asyncio.sleep(0.01)
    circuit.failed(Turn.PROBE, "connection_error", "connection_error: refused")
    assert await asyncio.wait_for(last, 1) is None
    assert await asyncio.wait_for(patient, 2) is Turn.PROBE  # the next probe is its own
