"""The delivery core shared by both publishers: the retry policy and the retry loop.

A transport (EventBridge ``PutEvents``, the HTTPS events API) only knows how to send one
batch of prepared entries and say, per entry, what happened (:class:`Accepted`,
:class:`Retry` or :class:`Rejected`). Everything else lives here once: chunking runs
concurrently up to a limit, only entries that failed retryably are resent, with
exponential backoff and full jitter (or the server's ``Retry-After``), attempts are
bounded, and every entry ends as a :class:`~tfso_events.results.PublishResult` or a
:class:`~tfso_events.results.PublishFailure`.
Nothing is dropped: an entry is accepted once and never sent again, or it is reported.

Two generic helpers shape the batches a transport sends: :func:`chunk` splits a list of
entries by count and summed size (``publish_many``), and :class:`Coalescer` gathers the
entries of concurrent single publishes into shared batches (``publish()``).

Pure Python, no I/O imports: importing it costs nothing at cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tfso_events.errors import DeliveryError, TfsoEventsError
from tfso_events.models._base import TfsoEvent
from tfso_events.results import BatchResult, PublishFailure, PublishResult

__all__ = [
    "Accepted",
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
]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed send is retried.

    ``max_attempts`` counts every try of one entry, the first included. Delays grow as
    ``base_delay * 2**(n-1)`` capped at ``max_delay`` with full jitter (a uniform draw
    in ``[0, delay]``), except that a server's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds.

    >>> RetryPolicy(max_attempts=1)  # never retry
    RetryPolicy(max_attempts=1, base_delay=0.05, max_delay=2.0, max_retry_after=30.0)
    """

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

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
    ``payload`` (a PutEvents entry, an API body), its wire ``size`` and ``attempts``."""

    index: int
    event: TfsoEvent
    payload: P
    size: int = 0
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Accepted:
    """The entry was accepted under ``event_id``."""

    event_id: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The entry failed in a way worth retrying (throttled, internal failure, 5xx)."""

    code: str
    message: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The entry failed for good: retrying cannot help."""

    error: Exception
    code: str | None = None


Outcome = Accepted | Retry | Rejected


class RetryableCallError(TfsoEventsError):
    """Raised by a transport when a whole call failed retryably (5xx, throttled call,
    connection reset): every entry of the call is retried."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


SendBatch = Callable[[Sequence[Entry[P]]], Awaitable[Sequence[Outcome]]]


async def deliver(
    batches: Iterable[Sequence[Entry[P]]],
    send: SendBatch[P],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    max_concurrency: int = 16,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    semaphore: asyncio.Semaphore | None = None,
) -> dict[int, PublishResult | PublishFailure]:
    """Send every batch, retrying retryable entries, and return each entry's outcome
    keyed by its ``index``.

    Batches run concurrently, at most ``max_concurrency`` sends at a time (a batch does
    not hold its slot while it backs off). A send that raises :class:`RetryableCallError`
    retries the whole batch; one that raises another :class:`TfsoEventsError` fails the
    whole batch for good with that error; anything else (a bug) propagates, and so does
    ``CancelledError``.

    ``semaphore``, when given, replaces the one built from ``max_concurrency``: a client
    passes its own so that every ``deliver()`` it runs shares one limit (its pool).
    """
    if semaphore is None:
        semaphore = asyncio.Semaphore(max_concurrency)
    outcomes: dict[int, PublishResult | PublishFailure] = {}

    async def run(batch: Sequence[Entry[P]]) -> None:
        pending = list(batch)
        while pending:
            for entry in pending:
                entry.attempts += 1
            async with semaphore:
                try:
                    answers: Sequence[Outcome] = await send(pending)
                except RetryableCallError as exc:
                    answers = [Retry(exc.code, exc.message, exc.retry_after)] * len(pending)
                except TfsoEventsError as exc:
                    answers = [Rejected(exc)] * len(pending)
            if len(answers) != len(pending):  # a transport bug must not lose events
                raise RuntimeError(f"transport answered {len(answers)} of {len(pending)}")
            again: list[Entry[P]] = []
            retry_after: float | None = None
            for entry, answer in zip(pending, answers, strict=True):
                if isinstance(answer, Accepted):
                    outcomes[entry.index] = PublishResult(
                        answer.event_id, entry.event.detail_type, entry.attempts, entry.index
                    )
                elif isinstance(answer, Retry) and entry.attempts < policy.max_attempts:
                    again.append(entry)
                    if answer.retry_after is not None:
                        retry_after = max(retry_after or 0.0, answer.retry_after)
                elif isinstance(answer, Retry):
                    error = DeliveryError(
                        f"gave up after {_tries(entry.attempts)}: {answer.message}",
                        code=answer.code,
                        attempts=entry.attempts,
                    )
                    outcomes[entry.index] = PublishFailure(
                        entry.index, entry.event, error, answer.code, entry.attempts
                    )
                else:
                    outcomes[entry.index] = PublishFailure(
                        entry.index, entry.event, answer.error, answer.code, entry.attempts
                    )
            pending = again
            if pending:
                await sleep(policy.delay(max(e.attempts for e in pending), retry_after))

    work = [batch for batch in batches if batch]
    if len(work) == 1:
        # One batch (a single publish()): run it here, without a task group and a task.
        await run(work[0])
        return outcomes
    async with asyncio.TaskGroup() as group:
        for batch in work:
            group.create_task(run(batch))
    return outcomes


class InFlight:
    """Counts the publishes in flight on a client, so ``aclose()`` can wait for them."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle: asyncio.Event | None = None  # made on first use, inside the loop

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count the body of the ``async with`` as one publish in flight."""
        if self._idle is None:
            self._idle = asyncio.Event()
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no publish is in flight."""
        if self._count and self._idle is not None:
            await self._idle.wait()


def _tries(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


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
    coalescer never has more sends in flight than its owner allows.

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
        self._queue: list[_Waiting[P]] = []
        self._queued_bytes = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Entries queued or in batches not yet finished (a rough gauge, for logs)."""
        return len(self._queue) + len(self._tasks)

    async def submit(self, entry: Entry[P]) -> PublishResult | PublishFailure:
        """Queue ``entry`` and return its outcome (with ``entry``'s own ``index``).

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
            task = asyncio.get_running_loop().create_task(self._run(live))
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

    async def _run(self, batch: list[_Waiting[P]]) -> None:
        # Within a batch, entries are keyed by position; submit() restores each index.
        entries = []
        for position, (entry, _future) in enumerate(batch):
            entry.index = position
            entries.append(entry)
        try:
            outcomes = await deliver(
                [entries], self._send, policy=self._policy, semaphore=self._semaphore
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
