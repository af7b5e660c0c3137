"""``Publisher`` and ``SyncPublisher``: what a service depends on to publish.

A service types its dependency once, as one of these protocols, and is handed the real
client in production and :class:`tfso_events.testing.MemoryPublisher` in its tests::

    from tfso_events import Publisher

    class Orders:
        def __init__(self, publisher: Publisher) -> None:
            self.publisher = publisher

Both async clients (:class:`~tfso_events.TfsoEventBridgeClient`,
:class:`~tfso_events.TfsoEventApiClient`) and the in-memory publisher satisfy
:class:`Publisher`; both blocking facades of :mod:`tfso_events.sync` and the blocking
in-memory publisher satisfy :class:`SyncPublisher`. Pure typing: importing this costs
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from tfso_events.models._base import TfsoEvent
from tfso_events.results import BatchResult, OnResult, PublishResult

if TYPE_CHECKING:
    from tfso_events.publishing._batching import RetryPolicy

__all__ = ["Publisher", "SyncPublisher"]


@runtime_checkable
class Publisher(Protocol):
    """An async publisher: ``await publish(event)``, ``await publish_many(events)`` and
    ``await aclose()``, as both async clients and ``MemoryPublisher`` have them."""

    async def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event; return its result or raise why it failed."""
        ...

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = ...,
        on_result: OnResult | None = ...,
        retry: RetryPolicy | None = ...,
    ) -> BatchResult:
        """Publish many events; one result per event, in input order (``on_result``:
        each outcome as it becomes final; ``retry``: this call's retry policy)."""
        ...

    async def open(self) -> Self:
        """Prepare the transport now (e.g. at a Lambda's init); idempotent."""
        ...

    async def aclose(self) -> None:
        """Flush what is in flight and release connections."""
        ...


@runtime_checkable
class SyncPublisher(Protocol):
    """A blocking publisher: ``publish(event)``, ``publish_many(events)`` and
    ``close()``, as both :mod:`tfso_events.sync` facades and ``SyncMemoryPublisher``
    have them."""

    def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event; return its result or raise why it failed."""
        ...

    def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = ...,
        on_result: OnResult | None = ...,
        retry: RetryPolicy | None = ...,
    ) -> BatchResult:
        """Publish many events; one result per event, in input order (``on_result``:
        each outcome as it becomes final; ``retry``: this call's retry policy)."""
        ...

    def open(self) -> Self:
        """Prepare the transport now (e.g. at a Lambda's init); idempotent."""
        ...

    def close(self) -> None:
        """Flush what is in flight and release connections."""
        ...
