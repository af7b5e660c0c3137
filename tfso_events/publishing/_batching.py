"""The delivery core shared by both publishers: the retry policy and the retry loop.

A transport (EventBridge ``PutEvents``, the HTTPS events API) only knows how to send one
batch of prepared entries and say, per entry, what happened (its event id when it was
accepted, a :class:`Retry` or a :class:`Rejected`). Everything else lives here once: a
fixed pool of senders sends the batches concurrently up to a limit, only entries that
failed retryably are resent, with exponential backoff and full jitter (or the server's
``Retry-After``), retrying is bounded by a time budget (``RetryPolicy.deadline``) and
optionally a count, a client that is throttled slows its own send rate
(:class:`AdaptiveRate`), and every entry ends as a
:class:`~tfso_events.results.PublishResult` or a :class:`~tfso_events.results.PublishFailure`.
Nothing is dropped: an entry is accepted once and never sent again, or it is reported.

Two generic helpers shape the batches a transport sends: :func:`chunk` splits a list of
entries by count and summed size (``publish_many``), and :class:`Coalescer` gathers the
entries of concurrent single publishes into shared batches (``publish()``).

Pure Python, no I/O imports: importing it costs nothing at cold start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import itertools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from tfso_events._clip import clip
from tfso_events.errors import DeliveryError, TfsoEventsError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._circuit import Circuit, Turn
from tfso_events.results import BatchResult, OnResult, PublishFailure, PublishResult

log = logging.getLogger("tfso_events.publishing")

__all__ = [
    "DEFAULT_RETRY_DEADLINE",
    "UNANSWERED",
    "AdaptiveRate",
    "BatchResult",
    "Coalescer",
    "Entry",
    "Outcome",
    "PublishFailure",
    "PublishResult",
    "Rejected",
    "Retry",
    "RetryPolicy",
    "RetryableCallError",
    "chunk",
    "deliver",
    "settle_all",
]

P = TypeVar("P")


#: Default ``RetryPolicy.deadline``: how many seconds a publish keeps retrying without
#: progress before it reports the events still waiting as failed.
DEFAULT_RETRY_DEADLINE = 60.0

#: The ``RetryableCallError`` code of a try that got no answer at all (a refused or
#: dropped connection, a timeout); both transports use it.
UNANSWERED = "connection_error"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How patiently a failed send is retried: a time budget, optionally a count.

    Throttling (``ThrottlingException``, ``429``), 5xx answers and lost connections are
    retried; a permanent error (a refused event, bad credentials) fails at once.

    * ``deadline`` (default 60 s) — the time budget, measured by the client's progress:
      once the client has had no entry accepted (by any of its publishes) for
      ``deadline`` seconds, counted at the earliest from when the events were handed
      over, every entry still waiting, sent or not, is reported failed. So a publish
      that is slow but moving, a large one under a quota, or a backlog of ``publish()``
      calls queued behind a slow but healthy target, is not cut short; and during an
      outage every pending publish gives up on time. An entry whose own tries keep
      failing without throttling (no answer, 5xx, ``InternalFailure``) while others
      get through is reported failed once it has failed for ``deadline`` seconds. A
      publish gives up once the deadline has passed (plus the call in flight then): an
      entry's backoff that reaches past the deadline is slept while others may still
      get through.
      ``None``: no time budget (then ``max_attempts`` must be set; while the target is
      down, each failed probe of the client's circuit counts as one try of every
      waiting entry).
    * ``max_attempts`` (default ``None``: no count) — every try of one entry, the first
      included; ``1`` never retries.
    * Delays grow as ``base_delay * 2**(n-1)`` capped at ``max_delay`` with full jitter
      (a uniform draw in ``[0, delay]``), except that a server's ``Retry-After`` is
      honoured up to ``max_retry_after`` seconds.
    * ``adaptive`` (default ``True``) — once the service throttles, the client limits its
      own send rate (entries per second, shared by everything it sends), cutting the
      rate on each throttled answer and raising it again while sends succeed, as
      botocore's ``adaptive`` retry mode does; a throttled account then receives fewer
      requests instead of a storm of retries. ``False``: retry at full speed.
    * ``unanswered_deadline`` (default ``None``) — a shorter budget for a service that
      never answers: when every try of a publish so far failed without an answer (a
      refused or dropped connection, a timeout) for this many seconds since it started,
      the entries still waiting are reported failed. A throttling or 5xx answer means the
      service is there, and then ``deadline`` alone applies. For a quick check that an
      endpoint is reachable (``tfso-events publish`` probes its first record so).

    >>> RetryPolicy(max_attempts=1)  # never retry
    RetryPolicy(max_attempts=1, base_delay=0.05, max_delay=2.0, max_retry_after=30.0, \
deadline=60.0, adaptive=True, unanswered_deadline=None)
    """

    max_attempts: int | None = None
    base_delay: float = 0.05
    max_delay: float = 2.0
    max_retry_after: float = 30.0
    deadline: float | None = DEFAULT_RETRY_DEADLINE
    adaptive: bool = True
    unanswered_deadline: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError("deadline must be a positive number of seconds, or None")
        if self.unanswered_deadline is not None and not self.unanswered_deadline > 0:
            raise ValueError("unanswered_deadline must be a positive number of seconds, or None")
        if self.deadline is None and self.max_attempts is None:
            raise ValueError("set a deadline or max_attempts (or both): retries must end")

    def may_retry(self, attempts: int) -> bool:
        """Whether an entry tried ``attempts`` times may be tried again (by count)."""
        return self.max_attempts is None or attempts < self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempt``-th failed try."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return random.uniform(0.0, ceiling)


DEFAULT_RETRY = RetryPolicy()

# -- the transport interface (private to the package) -----------------------------------


@dataclass(slots=True, eq=False)
class Entry(Generic[P]):
    """One event on its way: its input ``index``, the ``event``, the transport's prepared
    ``payload`` (a PutEvents entry, an API body), its wire ``size``, its ``attempts``,
    since when its tries have been failing, and its OpenTelemetry ``create`` ``span``
    (``tfso_events.telemetry``; ``None`` without)."""

    index: int
    event: TfsoEvent
    payload: P
    size: int = 0
    attempts: int = 0
    #: ``clock()`` of its first failed try that was not throttling (no answer, 5xx).
    failing_since: float | None = None
    span: Any = None


@dataclass(frozen=True, slots=True)
class Retry:
    """The entry failed in a way worth retrying (throttled, internal failure, 5xx);
    ``throttled`` when the service said "slow down" (it slows the adaptive rate)."""

    code: str
    message: str
    retry_after: float | None = None
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """The entry failed for good: retrying cannot help."""

    error: Exception
    code: str | None = None


#: What a transport answers for each entry it sent: the event id (a ``str``) when it was
#: accepted, else a :class:`Retry` or a :class:`Rejected`. An accepted entry's answer is
#: its bare id so that its result, a :class:`~tfso_events.results.PublishResult`, is the
#: one object built for it (by :func:`deliver`).
Outcome = str | Retry | Rejected


class RetryableCallError(TfsoEventsError):
    """Raised by a transport when a whole call failed retryably (5xx, throttled call,
    connection reset): every entry of the call is retried. ``throttled`` when the
    service said "slow down" (429, ``ThrottlingException``)."""

    def __init__(
        self,
        code: str,
        message: str,
        retry_after: float | None = None,
        *,
        throttled: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.throttled = throttled


class AdaptiveRate:
    """A client-side send rate that engages when the service throttles.

    Shared by everything one client sends; counted in entries, which is how PutEvents
    quotas are counted. Until the first throttled answer it costs nothing and limits
    nothing. Sends wait their turn in order, spaced so entries leave at the limit.

    Like botocore's ``adaptive`` retry mode (CUBIC: on a throttle the limit becomes
    ``BETA`` (0.7) of a measured rate, then grows back along a cubic curve that
    flattens out at that rate, lingers near it, then probes beyond), with two
    differences that make the cut converge on a quota:

    * **The measured rate is the accepted one.** botocore cuts from the rate it
      *sent* at, which is above the quota by however much the client overshot, so one
      cut is not enough and it cuts again on every throttled answer. Here the answers
      to the sends made in a window (after the last cut) give the rate at which entries
      were *accepted*, counted from the window's first throttled send (a quota's burst
      is spent by then, so what is accepted from there on comes at the quota's rate,
      whatever the client sent). Under a quota ``Q`` a cut sets the limit to
      ``BETA * Q``: one cut, from any speed, lands under the quota; the cubic then
      climbs back to ``Q`` in ``RECOVER`` (1 s), lingers there, and the next throttle
      cuts again from ``Q``. (A window with nothing accepted says only that a quota is
      below what was sent: it cuts from the sent rate, as botocore does.)
    * **A cut must lower the throttled share.** Under a quota, sending at
      ``BETA`` of the accepted rate is not throttled; a share of entries refused at any
      rate (random throttling) stays the same, and cutting from the accepted rate
      again and again would starve the client. So the window after each cut is
      checked: if the share fell by half, the cut worked (what is still throttled in
      that window is the overshoot before it, and is not cut for again); if instead
      the client sent at least 10% less and the share did not fall, the cut is undone
      and the share is taken as refused at any rate. From then on only a share clearly
      above it cuts: ``RISE`` (5 points) above it, or three standard deviations of the
      window's sample, whichever is more (a small window of retries varies by
      chance). The learned share is forgotten when a window shows one clearly below it.

    A window lasts ``WINDOW`` (0.5 s) and at least ``MIN_SAMPLE`` (50) entries; once it
    has a throttled answer that may cut, it closes ``SHORT`` (0.1 s) of sends after the
    first one, so a quota's overshoot is cut soon. ``RELEASE`` (10 s) after the last
    cut the limit is lifted and everything learned is forgotten.
    """

    BETA = 0.7
    RECOVER = 1.0
    RISE = 0.05
    WINDOW = 0.5
    SHORT = 0.1
    RELEASE = 10.0
    MIN_RATE = 5.0
    MIN_SAMPLE = 50
    SLACK = 0.01

    __slots__ = (
        "_background",
        "_ceiling",
        "_clock",
        "_cut_at",
        "_first",
        "_last",
        "_lock",
        "_next",
        "_probe",
        "_sent",
        "_since",
        "_throttled",
        "_window",
        "cuts",
    )

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ceiling: float | None = None  # the accepted rate of the last cut (CUBIC's W)
        self._cut_at = -math.inf
        self._next = 0.0  # when the next send may leave
        self._lock: asyncio.Lock | None = None  # made on first use, inside the loop
        self._since: float | None = None  # start of the current window (a send time)
        #: The window's answered sends: when sent, entries, throttled, accepted.
        self._window: list[tuple[float, int, int, int]] = []
        self._sent = 0  # entries of the window's answered sends
        self._throttled = 0  # of which throttled
        self._first = math.inf  # when the window's first throttled send was made
        self._last = -math.inf  # when its last answered send was made
        #: The last cut, until the window after it says whether it lowered the share:
        #: the share and sent rate it cut from, and the ceiling and time to go back to.
        self._probe: tuple[float, float, float | None, float] | None = None
        self._background: float | None = None  # a share throttled at any rate
        self.cuts = 0
        """How many times throttling cut the rate (a gauge for tests and logs)."""

    @property
    def rate(self) -> float | None:
        """The current limit in entries per second; ``None`` when not limiting."""
        ceiling = self._ceiling
        if ceiling is None:
            return None
        # CUBIC: BETA * ceiling at the cut, back at the ceiling after RECOVER seconds
        # (quickly at first, then flat around it), then growing faster and faster.
        t = (self._clock() - self._cut_at) / self.RECOVER - 1.0
        return max(self.MIN_RATE, ceiling * (1.0 + (1.0 - self.BETA) * t * t * t))

    async def acquire(self, entries: int, give_up_at: Callable[[], float]) -> bool:
        """Wait until ``entries`` may be sent; ``False`` when ``give_up_at()`` (a
        ``time.monotonic()``, re-read while waiting) passes first."""
        if self._ceiling is None:
            return True
        if self._lock is None:
            self._lock = asyncio.Lock()
        lock = self._lock
        while True:  # FIFO: one waiter at a time spaces the sends
            remaining = give_up_at() - self._clock()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await lock.acquire()
                break
            except TimeoutError:
                continue  # give_up_at() may have moved on: look again
        try:
            while True:
                rate = self.rate  # (re-read: a record() may lift the limit meanwhile)
                if rate is None:
                    return True
                now = self._clock()
                if now >= self._next:
                    # (A send that wakes a little late keeps its place in the schedule:
                    # else each wake-up's lag would be lost and the client would send
                    # under the limit.)
                    self._next = max(self._next, now - self.SLACK) + entries / rate
                    return True
                remaining = give_up_at() - now
                if remaining <= 0:
                    return False
                await asyncio.sleep(min(self._next - now, remaining))
        finally:
            lock.release()

    def record(
        self, sent_at: float, entries: int, throttled: int, accepted: int | None = None
    ) -> None:
        """Learn from the answer to a send of ``entries`` made at ``sent_at``, of which
        ``throttled`` were throttled and ``accepted`` accepted (default: the others)."""
        now = self._clock()
        if self._ceiling is not None and now - self._cut_at >= self.RELEASE:
            self._ceiling = None  # no cut for a while: stop limiting (and learn anew)
            self._background = self._probe = None
        if self._since is None:
            self._since = sent_at
        if sent_at < self._since:
            return  # sent before this window (before a cut): it measures an older rate
        if accepted is None:
            accepted = entries - throttled
        self._window.append((sent_at, entries, throttled, accepted))
        self._sent += entries
        self._throttled += throttled
        if throttled and sent_at < self._first:
            self._first = sent_at
        if sent_at > self._last:
            self._last = sent_at
        if self._sent < self.MIN_SAMPLE:
            return
        if now - self._since < self.WINDOW:
            # Close early only for a throttled share that may cut, once the sends
            # after the first throttled one span SHORT (enough to measure a rate by).
            background = self._background
            if self._last - self._first < self.SHORT or (
                background is not None
                and self._throttled <= _above(background, self._sent, self.RISE) * self._sent
            ):
                return
        self._close(now)

    def _close(self, now: float) -> None:
        """Close the window and act on what it measured."""
        window, since, last, first = self._window, self._since, self._last, self._first
        assert since is not None
        sent, throttled = self._sent, self._throttled
        share = throttled / sent
        self._since, self._window = now, []
        self._sent = self._throttled = 0
        self._first, self._last = math.inf, -math.inf
        # Rates over the sends made from ``since`` up to the last one answered (the last
        # one's own interval is not covered: its entries are left out).
        span = last - since
        tail = [row for row in window if row[0] == last]
        sent_rate = (sent - sum(row[1] for row in tail)) / span if span > 0 else math.inf
        probe, self._probe = self._probe, None
        background = self._background
        if probe is not None:  # the window after a cut: did the cut lower the share?
            probe_share, probe_sent, ceiling, cut_at = probe
            if share < probe_share / 2:
                return  # it did: what is still throttled is the overshoot before the cut
            if sent_rate < 0.9 * probe_sent:
                # Sending less did not lower it: entries refused at any rate. Undo.
                self._background = share
                self._ceiling, self._cut_at = ceiling, cut_at
                return
        if background is not None and share < background - (
            _above(background, sent, self.RISE) - background
        ):
            self._background = background = None  # less is refused now: learn anew
        if not throttled or (
            background is not None and share <= _above(background, sent, self.RISE)
        ):
            return
        # The accepted rate, counted from the first throttled send: a quota's burst is
        # spent by then, so what is accepted from there on comes at the quota's rate.
        if last - first >= self.SHORT / 2:
            accepted = sum(row[3] for row in window if first <= row[0] < last)
            accepted_rate = accepted / (last - first)
        elif span > 0:
            accepted = sum(row[3] for row in window if row[0] < last)
            accepted_rate = accepted / span
        else:
            return  # one instant's sends: no rate to measure
        if not accepted_rate:
            # Nothing accepted says only that the quota, if any, is lower than what was
            # sent: cut from the sent rate, as botocore does.
            accepted_rate = sent_rate
        current = self.rate
        if current is not None:
            accepted_rate = min(accepted_rate, current)
        self._probe = (share, sent_rate, self._ceiling, self._cut_at)
        self._ceiling = max(self.MIN_RATE / self.BETA, accepted_rate)
        self._cut_at = now
        self.cuts += 1


def _above(share: float, sent: int, rise: float) -> float:
    """The least throttled share that is clearly above ``share`` in a window of ``sent``
    entries: ``rise`` above it, or three standard deviations of a share of ``sent``
    draws, whichever is more (a small window of retries varies that much by chance)."""
    return share + max(rise, 3.0 * math.sqrt(share * (1.0 - share) / sent))


SendBatch = Callable[[Sequence[Entry[P]]], Awaitable[Sequence[Outcome]]]


class _Job(Generic[P]):
    """One batch on its way through :func:`deliver`: the entries still to send, the
    last retryable failure they had, and when their backoff ends."""

    __slots__ = ("last", "pending", "wake")

    def __init__(self, pending: list[Entry[P]]) -> None:
        self.pending = pending
        self.last: Retry | None = None
        self.wake = 0.0


async def deliver(
    batches: Iterable[Sequence[Entry[P]]],
    send: SendBatch[P],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    max_concurrency: int = 16,
    semaphore: asyncio.Semaphore | None = None,
    rate: AdaptiveRate | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_result: OnResult | None = None,
    circuit: Circuit | None = None,
    since: float | None = None,
    prepare: Callable[[Sequence[Entry[P]]], Awaitable[None]] | None = None,
) -> dict[int, PublishResult | PublishFailure]:
    """Send every batch, retrying retryable entries, and return each entry's outcome
    keyed by its ``index``.

    A fixed pool of ``max_concurrency`` sender tasks (one, run in the caller's task, for
    a single batch) takes the batches in order from a queue; each sender makes one try
    of a batch at a time. A batch with entries to retry is put aside until its backoff
    ends (its sender takes the next batch meanwhile), then tried again before any batch
    not yet sent. Every try also takes a slot of ``semaphore`` (at most
    ``max_concurrency`` sends at a time by default). A send that raises
    :class:`RetryableCallError` retries the whole batch; one that raises another
    :class:`TfsoEventsError` fails the whole batch for good with that error; anything
    else (a bug) propagates, and so does ``CancelledError`` (cancelling the call cancels
    its senders). Retrying ends as ``policy`` says (its ``deadline`` and
    ``max_attempts``).

    ``semaphore``, ``rate`` and ``circuit``, when given, are the client's own, so that
    every ``deliver()`` it runs shares one concurrency limit (its pool), one adaptive
    send rate and one :class:`~tfso_events.publishing._circuit.Circuit`; without
    ``rate`` (and with ``policy.adaptive``) or ``circuit`` this call makes its own.

    The deadline counts from the client's progress: entries are given up when the
    client (``circuit.last_progress``) has had nothing accepted for ``policy.deadline``
    seconds since ``since`` (when the caller handed the events over; default: now), so
    a batch that waits its turn behind a slow but healthy target is not failed for
    waiting. An entry whose own tries keep failing (not throttled: no answer, 5xx,
    ``InternalFailure``) is given up once it has failed for ``policy.deadline`` seconds,
    however the rest of the client fares. While the target is down, the batches not yet
    taken by a sender wait for it too: each failed probe of the circuit counts as one
    try of theirs as well.

    ``prepare``, when given, runs before each try waits for a slot (the API client
    fetches its token there, so that every waiting send shares one fetch, and its
    failure); a :class:`TfsoEventsError` it raises fails the entries for good.

    ``on_result`` is called with each outcome the moment it is final (an entry accepted,
    refused or given up), once per entry, in the order answers arrive; what it raises
    is logged and does not stop the delivery. Each outcome is built once: the
    transport answers an accepted entry with its event id alone.
    """
    if semaphore is None:
        semaphore = asyncio.Semaphore(max_concurrency)
    if not policy.adaptive:
        rate = None
    elif rate is None:
        rate = AdaptiveRate(clock)
    if circuit is None:
        circuit = Circuit("the target", clock)
    outcomes: dict[int, PublishResult | PublishFailure] = {}
    settle = _settler(outcomes, on_result)
    budget = policy.deadline if policy.deadline is not None else math.inf
    started = clock() if since is None else since
    #: Until the service answers once, ``policy.unanswered_deadline`` may end it sooner.
    unanswered = math.inf if policy.unanswered_deadline is None else policy.unanswered_deadline

    def stall_at() -> float:  # when this call gives up for want of progress
        return min(max(started, circuit.last_progress) + budget, started + unanswered)

    latest: Retry | None = None  # the last retryable failure of any batch of this call

    def stalled(last: Retry | None, entries: Sequence[Entry[P]]) -> tuple[str, str]:
        # Which budget ran out: the one for a service that never answered, if it ends first.
        # An entry never tried itself gets its publish's last failure.
        last = last or latest
        progress = max(started, circuit.last_progress)
        unanswered_first = started + unanswered < progress + budget
        return _stalled(policy, last, entries, unanswered_first, circuit)

    def give_up(entries: Sequence[Entry[P]], code: str, message: str) -> None:
        for entry in entries:
            error = DeliveryError(message, code=code, attempts=entry.attempts, retryable=True)
            settle(PublishFailure(entry.index, entry.event, error, code, entry.attempts))

    def tries_left(entries: Sequence[Entry[P]]) -> int | None:
        if policy.max_attempts is None:
            return None
        return policy.max_attempts - max(entry.attempts for entry in entries)

    async def attempt(
        pending: list[Entry[P]], turn: Turn
    ) -> tuple[Sequence[Outcome], float] | Literal["down", "stalled"]:
        # One try of ``pending``: its answers and when it was sent; or why it did not
        # go: the target went down, or the budget ran out, while it waited its turn.
        # A probe's turn is given back however this ends (a cancellation included).
        told = False  # whether the circuit heard how the send went
        try:
            while True:
                # (A send that passed an unlimited rate and then waited for a slot while
                # the limit engaged waits its turn under the limit: else every batch
                # queued before the first throttled answer would go out at full speed.)
                unlimited = rate is not None and rate.rate is None
                if rate is not None and not await rate.acquire(len(pending), stall_at):
                    return "stalled"
                if prepare is not None:
                    try:
                        await prepare(pending)
                    except TfsoEventsError as exc:  # e.g. no token: nothing to send with
                        for entry in pending:
                            entry.attempts += 1
                        return [Rejected(exc)] * len(pending), clock()
                async with semaphore:
                    if unlimited and rate is not None and rate.rate is not None:
                        continue  # (the slot is given back: wait under the limit, then again)
                    if clock() >= stall_at():
                        return "stalled"
                    if turn is Turn.SEND and not circuit.up:
                        # The target went down while this waited for a slot: wait for it
                        # (or probe) rather than add one more send to the failures.
                        return "down"
                    for entry in pending:
                        entry.attempts += 1
                    sent_at = clock()
                    try:
                        answers = await send(pending)
                    except RetryableCallError as exc:
                        if exc.throttled:  # busy, but there
                            circuit.answered(turn)
                        else:
                            circuit.failed(turn, exc.code, str(exc))
                        told = True
                        retry = Retry(exc.code, exc.message, exc.retry_after, exc.throttled)
                        return [retry] * len(pending), sent_at
                    except TfsoEventsError as exc:
                        return [Rejected(exc)] * len(pending), sent_at
                    circuit.answered(turn)
                    told = True
                    return answers, sent_at
        finally:
            if not told and turn is Turn.PROBE:
                circuit.release(turn)

    async def step(job: _Job[P]) -> bool:
        # One try of ``job`` (after waiting for a down target, if it is): settle what
        # is final; ``True`` when entries are left to retry (``job.pending``, after
        # ``job.wake``).
        nonlocal unanswered, latest
        pending = job.pending
        while True:
            turn = Turn.SEND
            if not circuit.up:  # the target is down: wait for it, or be the probe
                seen = circuit.failed_probes
                admitted = await circuit.admit(len(pending), stall_at, tries_left(pending))
                # Each probe that failed meanwhile was a try on these entries' behalf.
                for entry in pending:
                    entry.attempts += circuit.failed_probes - seen
                if admitted is None:
                    if clock() >= stall_at():
                        give_up(pending, *stalled(job.last, pending))
                    else:
                        give_up(pending, *_down(circuit, job.last, pending))
                    return False
                turn = admitted
            tried = await attempt(pending, turn)
            if tried != "down":
                break
        if tried == "stalled":
            give_up(pending, *stalled(job.last, pending))
            return False
        answers, sent_at = tried
        if len(answers) != len(pending):  # a transport bug must not lose events
            raise RuntimeError(f"transport answered {len(answers)} of {len(pending)}")
        now = clock()
        again: list[tuple[Entry[P], Retry]] = []
        retry_after: float | None = None
        throttled = accepted = 0
        for entry, answer in zip(pending, answers, strict=True):
            if isinstance(answer, str):  # accepted: the answer is its event id
                accepted += 1
                settle(PublishResult(answer, entry.event.detail_type, entry.attempts, entry.index))
            elif isinstance(answer, Retry):
                if answer.throttled:
                    throttled += 1
                elif entry.failing_since is None:
                    entry.failing_since = now
                job.last = latest = answer
                again.append((entry, answer))
                if answer.retry_after is not None:
                    retry_after = max(retry_after or 0.0, answer.retry_after)
            else:
                settle(
                    PublishFailure(
                        entry.index, entry.event, answer.error, answer.code, entry.attempts
                    )
                )
        if accepted:
            circuit.last_progress = now
        if unanswered != math.inf and (
            len(again) < len(answers) or any(answer.code != UNANSWERED for _entry, answer in again)
        ):
            unanswered = math.inf  # it answered: it is there
        if rate is not None:
            rate.record(sent_at, len(pending), throttled, accepted)
        if not again:
            return False
        delay = policy.delay(max(entry.attempts for entry, _ in again), retry_after)
        job.wake = wake = now + delay
        pending = job.pending = []
        for entry, answer in again:
            if not policy.may_retry(entry.attempts):
                why = f"gave up after {_tries(entry.attempts)}: {answer.message}"
                give_up([entry], answer.code, why)
            elif (
                entry.failing_since is not None
                and not answer.throttled
                and wake - entry.failing_since > budget
            ):
                # An entry that fails on its own while others get through
                # (it is not throttled: the target answered, or did not, for it)
                # must not retry for as long as the client lives.
                give_up([entry], *_failing(policy, answer, entry))
            else:
                pending.append(entry)
        if pending and log.isEnabledFor(logging.DEBUG):
            _log_retry(pending, job.last, delay)
        return bool(pending)

    # The queue: batches not yet taken (in order), and those backing off, by when they
    # are next looked at: the end of their backoff, or the deadline as it stands if that
    # comes first (others' progress may move it on meanwhile).
    fresh = collections.deque(_Job(list(batch)) for batch in batches if batch)
    if not fresh:
        return outcomes
    waiting_out: list[tuple[float, int, _Job[P]]] = []
    order = itertools.count()
    busy = 0  # senders trying a batch
    changed: asyncio.Event | None = None  # set (and replaced) when idle senders should look
    probes_before = circuit.failed_probes
    queued = sum(len(job.pending) for job in fresh)
    circuit.queued += queued  # (the circuit's count of events waiting for the target)

    def notify() -> None:
        nonlocal changed
        if changed is not None:
            changed.set()
            changed = None

    def back_off(job: _Job[P]) -> None:
        heapq.heappush(waiting_out, (min(job.wake, stall_at()), next(order), job))
        notify()

    def take(now: float) -> _Job[P] | None:
        # The next job to try now: a retry whose backoff has ended first, then a batch
        # not yet sent; ``None`` when none may go now.
        nonlocal queued
        while waiting_out and waiting_out[0][0] <= now:
            job = heapq.heappop(waiting_out)[2]
            if now >= job.wake:
                return job
            if now >= stall_at():
                give_up(job.pending, *stalled(job.last, job.pending))
            else:  # the deadline moved on: look again at the new one, or at the wake
                back_off(job)
        if not fresh:
            return None
        job = fresh.popleft()
        queued -= len(job.pending)
        circuit.queued -= len(job.pending)
        if not circuit.up and (missed := circuit.failed_probes - probes_before):
            # It waited for the target in the queue: each failed probe was a try of its.
            for entry in job.pending:
                entry.attempts += missed
        return job

    async def sender() -> None:
        nonlocal busy, changed
        while True:
            now = clock()
            job = take(now)
            if job is None:
                if not waiting_out and not busy:
                    notify()  # nothing is left for anyone: the other idle senders end too
                    return
                # Wait for a backoff to end, or for a busy sender to put a job aside.
                if changed is None:
                    changed = asyncio.Event()
                wakeup = changed
                timeout = max(waiting_out[0][0] - now, 0.0) if waiting_out else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await wakeup.wait()
                continue
            busy += 1
            try:
                retry = await step(job)
            finally:
                busy -= 1
            if retry:
                back_off(job)

    senders = min(max_concurrency, len(fresh))
    try:
        if senders == 1:
            # One batch (a single publish()), or one sender: run here, without a task.
            await sender()
        else:
            async with asyncio.TaskGroup() as group:
                for _ in range(senders):
                    group.create_task(sender())
    finally:
        circuit.queued -= queued
    return outcomes


def _settler(
    outcomes: dict[int, PublishResult | PublishFailure], on_result: OnResult | None
) -> Callable[[PublishResult | PublishFailure], None]:
    """Record an entry's final outcome, and tell ``on_result`` (whose errors are
    logged: a caller's bookkeeping must not lose the other entries' outcomes)."""
    if on_result is None:

        def settle(outcome: PublishResult | PublishFailure) -> None:
            outcomes[outcome.index] = outcome

        return settle

    def settle_and_tell(outcome: PublishResult | PublishFailure) -> None:
        outcomes[outcome.index] = outcome
        try:
            on_result(outcome)
        except Exception:
            log.exception("on_result raised for event #%d; delivery goes on", outcome.index)

    return settle_and_tell


def settle_all(
    outcomes: Iterable[PublishResult | PublishFailure], on_result: OnResult | None
) -> dict[int, PublishResult | PublishFailure]:
    """Outcomes decided without :func:`deliver` (a client that could not connect),
    keyed by index, each told to ``on_result`` as :func:`deliver` would."""
    found: dict[int, PublishResult | PublishFailure] = {}
    settle = _settler(found, on_result)
    for outcome in outcomes:
        settle(outcome)
    return found


class InFlight:
    """Counts the publishes in flight on a client, so ``aclose()`` can wait for them."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle: asyncio.Event | None = None  # made on first use, inside the loop

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count the body of the ``async with`` as one publish in flight."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def enter(self) -> None:
        """One more publish in flight (pair with :meth:`leave`, in a ``finally``)."""
        if self._idle is None:
            self._idle = asyncio.Event()
        self._count += 1
        if self._count == 1:
            self._idle.clear()

    def leave(self) -> None:
        """One publish fewer in flight."""
        self._count -= 1
        if not self._count and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no publish is in flight."""
        if self._count and self._idle is not None:
            await self._idle.wait()


def _log_retry(pending: Sequence[Entry[Any]], last: Retry | None, delay: float) -> None:
    """DEBUG: the entries of a send that failed retryably and are sent again."""
    code = last.code if last is not None else None
    log.debug(
        "retrying %d %s in %.2f s after %s (%s: %s)",
        len(pending),
        "entry" if len(pending) == 1 else "entries",
        delay,
        _tries(max(entry.attempts for entry in pending)),
        code,
        clip(last.message) if last is not None else "",  # the service's text: bounded
        extra={
            "retried": len(pending),
            "error_code": code,
            "delay_s": round(delay, 3),
            "indexes": [entry.index for entry in pending],
        },
    )


def _tries(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _stalled(
    policy: RetryPolicy,
    last: Retry | None,
    entries: Sequence[Entry[Any]],
    unanswered: bool,
    circuit: Circuit | None = None,
) -> tuple[str, str]:
    """The code and message of entries given up because the client made no progress
    for ``policy.deadline`` seconds, or (``unanswered``, the service never answered)
    for ``policy.unanswered_deadline`` (some of them perhaps never sent). Entries never
    tried themselves are given the client's last failure (``circuit``'s)."""
    code = "RetryDeadline"
    if last is not None:
        code, why = last.code, f"{last.code}: {last.message}"
    elif circuit is not None and circuit.last_failure:
        code, why = circuit.last_code, f"(of the client's sends) {circuit.last_failure}"
    else:
        why = "none: the service is slow, or busy with the client's other publishes"
    tried = max((entry.attempts for entry in entries), default=0)
    sent = f"after {_tries(tried)}" if tried else "before it was sent"
    if unanswered:
        budget = f"the service did not answer for {policy.unanswered_deadline:g} s"
    else:
        budget = f"the client had no event accepted for {policy.deadline:g} s"
    return code, f"gave up {sent}: {budget} (the retry deadline); last failure {why}"


def _failing(policy: RetryPolicy, last: Retry, entry: Entry[Any]) -> tuple[str, str]:
    """The code and message of an entry given up because its own tries kept failing
    for ``policy.deadline`` seconds while the client made progress."""
    return (
        last.code,
        f"gave up after {_tries(entry.attempts)}: this event kept failing for "
        f"{policy.deadline:g} s (the retry deadline); last failure {last.code}: {last.message}",
    )


def _down(circuit: Circuit, last: Retry | None, entries: Sequence[Entry[Any]]) -> tuple[str, str]:
    """The code and message of entries given up because their tries ran out (by
    ``max_attempts``) while they waited for a target that does not answer."""
    tried = max((entry.attempts for entry in entries), default=0)
    why = circuit.last_failure or (f"{last.code}: {last.message}" if last else "no answer")
    return (
        last.code if last is not None else circuit.last_code or UNANSWERED,
        f"gave up after {_tries(tried)} (max_attempts; each failed probe of "
        f"{circuit.target} while it waited counts as one); last failure {why}",
    )


# -- shaping batches: chunking and coalescing --------------------------------------------


def chunk(entries: Iterable[Entry[P]], *, max_entries: int, max_bytes: int) -> list[list[Entry[P]]]:
    """Split ``entries``, in order, into batches of at most ``max_entries`` entries whose
    sizes sum to at most ``max_bytes``.

    Greedy and order-keeping: a batch is closed when the next entry would not fit. An
    entry larger than ``max_bytes`` on its own is a caller's bug (transports refuse such
    events before, e.g. with :class:`~tfso_events.EventTooLargeError`): ``ValueError``.

    >>> sizes = [60, 50, 10, 90, 5]
    >>> entries = [Entry(i, None, None, size) for i, size in enumerate(sizes)]
    >>> batches = chunk(entries, max_entries=3, max_bytes=100)
    >>> [[e.index for e in b] for b in batches]
    [[0], [1, 2], [3, 4]]
    """
    if max_entries < 1 or max_bytes < 1:
        raise ValueError("max_entries and max_bytes must be at least 1")
    batches: list[list[Entry[P]]] = []
    batch: list[Entry[P]] = []
    total = 0
    for entry in entries:
        size = entry.size
        if size > max_bytes:
            raise ValueError(f"entry #{entry.index} is {size} bytes, over the {max_bytes} limit")
        if batch and (len(batch) >= max_entries or total + size > max_bytes):
            batches.append(batch)
            batch, total = [], 0
        batch.append(entry)
        total += size
    if batch:
        batches.append(batch)
    return batches


_Waiting = tuple[Entry[P], "asyncio.Future[PublishResult | PublishFailure]"]


class Coalescer(Generic[P]):
    """Gathers the entries of concurrent single publishes into shared batches.

    :meth:`submit` queues one entry and waits for its own outcome. Queued entries are
    sent together through :func:`deliver` (so retries, backoff and results are the usual
    ones) as soon as a batch is full (``max_entries`` entries, or the next entry would
    take it over ``max_bytes``), else after ``linger`` seconds; with ``linger=0`` a lone
    entry waits one turn of the event loop, just long enough for the other callers that
    are ready in the same turn to join it. Every batch shares ``semaphore``, so the
    coalescer never has more sends in flight than its owner allows, and its owner's
    ``rate`` and ``circuit``.

    A caller cancelled before its batch leaves is taken out of it; one cancelled after
    leaves the batch going (its entry may still be delivered), unless every caller of
    the batch is cancelled, which stops the batch and its retries. :meth:`drain` sends
    what is queued and waits for every batch in flight.
    """

    def __init__(
        self,
        send: SendBatch[P],
        *,
        max_entries: int,
        max_bytes: int,
        policy: RetryPolicy = DEFAULT_RETRY,
        semaphore: asyncio.Semaphore | None = None,
        linger: float = 0.0,
        rate: AdaptiveRate | None = None,
        circuit: Circuit | None = None,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        if linger < 0:
            raise ValueError("linger must not be negative")
        self._send = send
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._policy = policy
        self._semaphore = semaphore if semaphore is not None else asyncio.Semaphore(16)
        self._linger = linger
        self._rate = rate
        self._circuit = circuit if circuit is not None else Circuit("the target")
        self._queue: list[_Waiting[P]] = []
        self._queued_bytes = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._since = 0.0  # when the first entry of the queued batch was handed over

    @property
    def in_flight(self) -> int:
        """Entries queued or in batches not yet finished (a rough gauge, for logs)."""
        return len(self._queue) + len(self._tasks)

    async def submit(
        self, entry: Entry[P], since: float | None = None
    ) -> PublishResult | PublishFailure:
        """Queue ``entry`` and return its outcome (with ``entry``'s own ``index``);
        ``since``: when the caller handed it over (the retry deadline counts from then
        at the earliest; default now).

        Raises what :func:`deliver` raises for the batch (a transport bug) and
        ``CancelledError`` when the caller or the batch is cancelled.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishResult | PublishFailure] = loop.create_future()
        index, size = entry.index, entry.size
        if self._queue and (
            len(self._queue) >= self._max_entries or self._queued_bytes + size > self._max_bytes
        ):
            self._flush()
        queue = self._queue  # after any flush: a flushed list belongs to its batch
        if not queue:
            self._since = since if since is not None else time.monotonic()
        queue.append((entry, future))
        self._queued_bytes += size
        if len(queue) >= self._max_entries:
            self._flush()
        elif self._timer is None:
            self._timer = (
                loop.call_later(self._linger, self._flush)
                if self._linger > 0
                else loop.call_soon(self._flush)
            )
        outcome = await future
        if outcome.index == index:
            return outcome
        if isinstance(outcome, PublishResult):  # (cheaper than dataclasses.replace)
            return PublishResult(outcome.event_id, outcome.detail_type, outcome.attempts, index)
        return dataclasses.replace(outcome, index=index)

    async def drain(self) -> None:
        """Send what is queued now and wait until every batch has finished."""
        self._flush()
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queue, self._queued_bytes = self._queue, [], 0
        live = [(entry, future) for entry, future in batch if not future.done()]
        if live:
            task = asyncio.get_running_loop().create_task(self._run(live, self._since))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            futures = [future for _entry, future in live]

            def abandoned(_: object) -> None:
                # Nobody waits for this batch any more: stop it rather than retry
                # (and hold aclose() up) for callers that are gone.
                if all(future.cancelled() for future in futures):
                    task.cancel()

            for future in futures:
                future.add_done_callback(abandoned)

    async def _run(self, batch: list[_Waiting[P]], since: float) -> None:
        # Within a batch, entries are keyed by position; submit() restores each index.
        entries = []
        for position, (entry, _future) in enumerate(batch):
            entry.index = position
            entries.append(entry)
        try:
            outcomes = await deliver(
                [entries],
                self._send,
                policy=self._policy,
                semaphore=self._semaphore,
                rate=self._rate,
                circuit=self._circuit,
                since=since,
            )
        except asyncio.CancelledError:
            for _entry, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a transport bug: every caller hears of it
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]  # deliver()'s task group wraps what one batch raised
            for _entry, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for position, (_entry, future) in enumerate(batch):
            if not future.done():
                future.set_result(outcomes[position])
