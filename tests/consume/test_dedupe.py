"""Dedupe with the in-memory store: skip what was handled, rerun what raised, expire."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from tests.consume.conftest import envelope, sns_event, sqs_event
from tests.eventbridge.conftest import bank_event
from tfso_events.consume import (
    Claim,
    DedupeKeyHeldError,
    DedupeStore,
    DynamoDBDedupeStore,
    EventRouter,
    MemoryDedupeStore,
)
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event


class Clock:
    """A hand-moved clock for the store's TTLs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _router(fail: set[str]) -> tuple[EventRouter, list[str]]:
    router = EventRouter()
    calls: list[str] = []

    @router.on(BankTestCreatedV1Event)
    def handle(event: BankTestCreatedV1Event) -> None:
        calls.append(event.detail.content.first_name)
        if event.detail.content.first_name in fail:
            raise RuntimeError("fails")

    return router, calls


def test_same_envelope_twice_runs_the_handler_once() -> None:
    """The same envelope (same id) delivered twice, in one batch or two, is handled once."""
    router, calls = _router(set())
    handler = router.handler(dedupe=MemoryDedupeStore())
    doc = json.dumps(envelope(bank_event(1)))
    assert handler(sqs_event(doc, doc), None) == {"batchItemFailures": []}
    handler(json.loads(doc), None)
    assert calls == ["Karl1"]


def test_a_raising_handler_releases_its_key_and_runs_again() -> None:
    """A handler that raised frees its key: the redelivery runs it again, and once it
    succeeded, further copies are skipped."""
    fail = {"Karl1"}
    router, calls = _router(fail)
    handler = router.handler(dedupe=MemoryDedupeStore())
    doc = json.dumps(envelope(bank_event(1)))
    event = sqs_event(doc)
    assert handler(event, None)["batchItemFailures"]  # type: ignore[index]
    fail.clear()
    assert handler(sqs_event(doc), None) == {"batchItemFailures": []}
    handler(sqs_event(doc), None)
    assert calls == ["Karl1", "Karl1"]


def test_business_key_catches_a_producer_resend_the_envelope_id_does_not() -> None:
    """A producer resend has a new envelope id: the default key runs it again, a business
    key skips it."""
    first = envelope(bank_event(1))
    resend = envelope(bank_event(1))
    assert first["id"] != resend["id"]
    for key, expected in ((None, ["Karl1", "Karl1"]), (_name_key, ["Karl1"])):
        router, calls = _router(set())
        handler = router.handler(dedupe=MemoryDedupeStore(), key=key)
        handler(first, None)
        handler(resend, None)
        assert calls == expected


def _name_key(event: BankTestCreatedV1Event) -> str:
    return event.detail.content.first_name


def test_keys_expire_after_the_ttl_and_a_none_key_is_not_deduplicated() -> None:
    """A key is held for ttl seconds after success, then the event runs again; a key
    function returning None handles every copy."""
    clock = Clock()
    router, calls = _router(set())
    store = MemoryDedupeStore(clock=clock)
    handler = router.handler(dedupe=store, ttl=60)
    doc = envelope(bank_event(1))
    handler(doc, None)
    clock.now += 59
    handler(doc, None)
    clock.now += 2
    handler(doc, None)
    assert calls == ["Karl1", "Karl1"]
    none_key = router.handler(dedupe=MemoryDedupeStore(), key=lambda e: None)
    none_key(doc, None)
    none_key(doc, None)
    assert calls == ["Karl1"] * 4


async def test_lease_of_a_crashed_handler_runs_out() -> None:
    """A claimed key that was neither completed nor released (the function died) is held
    until its lease ends, then free."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    assert (await store.claim("k", lease=30)).state == "claimed"
    assert await store.claim("k", lease=30) == Claim("held")
    clock.now += 31
    assert (await store.claim("k", lease=30)).state == "claimed"


async def test_memory_store_forgets_the_oldest_keys_past_max_keys() -> None:
    """At most max_keys keys are kept; the oldest go first."""
    store = MemoryDedupeStore(max_keys=2)
    for key in "abc":
        assert (await store.claim(key, lease=10)).state == "claimed"
    assert len(store) == 2
    assert "a" not in store
    assert "c" in store


async def test_memory_store_three_states_and_tokens() -> None:
    """free → held (a token) → done; only the holding token completes or releases; a
    done key stays done until its ttl ends."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    assert store.state("k") == "free"
    first = await store.claim("k", lease=30)
    assert first.state == "claimed"
    assert first.token
    assert store.state("k") == "held"
    assert not await store.complete("k", "someone-else", ttl=60)
    assert not await store.release("k", "someone-else")
    assert store.state("k") == "held"
    assert await store.complete("k", first.token, ttl=60)
    assert store.state("k") == "done"
    assert await store.claim("k", lease=30) == Claim("done")
    assert not await store.release("k", first.token)  # done is not released
    clock.now += 61
    second = await store.claim("k", lease=30)
    assert second.state == "claimed"
    assert second.token != first.token


async def test_memory_store_a_lapsed_holder_changes_nothing() -> None:
    """A's lease ends, B claims; A's release and complete then change nothing, and B's
    claim still holds (a third claimant is told it is held)."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    a = await store.claim("k", lease=1)
    clock.now += 2
    b = await store.claim("k", lease=30)
    assert b.state == "claimed"
    assert not await store.release("k", a.token)  # type: ignore[arg-type]
    assert not await store.complete("k", a.token, ttl=60)  # type: ignore[arg-type]
    assert await store.claim("k", lease=30) == Claim("held")
    assert await store.complete("k", b.token, ttl=60)  # type: ignore[arg-type]
    assert await store.claim("k", lease=30) == Claim("done")


def test_both_stores_satisfy_the_protocol() -> None:
    """MemoryDedupeStore and DynamoDBDedupeStore are DedupeStores; repr shows no client."""
    assert isinstance(MemoryDedupeStore(), DedupeStore)
    store = DynamoDBDedupeStore("t", namespace="fn-a#")
    assert isinstance(store, DedupeStore)
    assert repr(store) == "DynamoDBDedupeStore(table_name='t', namespace='fn-a#')"


# -- held fails, done skips ----------------------------------------------------------


def _key(doc: dict[str, Any]) -> str:
    return f"bank.test:created@v1#{doc['id']}"


async def test_a_duplicate_of_a_held_key_fails_its_sqs_record() -> None:
    """Two copies of one envelope in one SQS batch, handled at once: the second finds the
    key held and is listed in batchItemFailures (it comes back), never reported handled."""
    router = EventRouter()
    started: list[str] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        started.append(event.detail.content.first_name)
        await asyncio.sleep(0.05)

    doc = json.dumps(envelope(bank_event(1)))
    event = sqs_event(doc, doc)
    answer = await router.handler(dedupe=MemoryDedupeStore()).process(event, None)
    assert started == ["Karl1"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


@pytest.mark.parametrize("via", ["eventbridge", "sns"])
async def test_a_duplicate_of_a_held_key_raises_for_eventbridge_and_sns(via: str) -> None:
    """EventBridge → Lambda and SNS → Lambda: a copy whose key another invocation holds
    raises DedupeKeyHeldError (the platform retries), and the handler does not run; once
    the holder completed, the copy is skipped without error."""
    router, calls = _router(set())
    store = MemoryDedupeStore()
    handler = router.handler(dedupe=store)
    doc = envelope(bank_event(1))
    claim = await store.claim(_key(doc), lease=30)  # another invocation is handling it
    invocation = doc if via == "eventbridge" else sns_event(json.dumps(doc))
    with pytest.raises(DedupeKeyHeldError) as caught:
        await handler.process(invocation, None)
    assert caught.value.key == _key(doc)
    assert calls == []
    assert await store.complete(_key(doc), claim.token, ttl=60)  # type: ignore[arg-type]
    assert await handler.process(invocation, None) is None
    assert calls == []


@pytest.mark.parametrize(
    "raised", [asyncio.CancelledError, KeyboardInterrupt, SystemExit], ids=lambda e: e.__name__
)
async def test_any_base_exception_releases_the_claim_and_propagates(
    raised: type[BaseException],
) -> None:
    """A handler that raises CancelledError, KeyboardInterrupt or SystemExit frees its key
    (the retry runs) and the exception goes on up."""
    router = EventRouter()
    store = MemoryDedupeStore()
    calls: list[str] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        calls.append(event.detail.content.first_name)
        if len(calls) == 1:
            raise raised()

    handler = router.handler(dedupe=store)
    doc = envelope(bank_event(1))
    with pytest.raises(raised):
        await handler.process(doc, None)
    assert store.state(_key(doc)) == "free"
    await handler.process(doc, None)
    assert calls == ["Karl1", "Karl1"]
    assert store.state(_key(doc)) == "done"


def test_keyboard_interrupt_in_a_sync_handler_releases_the_claim() -> None:
    """Sync handler, memory store (no event loop): KeyboardInterrupt frees the key too."""
    router = EventRouter()
    store = MemoryDedupeStore()

    @router.on(BankTestCreatedV1Event)
    def handle(event: BankTestCreatedV1Event) -> None:
        raise KeyboardInterrupt

    doc = envelope(bank_event(1))
    with pytest.raises(KeyboardInterrupt):
        router.handler(dedupe=store)(doc, None)
    assert store.state(_key(doc)) == "free"


async def test_a_lapsed_holder_that_fails_does_not_free_the_new_holders_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A outlives its lease, B claims the key; A's failure then releases nothing, so a
    third copy is told it is held (not run alongside B); A's success would not mark it done."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    router = EventRouter()
    doc = envelope(bank_event(1))
    b_claim: list[Any] = []

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        clock.now += 31  # A runs past its 30 s lease ...
        b_claim.append(await store.claim(_key(doc), lease=30))  # ... and B claims the key
        raise RuntimeError("A fails late")

    handler = router.handler(dedupe=store, lease=30)
    with pytest.raises(RuntimeError, match="A fails late"):
        await handler.process(doc, None)
    assert b_claim[0].state == "claimed"
    assert store.state(_key(doc)) == "held"  # still B's
    with pytest.raises(DedupeKeyHeldError):
        await handler.process(doc, None)


async def test_a_lapsed_holder_that_succeeds_warns_and_leaves_the_new_claim(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A succeeds after its lease ended and B claimed: complete() changes nothing (B's
    claim stands) and a warning says the lease was too short."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    router = EventRouter()
    doc = envelope(bank_event(1))

    @router.on(BankTestCreatedV1Event)
    async def handle(event: BankTestCreatedV1Event) -> None:
        clock.now += 31
        assert (await store.claim(_key(doc), lease=30)).state == "claimed"

    with caplog.at_level(logging.WARNING, logger="tfso_events.consume"):
        await router.handler(dedupe=store, lease=30).process(doc, None)
    assert store.state(_key(doc)) == "held"
    assert "lapsed" in caplog.text


async def test_a_store_of_the_old_protocol_fails_the_record_with_a_clear_error() -> None:
    """A store whose claim() answers a bool (the protocol before three states) fails the
    record with a TypeError naming Claim, never skips or acknowledges it."""

    class OldStore:
        async def claim(self, key: str, *, lease: float) -> bool:
            return False

        async def complete(self, key: str, token: str, *, ttl: float) -> bool:
            return True

        async def release(self, key: str, token: str) -> bool:
            return True

    router, calls = _router(set())
    with pytest.raises(TypeError, match="not a Claim"):
        await router.handler(dedupe=OldStore()).process(envelope(bank_event(1)), None)
    assert calls == []


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_contradicting_lease_and_timeouts_are_warned_about_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """lease > visibility timeout warns when the handler is built; a lease or visibility
    timeout shorter than the function's time (first invocation) warns once."""
    router, _ = _router(set())
    with caplog.at_level(logging.WARNING, logger="tfso_events.consume"):
        handler = router.handler(dedupe=MemoryDedupeStore(), lease=120, visibility_timeout=60)
    assert "longer than the SQS visibility timeout" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tfso_events.consume"):
        handler(envelope(bank_event(1)), _Context(300_000))
        handler(envelope(bank_event(2)), _Context(300_000))
    assert caplog.text.count("lease (120 s) is shorter than the function may run") == 1
    assert caplog.text.count("visibility timeout (60 s) is shorter") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tfso_events.consume"):
        fine = router.handler(dedupe=MemoryDedupeStore(), visibility_timeout=1800)
        fine(envelope(bank_event(3)), _Context(300_000))
    assert caplog.text == ""
