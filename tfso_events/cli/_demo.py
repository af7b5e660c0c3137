"""``tfso-events demo``: the whole package working, in one process, on loopback only.

A :class:`~tfso_events.local.LocalHub` starts on this event loop; the seed's sample
events go through ``TfsoEventApiClient`` (an Auth0 token, then ``POST /events``),
``TfsoEventBridgeClient`` (``PutEvents``) and the blocking facade of each
(``tfso_events.sync``); with the ``[outbox]`` extra installed, they are also written as
orders' events to a transactional outbox in a SQLite file (each order and its event in
one transaction) and delivered by an ``OutboxRelay``; then what the hub received is
parsed back into typed events and checked against what the publishers reported.

Every address and credential is passed explicitly, so the user's ``AWS_*`` and
``TFSO_EVENTS_*`` variables change nothing. The blocking facade runs in a worker thread
(``asyncio.to_thread``): it blocks while its own loop publishes, and the hub on this
loop must keep answering meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfso_events.catalog import validate_body
from tfso_events.cli._app import command
from tfso_events.cli._console import counted, print_table
from tfso_events.errors import TfsoEventsError
from tfso_events.models._base import TfsoEvent
from tfso_events.results import BatchResult, PublishFailure, PublishResult

if TYPE_CHECKING:
    from tfso_events.local import LocalHub, ReceivedEvent

__all__ = ["demo"]


@dataclass(frozen=True, slots=True)
class _Step:
    """One way of publishing: what it is, which door of the hub it uses, and what the
    publisher reported for each sample event."""

    label: str
    via: str
    results: tuple[PublishResult | PublishFailure, ...] = ()
    error: str | None = None


@command(
    "demo",
    help="publish the sample events to an embedded local hub through every publisher",
)
def demo(args: argparse.Namespace) -> int:
    """Start a local hub in this process and publish the seed's sample events through
    TfsoEventApiClient (Auth0 token + POST /events), TfsoEventBridgeClient (PutEvents)
    and the blocking facade of both (tfso_events.sync); then show what the hub received,
    parsed back into typed events.

    Needs no credentials and no network beyond 127.0.0.1, and ignores AWS_* and
    TFSO_EVENTS_* variables. Exit status 0 only when every event arrived.
    """
    return asyncio.run(_demo())


async def _demo() -> int:
    from tfso_events.examples import sample_events
    from tfso_events.local import LocalHub

    events = sample_events()
    started = time.monotonic()
    async with LocalHub() as hub:
        print(f"demo: a local hub is listening on {hub.url} (Auth0, events API, EventBridge)")
        ways = "five" if _has_outbox() else "four"
        print(f"demo: publishing the {len(events)} sample events {ways} ways")
        steps = [
            await _step("TfsoEventApiClient.publish_many (async)", "api", _api_async(hub, events)),
            await _step(
                "TfsoEventBridgeClient.publish_many (async)",
                "eventbridge",
                _eventbridge_async(hub, events),
            ),
        ]
        # The facade blocks its caller: run it on a worker thread so this loop (and the
        # hub on it) keeps serving.
        for label, via, publish in (
            ("tfso_events.sync.TfsoEventApiClient.publish (blocking)", "api", _api_sync),
            (
                "tfso_events.sync.TfsoEventBridgeClient.publish_many (blocking)",
                "eventbridge",
                _eventbridge_sync,
            ),
        ):
            steps.append(await _step(label, via, asyncio.to_thread(publish, hub.url, events)))
        if _has_outbox():
            label = "orders + events in one SQLite transaction, then OutboxRelay"
            steps.append(await _step(label, "eventbridge", _outbox(hub, events)))
        else:
            print("  (the outbox step needs `pip install 'tfso-events[outbox]'`: skipped)")
        received = hub.received()
        tokens = hub.token_requests
    elapsed = time.monotonic() - started
    return _report(events, steps, received, tokens, elapsed)


async def _step(label: str, via: str, publishing: Any) -> _Step:
    try:
        results: Sequence[PublishResult | PublishFailure] = await publishing
    except TfsoEventsError as exc:
        print(f"  {label}: FAILED: {exc}")
        return _Step(label, via, error=str(exc))
    accepted = sum(isinstance(r, PublishResult) for r in results)
    print(f"  {label:<63} {accepted}/{len(results)} accepted via {via}")
    return _Step(label, via, tuple(results))


# -- the four publishers ---------------------------------------------------------------------


def _api_options(url: str) -> dict[str, Any]:
    from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    return {
        "environment": "local",
        "auth0_application_id": DEFAULT_CLIENT_ID,
        "auth0_secret_id": DEFAULT_CLIENT_SECRET,
        "api_url": url,
        "auth0_domain": url,
    }


def _eventbridge_options(url: str) -> dict[str, Any]:
    # local: dummy credentials and a fixed region (the hub accepts any), so nothing from
    # the shell's AWS configuration is used, or sent anywhere.
    return {"bus_environment": "local", "endpoint_url": url}


async def _api_async(hub: LocalHub, events: list[TfsoEvent]) -> tuple[Any, ...]:
    from tfso_events.publishing.api import TfsoEventApiClient

    async with TfsoEventApiClient(**_api_options(hub.url)) as client:
        return (await client.publish_many(events, raise_on_error=False)).results


async def _eventbridge_async(hub: LocalHub, events: list[TfsoEvent]) -> tuple[Any, ...]:
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

    async with TfsoEventBridgeClient(**_eventbridge_options(hub.url)) as client:
        return (await client.publish_many(events, raise_on_error=False)).results


def _api_sync(url: str, events: list[TfsoEvent]) -> list[PublishResult | PublishFailure]:
    from tfso_events.sync import TfsoEventApiClient

    with TfsoEventApiClient(**_api_options(url)) as client:
        return [_one(client.publish, index, event) for index, event in enumerate(events)]


def _eventbridge_sync(url: str, events: list[TfsoEvent]) -> tuple[Any, ...]:
    from tfso_events.sync import TfsoEventBridgeClient

    with TfsoEventBridgeClient(**_eventbridge_options(url)) as client:
        batch: BatchResult = client.publish_many(events, raise_on_error=False)
        return batch.results


def _has_outbox() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("sqlalchemy", "aiosqlite"))


async def _outbox(hub: LocalHub, events: list[TfsoEvent]) -> tuple[Any, ...]:
    """A service's way: orders and their events through the outbox, then a relay
    (tfso_events/cli/_outbox.py, where the outbox's database code lives)."""
    from tfso_events.cli._outbox import demo_orders
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

    async with TfsoEventBridgeClient(**_eventbridge_options(hub.url)) as client:
        told, committed, left = await demo_orders(client, events)
    print(f"  (outbox: {committed} orders committed, {left} events left in the outbox)")
    return told


def _one(
    publish: Callable[[TfsoEvent], PublishResult], index: int, event: TfsoEvent
) -> PublishResult | PublishFailure:
    """One blocking publish, its error kept as a failure like publish_many keeps it."""
    try:
        return publish(event)
    except TfsoEventsError as exc:
        return PublishFailure(index, event, exc, getattr(exc, "code", None), 1)


# -- what arrived ------------------------------------------------------------------------


def _report(
    events: list[TfsoEvent],
    steps: list[_Step],
    received: list[ReceivedEvent],
    tokens: int,
    elapsed: float,
) -> int:
    rows: list[list[str]] = []
    parsed: Counter[tuple[str, str]] = Counter()
    problems: list[str] = []
    for record in received:
        try:
            event = validate_body(record.source, record.detail_type, record.detail)
        except TfsoEventsError as exc:
            problems.append(f"event {record.event_id} ({record.via}) does not parse: {exc}")
            name = "INVALID"
        else:
            name = type(event).__name__
            parsed[(record.via, record.detail_type)] += 1
        rows.append([str(len(rows) + 1), record.via, record.detail_type, name, record.event_id])
    print()
    print_table(
        ["#", "via", "detail-type", "parsed as", "event id"],
        rows,
        title=f"What the hub received ({counted(len(received), 'event')}):",
    )
    print()

    # What the publishers say they delivered must be exactly what the hub holds.
    expected: Counter[tuple[str, str]] = Counter()
    arrived_ids = {(r.via, r.event_id) for r in received}
    for step in steps:
        if step.error is not None:
            problems.append(f"{step.label} failed: {step.error}")
            continue
        for event in events:
            expected[(step.via, event.detail_type)] += 1
        for result in step.results:
            if isinstance(result, PublishFailure):
                problems.append(f"{step.label}: {result.event.detail_type}: {result.reason}")
            elif (step.via, result.event_id) not in arrived_ids:
                problems.append(f"{step.label}: event {result.event_id} is not at the hub")
    if parsed != expected:
        for key in sorted(set(expected) | set(parsed)):
            if parsed[key] != expected[key]:
                via, detail_type = key
                problems.append(
                    f"{detail_type} via {via}: {expected[key]} sent, {parsed[key]} arrived"
                )
    by_via = Counter(r.via for r in received)
    vias = ", ".join(f"{via} {count}" for via, count in sorted(by_via.items()))
    sent = sum(expected.values())
    detail_types = len({detail_type for _, detail_type in parsed})
    if problems:
        for problem in problems:
            print(f"demo: PROBLEM: {problem}")
        arrived = counted(len(received), "event")
        print(f"demo: FAILED: {arrived} arrived of {sent} expected ({vias})")
        return 1
    print(
        f"demo: OK: {len(received)} of {sent} events arrived ({vias}), each parsed back into "
        f"its typed event ({detail_types} detail-types); {tokens} Auth0 tokens for "
        f"{sum(s.via == 'api' for s in steps)} API clients; {elapsed:.1f} s"
    )
    return 0
