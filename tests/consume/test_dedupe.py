"""Dedupe with the in-memory store: skip what was handled, rerun what raised, expire."""

from __future__ import annotations

import json

from tests.consume.conftest import envelope, sqs_event
from tests.eventbridge.conftest import bank_event
from tfso_events.consume import DedupeStore, DynamoDBDedupeStore, EventRouter, MemoryDedupeStore
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
    """A claimed key that was neither completed nor released (the function died) is free
    again when its lease ends."""
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    assert await store.claim("k", lease=30)
    assert not await store.claim("k", lease=30)
    clock.now += 31
    assert await store.claim("k", lease=30)


async def test_memory_store_forgets_the_oldest_keys_past_max_keys() -> None:
    """At most max_keys keys are kept; the oldest go first."""
    store = MemoryDedupeStore(max_keys=2)
    for key in "abc":
        assert await store.claim(key, lease=10)
    assert len(store) == 2
    assert "a" not in store
    assert "c" in store


def test_both_stores_satisfy_the_protocol() -> None:
    """MemoryDedupeStore and DynamoDBDedupeStore are DedupeStores; repr shows no client."""
    assert isinstance(MemoryDedupeStore(), DedupeStore)
    store = DynamoDBDedupeStore("t", namespace="fn-a#")
    assert isinstance(store, DedupeStore)
    assert repr(store) == "DynamoDBDedupeStore(table_name='t', namespace='fn-a#')"
