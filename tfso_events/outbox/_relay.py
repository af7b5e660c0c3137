"""``OutboxRelay``: publish what the outbox holds, as it commits, from any number of
processes on any number of machines.

The loop: claim a batch under a lease (:mod:`._lease`), rebuild its events
(:mod:`._stored`), hand them to the publisher's ``publish_many(on_result=...)`` and
settle each row as its answer arrives (published rows are deleted, passing failures
wait for a later try with backoff, permanent ones become dead letters), while the next
batches are claimed (``concurrency`` batches in flight). Idle, it waits for a
PostgreSQL ``NOTIFY`` from :meth:`Outbox.add <tfso_events.outbox.Outbox.add>` or for
``poll_interval``, whichever comes first (SQLite polls).

Delivery is at least once: a relay killed after ``PutEvents`` accepted a batch and
before its rows were deleted leaves them leased; when the lease expires another relay
(or the same one, restarted) publishes them again. No more than the rows in flight at
the kill are sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import tfso_events.telemetry as telemetry
from tfso_events._clip import clip
from tfso_events.errors import (
    AuthenticationError,
    ConfigurationError,
    EventValidationError,
)
from tfso_events.models._base import TfsoEvent
from tfso_events.outbox._db import dialect_of, listen, relay_engine
from tfso_events.outbox._lease import Claimed, Lease
from tfso_events.outbox._outbox import Outbox
from tfso_events.outbox._stored import rebuild
from tfso_events.publishing._batching import RetryPolicy
from tfso_events.publishing._protocols import Publisher
from tfso_events.results import PublishFailure, PublishResult

__all__ = ["DEFAULT_LEASE", "OutboxRelay", "RelayStats"]

log = logging.getLogger("tfso_events.outbox")

#: Seconds a claimed batch stays leased to its relay: longer than a batch can take
#: (the relay's publish retry deadline is a third of it), short enough that the rows
#: of a relay that died are published again soon.
DEFAULT_LEASE = 60.0
#: The longest a relay lingers after a NOTIFY when other relays keep claiming first.
_MAX_LINGER = 0.1
#: While the publisher keeps failing, a "still failing" line at most this often.
_STILL_FAILING_EVERY = 60.0
#: How often the backlog gauges are read (a query), when a meter provider takes them.
_BACKLOG_EVERY = 15.0

Outcome = PublishResult | PublishFailure
#: Rows of one lease to settle: its token, the ids published, those to try later and
#: those to bury (each with its reason).
_Settlement = tuple[
    str,
    Sequence[int],
    Sequence[tuple["Claimed", str]],
    Sequence[tuple["Claimed", str]],
]


@dataclass(slots=True)
class RelayStats:
    """What a relay did so far: rows ``claimed``, ``published`` (deleted after their
    answer), ``retried`` (pushed to a later try), ``dead`` (moved to the dead letters),
    and ``batches`` claimed."""

    claimed: int = 0
    published: int = 0
    retried: int = 0
    dead: int = 0
    batches: int = 0


class OutboxRelay:
    """Publishes the outbox's rows through ``publisher`` (any
    :class:`~tfso_events.Publisher`: either client, or ``MemoryPublisher``).

    ``db`` is the database URL (``postgresql://...``, ``sqlite:///app.db``) or an
    ``AsyncEngine`` whose URL the relay reuses; the relay opens its own connections.
    ``outbox`` is the application's :class:`Outbox` (its table name matters).
    Options (keyword-only, with their defaults):

    * ``batch_size`` (500) rows per claim, ``concurrency`` (2) batches in flight (the
      next is claimed while the others publish): at most ``batch_size`` x
      ``concurrency`` rows in flight, which bounds what a crash can send twice;
    * ``lease`` (60 s) how long a claimed batch is its own: a relay that dies leaves its
      rows to be reclaimed after that;
    * ``poll_interval`` (1 s) how often an idle relay looks for due rows when no
      ``NOTIFY`` wakes it (``listen=False``: never listen);
    * ``retry`` the publisher's :class:`~tfso_events.RetryPolicy` for each batch
      (default: a deadline of a third of the lease; what is still failing then waits
      in the table for a later try, with backoff up to ``max_backoff`` (60 s));
    * ``max_attempts`` (``None``: no limit) claims of one row before it is a dead letter;
    * ``linger`` (5 ms) how long a relay woken by a NOTIFY waits for more commits to
      claim together (under a stream of small transactions, fewer and fuller claims);
      doubled, up to 100 ms, each time its claim finds that other relays took the rows.

    ::

        async with TfsoEventBridgeClient("prod") as publisher:
            relay = OutboxRelay("postgresql://app@db/app", publisher, outbox=outbox)
            await relay.run(handle_signals=True)     # until SIGTERM or relay.stop()
    """

    def __init__(
        self,
        db: str | URL | AsyncEngine,
        publisher: Publisher,
        *,
        outbox: Outbox | None = None,
        batch_size: int = 500,
        concurrency: int = 2,
        lease: float = DEFAULT_LEASE,
        poll_interval: float = 1.0,
        listen: bool = True,
        retry: RetryPolicy | None = None,
        max_backoff: float = 60.0,
        max_attempts: int | None = None,
        linger: float = 0.005,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ConfigurationError("batch_size and concurrency must be at least 1")
        if not lease > 0 or not poll_interval > 0 or max_backoff < 0:
            raise ConfigurationError("lease and poll_interval must be positive")
        if max_attempts is not None and max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1, or None")
        self._engine = relay_engine(db, pool_size=concurrency + 2)
        self._publisher = publisher
        self.outbox = outbox if outbox is not None else Outbox()
        self._lease_seconds = lease
        self._lease = Lease(self.outbox.table, dialect_of(self._engine.dialect.name))
        self._claim_statement = self._lease.claim()
        self._delete_statement = self._lease.delete()
        # The claim and each flush of settlements are single statements (or, in a
        # flush, statements that stand each on its own, every one naming its rows'
        # tokens), so on PostgreSQL they run in autocommit: one round trip each instead
        # of BEGIN, the statement and COMMIT. SQLite's BEGIN IMMEDIATE stays: it takes
        # the write lock before the claim reads (see _db.relay_engine), and its round
        # trips are a thread hop, not the network.
        self._autocommit = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._lease.dialect == "postgresql"
            else None
        )
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._listen = listen
        self._retry = retry if retry is not None else RetryPolicy(deadline=lease / 3)
        self._max_backoff = max_backoff
        self._max_attempts = max_attempts
        self._linger = linger
        # Grows while this relay's claims after a wake-up come back empty (other relays
        # were quicker), so the relays woken by each commit do not all claim each time.
        self._lingering = linger
        self._woken = False
        self.stats = RelayStats()
        """Counts of what this relay did (:class:`RelayStats`)."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Event | None = None
        self._failing_since: float | None = None
        self._said_failing_at = 0.0
        self._probes = 0
        self._next_probe_at = 0.0
        # While the publisher fails, one row at a time and one try: a probe.
        self._probe_retry = RetryPolicy(max_attempts=1, adaptive=False)
        self._db_failing = False
        self._background: set[asyncio.Future[None]] = set()
        self._backlog_at = 0.0  # when the backlog gauges are read next
        self._to_settle: list[_Settlement] = []
        self._written: asyncio.Future[None] | None = None  # of what _to_settle holds
        self._slot_freed = False
        self._settler: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return (
            f"OutboxRelay({self._engine.url.render_as_string(hide_password=True)!r}, "
            f"table={self.outbox.table.fullname!r})"
        )

    # -- running ---------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> None:
        """Publish until :meth:`stop` (or, with ``handle_signals``, SIGTERM or SIGINT):
        the batches in flight then finish, and nothing new is claimed."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._request_stop)
                handled.append(signum)
        try:
            await self._loop(until_idle=False)
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            await self._engine.dispose()

    async def drain(self) -> int:
        """Publish every row due now and return how many were published (rows that
        failed passingly wait for a later try and are not waited for)."""
        before = self.stats.published
        await self._loop(until_idle=True)
        return self.stats.published - before

    async def stop(self) -> None:
        """Finish the batches in flight, claim nothing more, and return once
        :meth:`run` has returned."""
        self._request_stop()
        running = self._running
        if running is not None:
            await running.wait()

    async def aclose(self) -> None:
        """Release the relay's database connections (:meth:`run` does it on return)."""
        await self._engine.dispose()

    def _request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _loop(self, *, until_idle: bool) -> None:
        self._running = running = asyncio.Event()
        in_flight: set[asyncio.Task[None]] = set()

        failures: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._slot_freed = True  # claim at once: no linger for this wake-up
            self._wake.set()  # a key's next row may be due now; a slot is free
            if not task.cancelled() and (error := task.exception()) is not None:
                failures.append(error)  # a closed publisher or a bug: stop, and say it
                self._request_stop()

        try:
            listening = self._listen and not until_idle
            async with contextlib.AsyncExitStack() as stack:
                if listening:
                    await stack.enter_async_context(
                        listen(self._engine, self.outbox.channel, self._wake.set)
                    )
                while not self._stopping:
                    probing = self._failing_since is not None
                    if len(in_flight) >= (1 if probing else self._concurrency):
                        self._wake.clear()
                        await self._wait(None)
                        continue
                    if probing and (wait := self._next_probe_at - time.monotonic()) > 0:
                        if until_idle:
                            break  # the target is down: nothing more is due now
                        self._wake.clear()
                        await self._wait(wait)
                        continue
                    self._wake.clear()  # before the claim: a NOTIFY during it is kept
                    claim = await self._claim(1 if probing else self._batch_size)
                    if claim is None:  # the database failed: wait a poll and try again
                        await self._wait(self._poll_interval)
                        continue
                    token, claimed = claim
                    await self._report_backlog()
                    if claimed:
                        task = asyncio.create_task(self._publish(token, claimed, probing))
                        in_flight.add(task)
                        task.add_done_callback(finished)
                        if len(claimed) >= self._batch_size and not probing:
                            continue  # more may be due: claim on
                    elif until_idle and not in_flight:
                        break
                    await self._wait(None if until_idle else self._poll_interval)
                if in_flight:
                    await asyncio.gather(*in_flight, return_exceptions=True)
                if self._background:  # (a "due now" after recovery, before disposal)
                    await asyncio.gather(*self._background, return_exceptions=True)
            if failures:
                raise failures[0]
        finally:
            running.set()

    async def _wait(self, seconds: float | None) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return
        slot_freed, self._slot_freed = self._slot_freed, False
        if self._linger and not self._stopping and not slot_freed:
            # Woken by a NOTIFY: let the commits of the next moment join this claim,
            # rather than every relay claim once per commit.
            self._woken = True
            await asyncio.sleep(self._lingering)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a claim or a flush of settlements: autocommit on
        PostgreSQL, an immediate transaction on SQLite."""
        if self._autocommit is not None:
            return self._autocommit.connect()
        return self._engine.begin()

    async def _report_backlog(self) -> None:
        """Set the outbox gauges (:func:`tfso_events.telemetry.record_outbox`) at most
        every ``_BACKLOG_EVERY`` seconds, and only when a meter provider takes them."""
        now = time.monotonic()
        if now < self._backlog_at or not telemetry.metering():
            return
        self._backlog_at = now + _BACKLOG_EVERY
        try:
            async with self._engine.connect() as conn:
                status = await self.outbox.status(conn)
        except (SQLAlchemyError, OSError):
            return  # the claim says when the database fails
        telemetry.record_outbox(status.backlog, status.oldest_age, table=self.outbox.table.name)

    # -- claim -----------------------------------------------------------------------

    async def _claim(self, limit: int) -> tuple[str, list[Claimed]] | None:
        token = uuid.uuid4().hex
        params = {"token": token, "limit": limit}
        params |= self._lease.params(lease=self._lease_seconds)
        try:
            async with self._writing() as conn:
                result = await conn.execute(self._claim_statement, params)
                rows = sorted((Claimed(*row) for row in result.all()), key=lambda row: row.id)
        except (SQLAlchemyError, OSError) as exc:
            self._database_failed(exc)
            return None
        if self._db_failing:
            self._db_failing = False
            log.info("the outbox database answers again")
        if self._woken:  # a claim after a NOTIFY: was this relay too late for it?
            self._woken = False
            self._lingering = min(self._lingering * 2, _MAX_LINGER) if not rows else self._linger
        if not rows:
            return token, []
        self.stats.claimed += len(rows)
        self.stats.batches += 1
        return token, rows

    def _database_failed(self, exc: BaseException) -> None:
        if not self._db_failing:
            self._db_failing = True
            log.warning(
                "the outbox database failed (%s: %s); trying again every %g s",
                type(exc).__name__,
                clip(exc),
                self._poll_interval,
            )

    # -- publish and settle -------------------------------------------------------------

    async def _publish(self, token: str, rows: list[Claimed], probe: bool = False) -> None:
        """Publish one claimed batch, settling each row as its answer arrives, and
        return once the last settlement is written."""
        events: list[TfsoEvent] = []
        sent: list[Claimed] = []
        unreadable: list[tuple[Claimed, str]] = []
        for row in rows:
            try:
                events.append(rebuild(row))
                sent.append(row)
            except ValueError as exc:  # its resources column is not a JSON array
                unreadable.append((row, f"the stored event cannot be read back: {exc}"))
        if unreadable:
            await self._settle(token, (), (), unreadable)
        if not events:
            return
        # Answers are settled from on_result, as they arrive, without a task or a
        # wake-up of this coroutine each: the shared writer takes whatever is queued.
        writes: set[asyncio.Future[None]] = set()
        accepted_any = False
        failed_passing: str | None = None

        def on_result(outcome: Outcome) -> None:
            nonlocal accepted_any, failed_passing
            written, accepted, passing = self._queue(token, sent, (outcome,))
            writes.add(written)
            accepted_any |= accepted
            failed_passing = failed_passing or passing

        try:
            await self._publisher.publish_many(
                events,
                raise_on_error=False,
                on_result=on_result,
                retry=self._probe_retry if probe else self._retry,
            )
        except EventValidationError:
            # This relay's publisher refuses what add() accepted (a smaller size limit,
            # another bus): find which events, one at a time; the rest go as usual.
            await self._one_by_one(token, sent, events)
            return
        except Exception as error:
            # A closed publisher, or a bug: release the rows for another try, then fail.
            await asyncio.gather(*writes)
            await self._settle(
                token, (), [(row, f"{type(error).__name__}: {error}") for row in sent], ()
            )
            raise
        if writes:
            await asyncio.gather(*writes)
        self._health(accepted_any, failed_passing)

    async def _one_by_one(self, token: str, rows: list[Claimed], events: list[TfsoEvent]) -> None:
        for row, event in zip(rows, events, strict=True):
            told: list[Outcome] = []
            try:
                await self._publisher.publish_many(
                    [event], raise_on_error=False, on_result=told.append, retry=self._retry
                )
            except EventValidationError as exc:
                await self._settle(token, (), (), [(row, f"the publisher refuses it: {exc}")])
                continue
            await self._apply(token, [row], told)

    async def _apply(
        self, token: str, rows: Sequence[Claimed], outcomes: Iterable[Outcome]
    ) -> tuple[bool, str | None]:
        """Settle the rows of ``outcomes`` (indexes into ``rows``) and wait until it is
        written; whether any was accepted, and why the first that failed passingly
        failed (``None``: none)."""
        written, accepted, passing = self._queue(token, rows, outcomes)
        await written
        return accepted, passing

    def _queue(
        self, token: str, rows: Sequence[Claimed], outcomes: Iterable[Outcome]
    ) -> tuple[asyncio.Future[None], bool, str | None]:
        """:meth:`_apply` without the wait: the future told once it is written."""
        done: list[int] = []
        later: list[tuple[Claimed, str]] = []
        dead: list[tuple[Claimed, str]] = []
        for outcome in outcomes:
            row = rows[outcome.index]
            if isinstance(outcome, PublishResult):
                done.append(row.id)
            elif _passing(outcome.error):
                if self._max_attempts is not None and row.attempts >= self._max_attempts:
                    dead.append((row, f"gave up after {row.attempts} attempts: {outcome.reason}"))
                else:
                    later.append((row, outcome.reason))
            else:
                dead.append((row, outcome.reason))
        written = self._settle_later(token, done, later, dead)
        return written, bool(done), later[0][1] if later else None

    async def _settle(
        self,
        token: str,
        done: Sequence[int],
        later: Sequence[tuple[Claimed, str]],
        dead: Sequence[tuple[Claimed, str]],
    ) -> None:
        """Settle rows of the lease ``token``; returns once it is written (or the
        database failed, when the rows stay leased: after the lease they are published
        again, the accepted ones a second time: at least once)."""
        await self._settle_later(token, done, later, dead)

    def _settle_later(
        self,
        token: str,
        done: Sequence[int],
        later: Sequence[tuple[Claimed, str]],
        dead: Sequence[tuple[Claimed, str]],
    ) -> asyncio.Future[None]:
        """Queue a settlement for the one writer of every batch in flight; the future
        is told once it is written. What is queued while a flush is being written goes
        into the next one (one future for all of it), so the database sees one flush
        per round trip, however many answers arrive meanwhile."""
        self._to_settle.append((token, done, later, dead))
        written = self._written
        if written is None:
            written = self._written = asyncio.get_running_loop().create_future()
        if self._settler is None or self._settler.done():
            self._settler = asyncio.ensure_future(self._write_settled())
        return written

    async def _write_settled(self) -> None:
        while self._to_settle:
            items, self._to_settle = self._to_settle, []
            written, self._written = self._written, None
            lease = self._lease
            later = [
                {"row": row.id, "token": token, "error": error[:2000]}
                | lease.params(delay=self._backoff(row.attempts))
                for token, _done, rows, _dead in items
                for row, error in rows
            ]
            dead = [
                (
                    {"row": row.id, "token": token, "error": error[:2000]} | lease.params(),
                    row,
                    error,
                )
                for token, _done, _later, rows in items
                for row, error in rows
            ]
            pairs = [(row, token) for token, done, _later, _dead in items for row in done]
            try:
                async with self._writing() as conn:
                    if pairs:
                        await conn.execute(self._delete_statement, lease.delete_params(pairs))
                    if later:
                        await conn.execute(lease.retry_later(), later)
                    if dead:
                        await conn.execute(lease.bury(), [params for params, *_ in dead])
            except (SQLAlchemyError, OSError) as exc:
                self._database_failed(exc)
            else:
                self.stats.published += len(pairs)
                self.stats.retried += len(later)
                self.stats.dead += len(dead)
                if dead:
                    _params, row, reason = dead[0]
                    log.warning(
                        "%d event(s) moved to the outbox's dead letters (first: #%d %s: %s); "
                        "`tfso-events outbox dead` lists them, `outbox redrive` resends them",
                        len(dead),
                        row.id,
                        clip(row.detail_type),
                        clip(reason),
                        extra={"dead": len(dead)},
                    )
            finally:
                if written is not None and not written.done():
                    written.set_result(None)

    def _health(self, accepted_any: bool, failed_passing: str | None) -> None:
        """One log line per change of state (failing, working again), and one "still
        failing" line a minute; while failing, the next probe's time."""
        now = time.monotonic()
        since = self._failing_since
        if accepted_any:
            if since is not None:
                self._failing_since = None
                self._probes = 0
                log.info("publishing from the outbox works again after %.0f s", now - since)
                # What waited for the target goes now rather than at its backoff's end.
                task = asyncio.ensure_future(self._hurry())
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            return
        if not failed_passing:
            return
        self._probes += 1
        self._next_probe_at = now + self._backoff(self._probes)
        if since is None:
            self._failing_since = self._said_failing_at = now
            log.warning(
                "publishing from the outbox fails (%s); the events stay in the outbox, "
                "and one is tried at a time, with backoff up to %g s, until one goes through",
                clip(failed_passing),
                self._max_backoff,
            )
        elif now - self._said_failing_at >= _STILL_FAILING_EVERY:
            self._said_failing_at = now
            log.warning("publishing from the outbox still fails, for %.0f s now", now - since)

    async def _hurry(self) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(self._lease.hurry(), self._lease.params())
        except (SQLAlchemyError, OSError) as exc:
            self._database_failed(exc)
        self._wake.set()

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self._max_backoff, 2.0 ** max(attempts - 1, 0))
        return random.uniform(ceiling / 2, ceiling)


def _passing(error: Exception) -> bool:
    """Whether a failure may pass: the target was away or throttled (the publisher gave
    up under its retry budget), or the credentials or configuration failed (not the
    event's fault: fixed, the same event goes). A refusal of the event is final."""
    if isinstance(error, EventValidationError):
        return False
    if isinstance(error, AuthenticationError | ConfigurationError):
        return True
    return bool(getattr(error, "retryable", False))
