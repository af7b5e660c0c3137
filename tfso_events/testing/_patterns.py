"""Asserting that an EventBridge pattern matches an event, and a whole local route:
publisher -> hub -> rule -> your router, in the test process."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

if TYPE_CHECKING:
    from tfso_events.local import LocalHub
    from tfso_events.local._bus import Delivery
    from tfso_events.models._base import TfsoEvent
    from tfso_events.sync import TfsoEventBridgeClient

__all__ = ["LocalRoute", "assert_matches", "assert_not_matches"]

Pattern = Mapping[str, Any] | str | bytes


def assert_matches(pattern: Pattern, event: object) -> None:
    """Fail unless EventBridge would deliver ``event`` to a rule with ``pattern``; the
    failure message is the explanation (the field's path, the value found and the
    pattern it failed)::

        assert_matches(event_pattern(BankTransactionCreatedV1Event), build(...))

    ``event`` is a typed event or an envelope (dict, JSON bytes or text). An invalid
    pattern raises :class:`~tfso_events.InvalidPatternError`.
    """
    from tfso_events.patterns import compile_pattern

    reason = compile_pattern(pattern).explain(event)
    if reason is not None:
        raise AssertionError(f"the event does not match the pattern: {reason}")


def assert_not_matches(pattern: Pattern, event: object) -> None:
    """Fail if EventBridge would deliver ``event`` to a rule with ``pattern``."""
    from tfso_events.patterns import compile_pattern

    compiled = compile_pattern(pattern)
    if compiled.matches(event):
        raise AssertionError(f"the event matches the pattern {compiled.pattern!r}")


class LocalRoute:
    """A local hub with rules to targets in this process, and a publisher pointed at it:
    what the ``tfso_route`` pytest fixture gives. ::

        router = EventRouter()
        ...
        tfso_route.rule(event_pattern(BankTransactionCreatedV1Event), router)
        tfso_route.publish(build(BankTransactionCreatedV1Event))  # through PutEvents
        assert handled == [...]

    :meth:`publish` sends through a real :class:`~tfso_events.sync.TfsoEventBridgeClient`
    (PutEvents over HTTP, to the hub), then waits until the hub has matched the events
    and every delivery has ended; a handler's failure is retried and then kept as a
    dead-letter record (:meth:`deliveries` with ``status="failed"``).
    """

    def __init__(self, hub: LocalHub | None = None) -> None:
        from tfso_events.local import LocalHub

        self._own_hub = hub is None
        self.hub: LocalHub = hub if hub is not None else LocalHub(seed=0, delivery_backoff=0.01)
        """The hub (``with LocalHub()``: its own thread)."""
        self._publisher: TfsoEventBridgeClient | None = None
        self._rules = 0

    def __enter__(self) -> Self:
        if self._own_hub:
            self.hub.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        publisher, self._publisher = self._publisher, None
        try:
            if publisher is not None:
                publisher.close()
        finally:
            if self._own_hub:
                self.hub.__exit__(exc_type, exc, tb)

    def rule(
        self,
        pattern: Mapping[str, Any] | str,
        *targets: Any,
        name: str | None = None,
        input_path: str | None = None,
    ) -> str:
        """Add a rule (on every bus) delivering what ``pattern`` matches to ``targets``:
        an :class:`~tfso_events.consume.EventRouter`, a callable, a URL or an SQS queue
        ARN; returns the rule's ARN. See :meth:`LocalHub.add_rule`."""
        self._rules += 1
        return self.hub.add_rule(
            name or f"rule-{self._rules}", pattern, *targets, input_path=input_path
        )

    @property
    def publisher(self) -> TfsoEventBridgeClient:
        """A blocking EventBridge publisher pointed at the hub (dummy credentials)."""
        if self._publisher is None:
            from tfso_events.sync import TfsoEventBridgeClient

            self._publisher = TfsoEventBridgeClient("local", endpoint_url=self.hub.url)
        return self._publisher

    def publish(self, *events: TfsoEvent) -> list[str]:
        """Publish ``events`` through :attr:`publisher`, wait for their deliveries, and
        return their event ids."""
        ids = [self.publisher.publish(event).event_id for event in events]
        self.drain()
        return ids

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until the hub has matched and delivered everything accepted so far."""
        self.hub.drain_sync(timeout)

    def deliveries(self, *, status: Literal["delivered", "failed"] | None = None) -> list[Delivery]:
        """The hub's deliveries to the rules' targets, oldest first."""
        return self.hub.deliveries(status=status)
