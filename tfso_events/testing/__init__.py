"""Testing a service that publishes or consumes TFSO events.

Nothing here is imported by ``import tfso_events``. What there is:

* :class:`MemoryPublisher` / :class:`SyncMemoryPublisher` — publishers that validate
  exactly as the real clients do and record what they accept, with failure injection
  (:meth:`~MemoryPublisher.throttle`, :meth:`~MemoryPublisher.refuse`,
  :meth:`~MemoryPublisher.misconfigure`) and :meth:`~MemoryPublisher.assert_published`;
* :func:`build` — a valid event from its example, with overrides by attribute path;
* :func:`event_strategy` — hypothesis strategies of valid events (needs
  ``hypothesis``, imported only when you call it; ``events`` is its deprecated name);
* :func:`lambda_sqs_event`, :func:`lambda_eventbridge_event`, :func:`lambda_sns_event`
  — the payloads Lambda hands a consumer;
* :func:`assert_matches` / :func:`assert_not_matches` — does an EventBridge pattern
  match an event (the failure message says why not); :class:`LocalRoute` — publisher
  -> local hub -> rule -> your router in one test;
* a pytest plugin (loaded automatically once tfso-events is installed, inert until you
  use its fixtures): ``tfso_hub``, ``tfso_session_hub``, ``tfso_env``, ``tfso_route``,
  ``memory_publisher`` and ``sync_memory_publisher``.

See ``docs/testing.md``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, TypeVar

from tfso_events.testing._factories import build, example
from tfso_events.testing._lambda import (
    lambda_eventbridge_event,
    lambda_sns_event,
    lambda_sqs_event,
)
from tfso_events.testing._memory import MemoryPublisher, PublishedEvent, SyncMemoryPublisher
from tfso_events.testing._patterns import LocalRoute, assert_matches, assert_not_matches

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from tfso_events.models._base import TfsoEvent

    E = TypeVar("E", bound=TfsoEvent)

__all__ = [
    "LocalRoute",
    "MemoryPublisher",
    "PublishedEvent",
    "SyncMemoryPublisher",
    "assert_matches",
    "assert_not_matches",
    "build",
    "event_strategy",
    "events",
    "example",
    "lambda_eventbridge_event",
    "lambda_sns_event",
    "lambda_sqs_event",
]


def event_strategy(cls: type[E]) -> SearchStrategy[E]:
    """A hypothesis strategy of valid ``cls`` events (enums, decimals, aware date-times,
    optional fields present and absent); see :mod:`tfso_events.testing._strategies`.

    Imports hypothesis on first call: install it where you run property tests.
    """
    try:
        from tfso_events.testing._strategies import event_strategy as strategy
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised without hypothesis
        if exc.name != "hypothesis":
            raise
        raise ModuleNotFoundError(
            "tfso_events.testing.event_strategy() needs hypothesis: pip install hypothesis",
            name="hypothesis",
        ) from None
    return strategy(cls)


def events(cls: type[E]) -> SearchStrategy[E]:
    """Deprecated alias of :func:`event_strategy` (the name was too close to
    ``tfso_events.events``, the catalog); removed in the next release."""
    warnings.warn(
        "tfso_events.testing.events() is deprecated; use tfso_events.testing.event_strategy()",
        DeprecationWarning,
        stacklevel=2,
    )
    return event_strategy(cls)
