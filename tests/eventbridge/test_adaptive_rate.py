"""The adaptive send rate alone, on a fake clock: a simulated client that sends as fast
as the limit lets it (at most ``FULL_SPEED`` entries/s) against a simulated service that
throttles either by a rate quota (a token bucket, one second's burst) or a fixed share
of entries at random whatever the rate. Deterministic: a seeded ``random.Random``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tfso_events.publishing._batching import AdaptiveRate

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


def simulate(service: Quota | RandomShare | Switch, seconds: float) -> Run:
    """Send for ``seconds`` at the limit ``AdaptiveRate`` sets (answered 2 ms later)."""
    clock = Clock()
    rate = AdaptiveRate(clock)
    buckets = int(seconds) + 1
    sent, accepted, throttled = [0] * buckets, [0] * buckets, [0] * buckets
    owed = 0.0
    for tick in range(int(seconds / TICK)):
        clock.now = sent_at = tick * TICK
        owed += (rate.rate or FULL_SPEED) * TICK
        owed = min(owed, FULL_SPEED * TICK)  # the client cannot send faster than that
        entries = int(owed)
        if not entries:
            continue
        owed -= entries
        refused = service.throttled(sent_at, entries)
        clock.now = sent_at + 0.002
        rate.record(sent_at, entries, refused)
        second = int(sent_at)
        sent[second] += entries
        accepted[second] += entries - refused
        throttled[second] += refused
    return Run(sent, accepted, throttled, rate.cuts)


def test_under_a_quota_the_rate_settles_near_the_quota() -> None:
    """Against a quota of 2,000 entries/s, after the first seconds (the burst and the
    first cut) the client is accepted at about the quota and sends at most ~1.5 times it:
    fewer than one throttled entry per two accepted, where full speed sends four per
    accepted. The limit keeps being cut as it grows past the quota."""
    run = simulate(Quota(2000.0), 20.0)
    later = slice(3, 20)
    accepted = sum(run.accepted[later]) / 17
    throttled = sum(run.throttled[later])
    assert 1800 <= accepted <= 2000, accepted
    assert throttled < sum(run.accepted[later]) / 2, (throttled, run.sent)
    assert max(run.sent[later]) < 3000, run.sent
    assert run.cuts >= 5  # found again and again as the limit grows past it


def test_random_throttling_does_not_starve_the_client() -> None:
    """With 30% of entries throttled whatever the rate, the client keeps sending at
    (nearly) full speed: cutting cannot lower that share, so after the first cut the
    limit is not cut again and grows away; throughput does not decay."""
    run = simulate(RandomShare(0.3), 20.0)
    assert run.cuts <= 3, run.cuts
    for second, sent in enumerate(run.sent[1:20], start=1):
        assert sent > 0.9 * FULL_SPEED, (second, run.sent)
    share = sum(run.throttled) / sum(run.sent)
    assert 0.28 < share < 0.32  # the service did throttle as configured


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
