"""The adaptive send rate alone, on a fake clock: a simulated client that sends as fast
as the limit lets it (at most ``FULL_SPEED`` entries/s, or the speed a test gives)
against a simulated service that throttles either by a rate quota (a token bucket, one
second's burst) or a fixed share of entries at random whatever the rate. Deterministic:
a seeded ``random.Random``. Then the limit inside ``deliver()``: sends queued for a slot
before it engaged wait their turn under it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from tests.eventbridge.conftest import bank_event
from tfso_events.publishing._batching import AdaptiveRate, Entry, Outcome, deliver

FULL_SPEED = 10_000.0  # entries/s the client sends when nothing limits it
TICK = 0.01  # seconds between sends (one send per tick)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Quota:
    """Throttles the entries beyond ``per_second`` (a token bucket, full at the start)."""

    per_second: float
    tokens: float = field(init=False)
    last: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.per_second

    def throttled(self, now: float, entries: int) -> int:
        self.tokens = min(self.per_second, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        accepted = min(entries, int(self.tokens))
        self.tokens -= accepted
        return entries - accepted


@dataclass
class RandomShare:
    """Throttles each entry with probability ``share``, whatever the rate."""

    share: float
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def throttled(self, now: float, entries: int) -> int:
        return sum(self.rng.random() < self.share for _ in range(entries))


@dataclass
class Run:
    """What a simulated run sent, per second of the run."""

    sent: list[int]
    accepted: list[int]
    throttled: list[int]
    cuts: int
    #: The limit just after each cut, in entries/s.
    limits: list[float] = field(default_factory=list)


@dataclass
class Switch:
    """Random throttling (``before``) until ``at`` seconds, then a quota (``after``)."""

    before: RandomShare
    after: Quota
    at: float

    def throttled(self, now: float, entries: int) -> int:
        if now < self.at:
            return self.before.throttled(now, entries)
        return self.after.throttled(now, entries)


def simulate(
    service: Quota | RandomShare | Switch, seconds: float, full_speed: float = FULL_SPEED
) -> Run:
    """Send for ``seconds`` at the limit ``AdaptiveRate`` sets, at most ``full_speed``
    entries/s (answered 2 ms later)."""
    clock = Clock()
    rate = AdaptiveRate(clock)
    buckets = int(seconds) + 1
    sent, accepted, throttled = [0] * buckets, [0] * buckets, [0] * buckets
    owed = 0.0
    limits: list[float] = []
    for tick in range(int(seconds / TICK)):
        clock.now = sent_at = tick * TICK
        owed += (rate.rate or full_speed) * TICK
        owed = min(owed, full_speed * TICK)  # the client cannot send faster than that
        entries = int(owed)
        if not entries:
            continue
        owed -= entries
        refused = service.throttled(sent_at, entries)
        clock.now = sent_at + 0.002
        cuts = rate.cuts
        rate.record(sent_at, entries, refused)
        if rate.cuts > cuts and rate.rate is not None:
            limits.append(rate.rate)
        second = int(sent_at)
        sent[second] += entries
        accepted[second] += entries - refused
        throttled[second] += refused
    return Run(sent, accepted, throttled, rate.cuts, limits)


@pytest.mark.parametrize("full_speed", [2600.0, FULL_SPEED, 50_000.0])
def test_under_a_quota_the_rate_settles_near_the_quota(full_speed: float) -> None:
    """Against a quota of 2,000 entries/s, from a client a little faster than the quota
    up to 25 times it: once the burst is spent (at 2,600/s, after 3.3 s), the client
    is accepted at about the quota, sends under 1.25 times it, and fewer than one entry
    is throttled per 20 accepted (the limit no longer sits above the quota: a retry
    storm sends 0.3-24 per accepted). The limit keeps being cut as it grows past the
    quota."""
    run = simulate(Quota(2000.0), 20.0, full_speed)
    later = slice(5, 20)
    accepted = sum(run.accepted[later]) / 15
    throttled = sum(run.throttled[later])
    assert 1800 <= accepted <= 2100, accepted
    assert throttled < sum(run.accepted[later]) / 20, (throttled, run.sent)
    assert max(run.sent[later]) < 2500, run.sent
    assert run.cuts >= 5  # found again and again as the limit grows past it


@pytest.mark.parametrize("full_speed", [2600.0, FULL_SPEED, 50_000.0])
def test_one_cut_from_any_speed_lands_under_the_quota(full_speed: float) -> None:
    """The first cut is measured from the rate entries were accepted at after the first
    throttle (the burst spent), not from the rate they were sent at: whatever the
    client's speed, it sets the limit to about 0.7 of the quota (never above it), so
    one cut is enough: the first 6 s throttle at most what 0.15 s at full speed sends."""
    run = simulate(Quota(2000.0), 6.0, full_speed)
    assert run.limits, run
    assert 0.6 * 2000 <= run.limits[0] <= 2000, run.limits
    assert sum(run.throttled) <= 0.15 * full_speed, (run.sent, run.throttled)


@pytest.mark.parametrize("full_speed", [600.0, FULL_SPEED])
def test_random_throttling_does_not_starve_the_client(full_speed: float) -> None:
    """With 30% of entries throttled whatever the rate, the client keeps sending at
    (nearly) full speed: cutting cannot lower that share, so the first cut is undone
    and the limit is not cut again; throughput does not decay. A slow client's small
    windows vary by chance: a share a few points over 30% in 50 entries is noise, not
    a cue to cut."""
    run = simulate(RandomShare(0.3), 20.0, full_speed)
    assert run.cuts <= 3, run.cuts
    for second, sent in enumerate(run.sent[1:20], start=1):
        assert sent > 0.9 * full_speed, (second, run.sent)
    share = sum(run.throttled) / sum(run.sent)
    assert 0.28 < share < 0.32  # the service did throttle as configured


def test_a_service_that_throttles_everything_is_not_waited_on_at_the_floor() -> None:
    """With every entry throttled nothing is accepted, so a cut is measured from the
    sent rate (as botocore's is); the cut does not lower the share, so it is undone:
    the client does not sit at ``MIN_RATE`` (it would leave every entry waiting out
    the retry deadline untried) and retries on its backoff alone."""
    run = simulate(RandomShare(1.0), 10.0)
    assert run.cuts <= 2, run.cuts
    assert min(run.sent[1:10]) > 0.9 * FULL_SPEED, run.sent


def test_a_quota_after_random_throttling_is_still_found() -> None:
    """What the rate learned about random throttling is forgotten when the limit is
    lifted: 30% random throttling for 12 s, then a quota of 2,000 entries/s, and from
    the third second of the quota on the client sends under 1.5 times the quota."""
    run = simulate(Switch(RandomShare(0.3), Quota(2000.0), at=12.0), 30.0)
    assert min(run.sent[1:12]) > 0.9 * FULL_SPEED, run.sent  # not starved before
    later = slice(15, 30)
    assert max(run.sent[later]) < 3000, run.sent
    assert sum(run.accepted[later]) >= 0.9 * 2000 * 15


def test_no_throttling_sets_no_limit() -> None:
    """A service that never throttles never engages the rate: no limit, no cut."""
    run = simulate(RandomShare(0.0), 5.0)
    assert run.cuts == 0
    assert sum(run.sent[:5]) == 5 * FULL_SPEED


# -- the limit inside deliver() ------------------------------------------------------------


class CountingRate(AdaptiveRate):
    """An ``AdaptiveRate`` that counts the sends that waited their turn under a limit."""

    limited = 0

    async def acquire(self, entries: int, give_up_at: Callable[[], float]) -> bool:
        if self.rate is not None:
            self.limited += 1
        return await super().acquire(entries, give_up_at)


async def test_sends_queued_before_the_limit_engaged_wait_their_turn_under_it() -> None:
    """Every batch passes an unlimited rate at once and queues for a slot; when the
    limit engages while they wait (the first answers were throttled), each queued batch
    goes back to wait its turn under it instead of going out at full speed (the first
    second's storm of a large ``publish_many``)."""
    rate = CountingRate()
    semaphore = asyncio.Semaphore(1)
    held = asyncio.Event()
    first = True

    async def send(batch: Sequence[Entry[None]]) -> Sequence[Outcome]:
        nonlocal first
        if first:  # the first call is answered only once the limit has engaged
            first = False
            await held.wait()
        return [f"id-{entry.index}" for entry in batch]

    events = [Entry(i, bank_event(i), None, 1) for i in range(200)]
    batches = [events[i : i + 10] for i in range(0, 200, 10)]
    task = asyncio.create_task(deliver(batches, send, semaphore=semaphore, rate=rate))
    for _ in range(25):  # let every batch pass the (unlimited) rate and queue for the slot
        await asyncio.sleep(0)
    assert semaphore.locked()
    assert rate.rate is None
    # Answers to sends of the last 0.2 s: 20 entries every 10 ms, 5 of them throttled.
    now = time.monotonic()
    for k in range(20):
        rate.record(now - 0.2 + k * 0.01, 20, 5)
    assert rate.rate is not None  # the limit engaged (at 0.7 of 1,500 entries/s)
    assert rate.limited == 0
    held.set()
    outcomes = await task
    assert len(outcomes) == 200
    assert rate.limited == 19, rate.limited  # every queued batch but the one in flight
