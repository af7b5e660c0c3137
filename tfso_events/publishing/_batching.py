"""The delivery core shared by both publishers: results, retry policy and the retry loop.

A transport (EventBridge ``PutEvents``, the HTTPS events API) only knows how to send one
batch of prepared entries and say, per entry, what happened (:class:`Accepted`,
:class:`Retry` or :class:`Rejected`). Everything else lives here once: chunking runs
concurrently up to a limit, only entries that failed retryably are resent, with
exponential backoff and full jitter (or the server's ``Retry-After``), attempts are
bounded, and every entry ends as a :class:`PublishResult` or a :class:`PublishFailure`.
Nothing is dropped: an entry is accepted once and never sent again, or it is reported.

Pure Python, no I/O imports: importing it costs nothing at cold start.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tfso_events.errors import DeliveryError, PublishError, TfsoEventsError
from tfso_events.models._base import TfsoEvent

__all__ = [
    "Accepted",
    "BatchResult",
    "Entry",
    "Outcome",
    "PublishFailure",
    "PublishResult",
    "Rejected",
    "Retry",
    "RetryPolicy",
    "RetryableCallError",
    "deliver",
]

P = TypeVar("P")


# -- results (public) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishResult:
    """An event the hub accepted: its ``event_id``, ``detail_type`` and how many
    ``attempts`` it took (1 when the first send succeeded)."""

    event_id: str
    detail_type: str
    attempts: int = 1
    index: int = 0

    @property
    def ok(self) -> bool:
        """Always ``True``: this event was delivered."""
        return True


@dataclass(frozen=True, slots=True)
class PublishFailure:
    """An event that failed for good.

    ``index`` is its position in the input, ``event`` the event itself (ready to resend),
    ``error`` the exception that explains why, ``code`` the transport's error code
    (``ThrottlingException``, ``MalformedDetail``, ``http_503``, ...) when there is one.
    """

    index: int
    event: TfsoEvent
    error: Exception
    code: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """Always ``False``: this event was not delivered."""
        return False

    @property
    def reason(self) -> str:
        """A one-line explanation: the code (if any) and the error message."""
        return f"{self.code}: {self.error}" if self.code else str(self.error)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of ``publish_many``: one entry per input event, in input order.

    ``results[i]`` is a :class:`PublishResult` or a :class:`PublishFailure`; ``failed``
    lists only the failures; ``ok`` is ``True`` when every event was delivered.
    """

    results: tuple[PublishResult | PublishFailure, ...]
    failed: tuple[PublishFailure, ...] = field(default=())

    @classmethod
    def of(cls, results: Iterable[PublishResult | PublishFailure]) -> BatchResult:
        """Build from per-event outcomes in input order."""
        items = tuple(results)
        return cls(items, tuple(r for r in items if isinstance(r, PublishFailure)))

    @property
    def ok(self) -> bool:
        """``True`` when no event failed."""
        return not self.failed

    @property
    def succeeded(self) -> tuple[PublishResult, ...]:
        """The delivered events' results, in input order."""
        return tuple(r for r in self.results if isinstance(r, PublishResult))

    @property
    def event_ids(self) -> list[str | None]:
        """Per input event, its id, or ``None`` where it failed."""
        return [r.event_id if isinstance(r, PublishResult) else None for r in self.results]

    def __len__(self) -> int:
        return len(self.results)

    def raise_on_failure(self) -> BatchResult:
        """Raise :class:`~tfso_events.PublishError` carrying this result if any failed."""
        if self.failed:
            first = self.failed[0]
            raise PublishError(
                f"{len(self.failed)} of {len(self.results)} events failed "
                f"(first: #{first.index} {first.event.detail_type}: {first.reason})",
                self,
            )
        return self


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
) -> dict[int, PublishResult | PublishFailure]:
    """Send every batch, retrying retryable entries, and return each entry's outcome
    keyed by its ``index``.

    Batches run concurrently, at most ``max_concurrency`` sends at a time (a batch does
    not hold its slot while it backs off). A send that raises :class:`RetryableCallError`
    retries the whole batch; one that raises another :class:`TfsoEventsError` fails the
    whole batch for good with that error; anything else (a bug) propagates, and so does
    ``CancelledError``.
    """
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
                        f"gave up after {entry.attempts} attempts: {answer.message}",
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

    async with asyncio.TaskGroup() as group:
        for batch in batches:
            if batch:
                group.create_task(run(batch))
    return outcomes
