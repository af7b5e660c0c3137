"""The generic batch shapers of the delivery core: ``chunk`` and ``Coalescer``.

They are transport-free, so these tests drive them with a small recording ``send``
coroutine (a real transport function, not a patched method).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tests.eventbridge.conftest import bank_event
from tfso_events import PublishFailure, PublishResult, RetryPolicy
from tfso_events.errors import DeliveryError
from tfso_events.publishing._batching import (
    Coalescer,
    Entry,
    Outcome,
    Rejected,
    Retry,
    chunk,
)

EVENT = bank_event(0)


def entries(*sizes: int) -> list[Entry[str]]:
    """Entries numbered from 0 with the given sizes; the payload names the index."""
    return [Entry(i, EVENT, f"e{i}", size) for i, size in enumerate(sizes)]


class Recorder:
    """A transport: records the payloads of each batch and accepts them, except the
    payloads listed in ``throttle`` (once each) and ``refuse`` (always)."""

    def __init__(self, *, throttle: Sequence[str] = (), refuse: Sequence[str] = ()) -> None:
        self.batches: list[list[str]] = []
        self.throttle = set(throttle)
        self.refuse = set(refuse)

    async def send(self, batch: Sequence[Entry[str]]) -> Sequence[Outcome]:
        await asyncio.sleep(0)
        self.batches.append([e.payload for e in batch])
        answers: list[Outcome] = []
        for entry in batch:
            if entry.payload in self.refuse:
                answers.append(Rejected(DeliveryError("no", code="InvalidArgument"), "Inv"))
            elif entry.payload in self.throttle:
                self.throttle.discard(entry.payload)
                answers.append(Retry("ThrottlingException", "slow down"))
            else:
                answers.append(f"id-{entry.payload}")
        return answers


# -- chunk ------------------------------------------------------------------------------


def test_chunk_by_count_keeps_order() -> None:
    """25 small entries make batches of 10, 10 and 5, in input order."""
    batches = chunk(entries(*[1] * 25), max_entries=10, max_bytes=1000)
    assert [[e.index for e in b] for b in batches] == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]


def test_chunk_by_summed_size() -> None:
    """A batch closes when the next entry would take it over max_bytes; an entry of
    exactly max_bytes fits alone."""
    batches = chunk(entries(60, 50, 10, 90, 5, 100), max_entries=10, max_bytes=100)
    assert [[e.size for e in b] for b in batches] == [[60], [50, 10], [90, 5], [100]]


def test_chunk_refuses_an_entry_over_the_limit() -> None:
    """An entry bigger than max_bytes is a caller's bug: ValueError, not a lost event."""
    with pytest.raises(ValueError, match=r"entry #1 is 101 bytes"):
        chunk(entries(1, 101), max_entries=10, max_bytes=100)


def test_chunk_of_nothing_is_empty() -> None:
    """No entries, no batches."""
    assert chunk([], max_entries=10, max_bytes=100) == []


# -- Coalescer --------------------------------------------------------------------------


async def test_concurrent_submits_share_full_batches() -> None:
    """25 submits in the same loop turn go out as batches of 10, 10 and 5, and each
    caller gets its own outcome with its own index."""
    recorder = Recorder()
    coalescer: Coalescer[str] = Coalescer(recorder.send, max_entries=10, max_bytes=10_000)
    outcomes = await asyncio.gather(*(coalescer.submit(e) for e in entries(*[1] * 25)))
    assert sorted(len(b) for b in recorder.batches) == [5, 10, 10]
    assert all(isinstance(o, PublishResult) for o in outcomes)
    assert [(o.index, o.event_id) for o in outcomes if isinstance(o, PublishResult)] == [
        (i, f"id-e{i}") for i in range(25)
    ]


async def test_size_bound_batches() -> None:
    """Entries of 40 bytes with a 100-byte limit travel two to a batch."""
    recorder = Recorder()
    coalescer: Coalescer[str] = Coalescer(recorder.send, max_entries=10, max_bytes=100)
    await asyncio.gather(*(coalescer.submit(e) for e in entries(*[40] * 6)))
    assert [len(b) for b in recorder.batches] == [2, 2, 2]


async def test_lone_submit_is_not_held_back() -> None:
    """With linger=0 a lone entry leaves after one loop turn: it is answered long
    before any timer could fire, while linger=0.3 holds it for at least that long."""
    loop = asyncio.get_running_loop()
    for linger, low, high in ((0.0, 0.0, 0.25), (0.3, 0.3, 5.0)):
        recorder = Recorder()
        coalescer: Coalescer[str] = Coalescer(
            recorder.send, max_entries=10, max_bytes=100, linger=linger
        )
        started = loop.time()
        await coalescer.submit(entries(1)[0])
        assert low <= loop.time() - started < high
        assert recorder.batches == [["e0"]]


async def test_retries_and_refusals_per_caller() -> None:
    """In a shared batch, a throttled entry is resent alone and still succeeds (2
    attempts); a refused one fails for its caller only."""
    recorder = Recorder(throttle=["e1"], refuse=["e2"])
    coalescer: Coalescer[str] = Coalescer(
        recorder.send,
        max_entries=10,
        max_bytes=100,
        policy=RetryPolicy(base_delay=0.001),
    )
    ok, throttled, refused = await asyncio.gather(*(coalescer.submit(e) for e in entries(1, 1, 1)))
    assert recorder.batches == [["e0", "e1", "e2"], ["e1"]]
    assert isinstance(ok, PublishResult)
    assert ok.attempts == 1
    assert isinstance(throttled, PublishResult)
    assert (throttled.index, throttled.attempts) == (1, 2)
    assert isinstance(refused, PublishFailure)
    assert (refused.index, refused.code) == (2, "Inv")


async def test_drain_sends_the_queue_and_waits() -> None:
    """drain() sends what lingers at once and returns when every batch is done."""
    recorder = Recorder()
    coalescer: Coalescer[str] = Coalescer(recorder.send, max_entries=10, max_bytes=100, linger=60)
    tasks = [asyncio.create_task(coalescer.submit(e)) for e in entries(1, 1, 1)]
    await asyncio.sleep(0)
    assert recorder.batches == []
    await asyncio.wait_for(coalescer.drain(), 5)
    assert recorder.batches == [["e0", "e1", "e2"]]
    assert all(task.done() for task in tasks)


async def test_a_transport_bug_reaches_every_caller() -> None:
    """A send that raises something unexpected fails every caller of that batch with
    it, instead of leaving them waiting."""

    async def broken(batch: Sequence[Entry[str]]) -> Sequence[Outcome]:
        raise RuntimeError("transport bug")

    coalescer: Coalescer[str] = Coalescer(broken, max_entries=10, max_bytes=100)
    results = await asyncio.gather(
        *(coalescer.submit(e) for e in entries(1, 1)), return_exceptions=True
    )
    assert [str(r) for r in results] == ["transport bug", "transport bug"]


async def test_cancelled_submit_is_left_out_of_its_batch() -> None:
    """A caller cancelled before its batch leaves is not sent; the others are."""
    recorder = Recorder()
    coalescer: Coalescer[str] = Coalescer(recorder.send, max_entries=10, max_bytes=100, linger=0.05)
    first, second = entries(1, 1)
    doomed = asyncio.create_task(coalescer.submit(first))
    kept = asyncio.create_task(coalescer.submit(second))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await kept
    assert recorder.batches == [["e1"]]


def test_retry_policy_needs_a_deadline_or_a_count() -> None:
    """RetryPolicy refuses to retry forever (no deadline and no max_attempts) and a
    deadline that is not positive; the default has a 60 s deadline and no count."""
    with pytest.raises(ValueError, match="deadline or max_attempts"):
        RetryPolicy(deadline=None)
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=0)
    default = RetryPolicy()
    assert (default.deadline, default.max_attempts, default.adaptive) == (60.0, None, True)
    assert RetryPolicy(deadline=None, max_attempts=3).may_retry(2)
    assert not RetryPolicy(deadline=None, max_attempts=3).may_retry(3)


# -- the retry deadline against long backoffs (deliver) ----------------------------------


async def test_a_backoff_past_the_deadline_is_kept_while_others_get_through() -> None:
    """An entry whose backoff (a Retry-After of 0.5 s) reaches past the retry deadline
    as it stands when it is throttled (0.3 s) is retried, not given up, because other
    entries of the publish are accepted meanwhile and move the deadline on."""
    from collections import Counter

    from tfso_events.publishing._batching import deliver

    tries: Counter[int] = Counter()

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        (entry,) = batch
        tries[entry.index] += 1
        if entry.index == 0 and tries[0] == 1:
            return [Retry("ThrottlingException", "slow down", retry_after=0.5, throttled=True)]
        await asyncio.sleep(0.1)
        return [f"id-{entry.index}"]

    policy = RetryPolicy(deadline=0.3, adaptive=False)
    outcomes = await deliver(
        [[entry] for entry in entries(*[1] * 9)], send, policy=policy, max_concurrency=2
    )
    assert all(isinstance(outcome, PublishResult) for outcome in outcomes.values()), outcomes
    assert outcomes[0].attempts == 2


async def test_a_backoff_past_the_deadline_ends_at_the_deadline_without_progress() -> None:
    """With nothing else getting through, the same entry is given up once the deadline
    has passed (not before, and without waiting out its whole backoff), as a failure
    naming the deadline and its one attempt."""
    from tfso_events.publishing._batching import deliver

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        return [Retry("ThrottlingException", "slow down", retry_after=30.0, throttled=True)]

    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await deliver([entries(1)], send, policy=RetryPolicy(deadline=0.2, adaptive=False))
    elapsed = loop.time() - started
    (failure,) = outcomes.values()
    assert isinstance(failure, PublishFailure)
    assert failure.attempts == 1
    assert "retry deadline" in failure.reason
    assert 0.2 <= elapsed < 5.0


# -- the pool of senders (deliver) --------------------------------------------------------


async def test_a_fixed_pool_of_senders_takes_the_batches_in_order() -> None:
    """200 batches with max_concurrency=4 run on at most 4 tasks (no task per batch),
    are sent in input order, and every outcome is told once and kept under its index."""
    from tfso_events.publishing._batching import deliver

    before = len(asyncio.all_tasks())
    most = 0
    sent: list[int] = []

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        nonlocal most
        most = max(most, len(asyncio.all_tasks()) - before)
        sent.extend(entry.index for entry in batch)
        await asyncio.sleep(0)
        return [f"id-{entry.index}" for entry in batch]

    told: list[PublishResult | PublishFailure] = []
    outcomes = await deliver(
        [[entry] for entry in entries(*[1] * 200)], send, max_concurrency=4, on_result=told.append
    )
    assert most == 4
    assert sent == list(range(200))
    assert sorted(outcome.index for outcome in told) == list(range(200))
    assert all(outcomes[outcome.index] is outcome for outcome in told)
    ids = [o.event_id if isinstance(o, PublishResult) else None for o in outcomes.values()]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(200))


async def test_a_batch_backing_off_does_not_hold_its_sender() -> None:
    """With one sender, a batch throttled with a Retry-After is put aside: the batches
    after it are sent and answered meanwhile, and it is then resent and accepted."""
    from tfso_events.publishing._batching import deliver

    tries: list[int] = []

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        (entry,) = batch
        tries.append(entry.index)
        if tries == [0]:
            return [Retry("ThrottlingException", "slow down", retry_after=0.2, throttled=True)]
        return [f"id-{entry.index}"]

    told: list[int] = []
    outcomes = await deliver(
        [[entry] for entry in entries(1, 1, 1, 1)],
        send,
        policy=RetryPolicy(adaptive=False),
        max_concurrency=1,
        on_result=lambda outcome: told.append(outcome.index),
    )
    assert tries == [0, 1, 2, 3, 0]
    assert told == [1, 2, 3, 0]
    assert outcomes[0].attempts == 2


async def test_batches_queued_behind_a_down_target_count_its_failed_probes() -> None:
    """While the target is down, batches no sender has taken yet wait for it too: they
    count in the circuit's events waiting, and each failed probe is a try of theirs, so
    with max_attempts=2 all 60 single-event batches of a pool of 2 are given up after
    a few probes, not after two probes per pair of batches."""
    from tfso_events.publishing._batching import RetryableCallError, deliver
    from tfso_events.publishing._circuit import Circuit

    circuit = Circuit("the stub")
    waiting: list[int] = []

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        if not circuit.up:
            waiting.append(circuit.waiting)
        await asyncio.sleep(0)
        raise RetryableCallError("connection_error", "refused")

    policy = RetryPolicy(deadline=None, max_attempts=2, base_delay=0.001, adaptive=False)
    async with asyncio.timeout(30):  # (a hang guard: it takes about a second)
        outcomes = await deliver(
            [[entry] for entry in entries(*[1] * 60)],
            send,
            policy=policy,
            max_concurrency=2,
            circuit=circuit,
        )
    assert len(outcomes) == 60
    codes = {o.code if isinstance(o, PublishFailure) else "accepted" for o in outcomes.values()}
    assert codes == {"connection_error"}
    assert waiting, "no probe was sent"
    assert len(waiting) <= 4
    assert max(waiting) >= 40  # the batches still queued wait for the target too
    assert circuit.waiting == 0


async def test_cancelling_deliver_cancels_its_senders() -> None:
    """A deliver() cancelled while its senders are on the wire raises CancelledError
    and leaves no task behind."""
    from tfso_events.publishing._batching import deliver

    before = asyncio.all_tasks()
    on_the_wire = asyncio.Event()

    async def send(batch: Sequence[Entry[str]]) -> list[Outcome]:
        on_the_wire.set()
        await asyncio.sleep(30)
        return [f"id-{entry.index}" for entry in batch]

    task = asyncio.create_task(
        deliver([[entry] for entry in entries(*[1] * 50)], send, max_concurrency=4)
    )
    await on_the_wire.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() == before
